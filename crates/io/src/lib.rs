//! exfee input and output, at the edge of the engine: reading nightly drops
//! and factor tables into the model, writing results atomically.

mod csvin;
mod drop;
mod drop_writer;
mod error;
mod flex;
mod outdir;
mod output;
mod scenario_spec;
mod tables;

pub use csvin::{MAX_FIELD_BYTES, MAX_FIELDS_PER_ROW};
pub use drop::{DropPaths, MAX_POSITIONS_PER_ACCOUNT, read_drop, read_drop_with, read_market};
pub use drop_writer::write_drop;
pub use error::IoError;
pub use flex::{read_flex, read_flex_dated, read_flex_from};
pub use outdir::{CURRENT, PUBLISHED, RUNS_DIR, StagedOutputs};
pub use output::{
    RESULTS_HEADER, join_errors, neutralise, neutralise_csv, results_record, scenario_label,
    write_atomically, write_csv, write_errors, write_options, write_results,
};
pub use scenario_spec::{parse_scenario_spec, read_scenario_spec};
pub use tables::{parse_factor_table, parse_fx_table};
