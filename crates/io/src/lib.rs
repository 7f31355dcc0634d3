//! exfee input and output, at the edge of the engine: reading nightly drops
//! and factor tables into the model, writing results atomically.

mod csvin;
mod drop;
mod drop_writer;
mod error;
mod flex;
mod output;
mod scenario_spec;
mod tables;

pub use drop::{DropPaths, read_drop, read_market};
pub use drop_writer::write_drop;
pub use error::IoError;
pub use flex::read_flex;
pub use output::{
    RESULTS_HEADER, join_errors, neutralise, results_record, scenario_label, write_atomically,
    write_csv, write_errors, write_options, write_results,
};
pub use scenario_spec::{parse_scenario_spec, read_scenario_spec};
pub use tables::{parse_factor_table, parse_fx_table};
