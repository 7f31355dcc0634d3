//! The `exfee` command line: the nightly batch and its tools.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: the nightly run frees and
/// allocates many scenario-sized vectors among small strings, and glibc's
/// `malloc` spent a fifth of the reports' CPU sorting its free lists for
/// them (docs/performance.md, "The reports' allocations").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
