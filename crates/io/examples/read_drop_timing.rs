//! Times `read_drop` on a drop folder (issue 16: the read stage of
//! `exfee run`), and prints a digest of what was read so that two builds can
//! be compared for identical results.
//!
//! ```text
//! cargo run --release -p exfee-io --example read_drop_timing -- DROP [REPEATS]
//! ```
//!
//! `EXFEE_NO_DIGEST=1` leaves the digest out (for profiles). The factor table is `scenarios/risk-factors-current.csv` (run from the
//! repository root).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let folder = PathBuf::from(
        args.next()
            .ok_or("usage: read_drop_timing DROP [REPEATS]")?,
    );
    let repeats: usize = args.next().map_or(Ok(5), |n| n.parse())?;
    let table_path = "scenarios/risk-factors-current.csv";
    let table = exfee_io::parse_factor_table(table_path, std::fs::File::open(table_path)?)?;
    let paths = exfee_io::DropPaths::in_dir(&folder);
    let mut times = Vec::with_capacity(repeats);
    let mut batch = None;
    for _ in 0..repeats {
        drop(batch.take()); // freeing the last batch is not reading
        let start = Instant::now();
        batch = Some(exfee_io::read_drop(&paths, &table)?);
        times.push(start.elapsed().as_secs_f64());
    }
    // The digest of every account, position, cash balance, market entry and
    // error, as `Debug` shows them (`EXFEE_NO_DIGEST` skips it, for profiles).
    let digest = match (batch, std::env::var_os("EXFEE_NO_DIGEST")) {
        (Some(batch), None) => {
            let mut hasher = DefaultHasher::new();
            format!("{batch:?}").hash(&mut hasher);
            hasher.finish()
        }
        _ => 0,
    };
    times.sort_by(f64::total_cmp);
    println!(
        "read_drop: min {:.3} s, median {:.3} s over {repeats}; digest {digest:016x}",
        times[0],
        times[times.len() / 2]
    );
    Ok(())
}
