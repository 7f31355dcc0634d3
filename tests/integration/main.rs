//! The one integration-test binary of exfee (as ripgrep keeps one): each
//! module tests one capability through the public facade or the `exfee`
//! binary.

mod calibration;
mod cli;
mod common;
mod fees;
mod fixed_stress;
mod flex;
mod golden;
mod hostile;
mod input_errors;
mod monte_carlo;
mod nlv;
mod options;
mod outputs;
mod reliability;
mod serve;
mod split;
mod trust_input;
mod whatif;
