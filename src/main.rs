//! The `exfee` command line: the nightly batch and its tools.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

/// The binary's allocator: mimalloc rather than glibc's malloc, which a night
/// of 100,000 accounts spends a large share of its reading, preparing and
/// fee time in (millions of small strings, vectors and SQLite's buffers,
/// freed across threads). Only the `exfee` binary: the library (and the
/// Python extension built on it) uses its host's allocator. Results do not
/// depend on it (docs/performance.md, issue 16).
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
