//! The one integration-test binary of exfee (as ripgrep keeps one): each
//! module tests one capability through the public facade or the `exfee`
//! binary.

mod cli;
mod common;
mod fixed_stress;
mod input_errors;
mod nlv;
mod options;
