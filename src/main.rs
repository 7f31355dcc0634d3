//! The `exfee` command line: the nightly batch and its tools.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("exfee: error: {}", exfee::error_message(&error));
            ExitCode::from(2)
        }
    }
}
