//! exfee input and output, at the edge of the engine: reading nightly drops
//! and factor tables into the model, writing results atomically.

// No panic on any input (docs/reliability.md, "Panics and overflow"): no
// `unwrap`, `expect` or `panic!` in production code, and no unchecked
// `Decimal` arithmetic (it panics on overflow); clippy.toml lets primitive
// arithmetic through. The lib is checked without cfg(test); its unit tests
// (cfg(test)) may unwrap and compute freely.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

mod bounded;
mod chunked;
mod csvin;
mod drop;
mod drop_writer;
mod error;
mod fields;
mod flex;
mod outdir;
mod output;
mod scenario_spec;
mod tables;

pub use bounded::{
    MAX_CONFIG_BYTES, MAX_TABLE_BYTES, read_bounded, read_bounded_from, read_bounded_text,
};
pub use csvin::{MAX_FIELD_BYTES, MAX_FIELDS_PER_ROW};
pub use drop::{
    DropPaths, MAX_POSITIONS_PER_ACCOUNT, POSITION_LINE_BREAKS, read_drop, read_drop_with,
    read_market, read_position,
};
pub use drop_writer::write_drop;
pub use error::IoError;
pub use fields::{Fields, oversize_reason};
pub use flex::{
    BrokerNav, FlexAccount, FlexRead, NavCheck, NavTolerance, RECONCILIATION_HEADER, read_flex,
    read_flex_from, read_flex_report, read_flex_report_from, reconcile_nav, write_reconciliation,
};
pub use outdir::{CURRENT, PUBLISHED, RUNS_DIR, StagedOutputs};
pub use output::{
    join_errors, neutralise, neutralise_csv, scenario_label, write_atomically, write_csv,
};
pub use scenario_spec::{parse_scenario_spec, read_scenario_spec};
pub use tables::{parse_factor_table, parse_fx_table};
