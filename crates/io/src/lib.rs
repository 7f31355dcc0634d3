//! exfee input and output, at the edge of the engine: reading nightly drops
//! and factor tables into the model, writing results atomically.

mod csvin;
mod drop;
mod error;
mod output;
mod tables;

pub use drop::{DropPaths, read_drop};
pub use error::IoError;
pub use output::{
    RESULTS_HEADER, join_errors, scenario_label, write_atomically, write_errors, write_results,
};
pub use tables::{parse_factor_table, parse_fx_table};
