//! Times the read and prepare stages of `exfee run` on a drop folder (issue
//! 16: "read + prepare + fees ≤ 2 s at 100,000 accounts"), and prints a
//! digest of what each stage made so that two builds can be compared for
//! identical results.
//!
//! ```text
//! cargo build --release --example read_prepare_timing
//! ./target/release/examples/read_prepare_timing DROP [REPEATS]
//! ```
//!
//! Each repeat reads the drop (`read_drop`), finds its single stocks
//! (`single_stocks`, the scenario set's stocks) and prepares it (`prepare`,
//! valued on 2026-11-20) with the default scenario set's tables, as `exfee
//! run` does. `EXFEE_NO_DIGEST=1` leaves the digests out (for profiles).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Instant;

use exfee::engine::{prepare, single_stocks};
use exfee::io::{DropPaths, read_drop};
use exfee::{EngineConfig, ScenarioSource};

fn digest(value: &impl std::fmt::Debug) -> u64 {
    let mut hasher = DefaultHasher::new();
    format!("{value:?}").hash(&mut hasher);
    hasher.finish()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let folder = PathBuf::from(
        args.next()
            .ok_or("usage: read_prepare_timing DROP [REPEATS]")?,
    );
    let repeats: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    let source = ScenarioSource::default_set();
    let config = EngineConfig::new("2026-11-20".parse()?);
    let paths = DropPaths::in_dir(&folder);
    let (mut reads, mut stocks_times, mut prepares) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..repeats {
        drop(last.take()); // freeing the last results is not timed
        let start = Instant::now();
        let batch = read_drop(&paths, source.factor_table())?;
        reads.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let stocks = single_stocks(&batch, source.factor_table());
        stocks_times.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let prepared = prepare(&batch, source.factor_table(), source.fx_table(), &config);
        prepares.push(start.elapsed().as_secs_f64());
        last = Some((batch, stocks, prepared));
    }
    let show = |name: &str, times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        println!(
            "{name:14} min {:.3} s, median {:.3} s, max {:.3} s over {repeats}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    };
    show("read", &mut reads);
    show("single_stocks", &mut stocks_times);
    show("prepare", &mut prepares);
    if let (Some((batch, stocks, prepared)), None) = (last, std::env::var_os("EXFEE_NO_DIGEST")) {
        println!(
            "digests: batch {:016x}, single stocks {:016x}, prepared {:016x}",
            digest(&batch),
            digest(&stocks),
            digest(&prepared)
        );
    }
    Ok(())
}
