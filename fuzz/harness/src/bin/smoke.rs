//! A fuzz driver for the stable toolchain: replays every target's seeds,
//! regression inputs (`fuzz/regressions/<target>/`) and corpus
//! (`fuzz/corpus/<target>/`, when cargo-fuzz made one), then mutates them
//! at random for a few seconds per target. A panic, an input that runs past
//! the time limit, or an allocation past the memory limit is a finding: the
//! input is written to `fuzz/artifacts/<target>/` and the exit code is 1.
//!
//! Not coverage-guided (use `cargo fuzz` on nightly for that): a quick
//! check that the targets still stand up to hostile bytes.
//!
//! ```text
//! smoke [--seconds N] [--seed S] [--timeout SECS] [TARGET…]   (default: every target, 3 s each)
//! smoke seed                                                  (write fuzz/corpus/<target>/ from the examples)
//! smoke list
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exfee_fuzz_harness::{TARGETS, Target, repository_root};

/// One allocation above this is a finding (libFuzzer: `-malloc_limit_mb`).
const MAX_ALLOCATION: usize = 1 << 30;
/// Live heap above this is a finding (libFuzzer: `-rss_limit_mb=2048`).
const MAX_LIVE: usize = 2 << 30;
/// Longest mutated input.
const MAX_LEN: usize = 256 * 1024;

/// The system allocator, counting live bytes and remembering the largest
/// request past the limits.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static OVER_LIMIT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `System.alloc`, with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `System.alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        note(new_size);
        // SAFETY: as for `System.realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    if size > MAX_ALLOCATION || live > MAX_LIVE {
        OVER_LIMIT.fetch_max(size.max(live), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values that parsers get wrong: numbers out of range, separators, quotes,
/// line ends, encodings, section markers, TOML keys.
const TOKENS: &[&[u8]] = &[
    b"1e400",
    b"-0",
    b"NaN",
    b"-inf",
    b"1,000.00",
    b"\"1,000.00\"",
    b"\"",
    b"\"\"",
    b",",
    b",,,,,,",
    b"\n",
    b"\r\n",
    b"\r",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xC3\x28",
    b"=HYPERLINK(\"x\")",
    b"../../etc/passwd",
    b"123456789012345678901234567890",
    b"79228162514264337593543950335",
    b"-79228162514264337593543950335",
    b"0.0000000000000000000000000001",
    b"1e308",
    b"2026-02-30",
    b"9999-12-31",
    b"0000-01-01",
    b"+262143-12-31",
    b"20270115;162000",
    b"31-Dec-99",
    b"HEADER,POST,",
    b"DATA,POST,",
    b"BOS,CRTT\n",
    b"EOS\n",
    b"HEADER,EQUT,ClientAccountID,CurrencyPrimary,Total\n",
    b"LOT",
    b"SUMMARY",
    b"BASE_SUMMARY",
    b"OPT",
    b"FOP",
    b"FUT",
    b"BOND",
    b"USD",
    b"EUR",
    b"XYZ",
    b"\t",
    b"   ",
    b"\0",
    b"#",
    b"[[tiers]]\n",
    b"[copula]\nkind = \"student-t\"\nnu = ",
    b"scenarios = 18446744073709551615\n",
    b"repair_correlation = true\n",
    b" = ",
    b"\"\"\"",
    b"[",
    b"]",
    b"{",
    b"1.0000000000001",
    b"-1",
    b"0",
    b"18446744073709551616",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        let at = if len == 0 { 0 } else { rng.below(len + 1) };
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                input.drain(at.min(len - 1)..end);
            }
            3 => {
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            4 | 5 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            6 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = input[start..end].to_vec();
                input.splice(at..at, chunk);
            }
            7 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let from = if other.is_empty() {
                    0
                } else {
                    rng.below(other.len())
                };
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            8 if len > 0 => input.truncate(rng.below(len)),
            9 if len > 0 => {
                // A long repeat: fields and rows near the size limits.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(8)).min(len);
                let chunk = input[start..end].to_vec();
                let times = [10, 1000, 70_000][rng.below(3)] / chunk.len().max(1);
                let repeated: Vec<u8> = chunk
                    .iter()
                    .copied()
                    .cycle()
                    .take(chunk.len() * times)
                    .collect();
                input.splice(at..at, repeated);
            }
            _ => {
                // Replace a field (between separators) with a token.
                let token = TOKENS[rng.below(TOKENS.len())];
                let is_sep = |b: &u8| matches!(b, b',' | b'\n' | b'\r' | b'=');
                let start = input[..at].iter().rposition(is_sep).map_or(0, |i| i + 1);
                let end = input[at..]
                    .iter()
                    .position(is_sep)
                    .map_or(input.len(), |i| at + i);
                input.splice(start..end, token.iter().copied());
            }
        }
    }
    input.truncate(MAX_LEN);
}

/// What the watchdog needs: the running input's start (ms since the driver
/// started, 0 when idle) and where the current input is saved.
struct Watch {
    origin: Instant,
    started_ms: AtomicU64,
    target: Mutex<&'static str>,
}

fn artifacts(root: &Path, target: &str) -> PathBuf {
    root.join("fuzz/artifacts").join(target)
}

fn save(root: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    // FNV-1a: a stable name for the same input.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let dir = artifacts(root, target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("smoke-{kind}-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

fn read_dir_files(dir: &Path, limit: usize) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .take(limit)
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() <= MAX_LEN)
        .collect()
}

struct Outcome {
    execs: u64,
    findings: Vec<String>,
}

fn run_target(
    root: &Path,
    target: &Target,
    seconds: f64,
    rng: &mut Rng,
    watch: &Watch,
    current: &mut File,
) -> Outcome {
    *watch.target.lock().expect("not poisoned") = target.name;
    let mut pool = (target.seeds)(root);
    pool.extend(read_dir_files(
        &root.join("fuzz/regressions").join(target.name),
        usize::MAX,
    ));
    pool.extend(read_dir_files(
        &root.join("fuzz/corpus").join(target.name),
        2_000,
    ));
    let replay = pool.len();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let mut outcome = Outcome {
        execs: 0,
        findings: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut i = 0usize;
    while i < replay || Instant::now() < deadline {
        let input = if i < replay {
            pool[i].clone()
        } else {
            let mut input = pool[rng.below(pool.len())].clone();
            mutate(rng, &mut input, &pool);
            input
        };
        i += 1;
        // Kept on disk while it runs: an abort (allocation failure) or a
        // hang leaves it there.
        let _ = current.set_len(0);
        let _ = current.rewind();
        let _ = current.write_all(&input);
        OVER_LIMIT.store(0, Ordering::Relaxed);
        watch.started_ms.store(
            watch.origin.elapsed().as_millis() as u64 + 1,
            Ordering::SeqCst,
        );
        let result = std::panic::catch_unwind(|| (target.run)(&input));
        watch.started_ms.store(0, Ordering::SeqCst);
        outcome.execs += 1;
        let over = OVER_LIMIT.swap(0, Ordering::Relaxed);
        if result.is_err() {
            let path = save(root, target.name, "crash", &input);
            outcome.findings.push(format!("panic: {}", path.display()));
        } else if over > 0 {
            let path = save(root, target.name, "oom", &input);
            outcome.findings.push(format!(
                "allocation past the limit ({over} bytes): {}",
                path.display()
            ));
        }
        if outcome.findings.len() >= 5 {
            break;
        }
    }
    outcome
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repository_root();
    let mut seconds = 3.0;
    let mut seed: u64 = 0x5EED;
    let mut timeout = 10.0;
    let mut names: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match arg.as_str() {
            "--seconds" => seconds = value("--seconds"),
            "--seed" => seed = value("--seed") as u64,
            "--timeout" => timeout = value("--timeout"),
            "list" => {
                for target in TARGETS {
                    println!("{}", target.name);
                }
                return ExitCode::SUCCESS;
            }
            "seed" => return write_corpus(&root),
            "-h" | "--help" => {
                println!(
                    "smoke [--seconds N] [--seed S] [--timeout SECS] [TARGET...] | smoke seed | smoke list"
                );
                return ExitCode::SUCCESS;
            }
            name => names.push(name.to_string()),
        }
    }
    let targets: Vec<&Target> = if names.is_empty() {
        TARGETS.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &names {
            match TARGETS.iter().find(|t| t.name == name) {
                Some(t) => chosen.push(t),
                None => {
                    eprintln!("smoke: no target {name:?} (smoke list)");
                    return ExitCode::from(2);
                }
            }
        }
        chosen
    };

    let current_path = root.join("fuzz/artifacts/smoke-current-input");
    let _ = std::fs::create_dir_all(root.join("fuzz/artifacts"));
    let mut current = match File::create(&current_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("smoke: cannot create {}: {e}", current_path.display());
            return ExitCode::from(2);
        }
    };
    let watch = Arc::new(Watch {
        origin: Instant::now(),
        started_ms: AtomicU64::new(0),
        target: Mutex::new(""),
    });
    {
        let watch = Arc::clone(&watch);
        let current_path = current_path.clone();
        let root = root.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let started = watch.started_ms.load(Ordering::SeqCst);
                if started == 0 {
                    continue;
                }
                let now = watch.origin.elapsed().as_millis() as u64 + 1;
                if (now - started) as f64 > timeout * 1000.0 {
                    let target = *watch.target.lock().expect("not poisoned");
                    let input = std::fs::read(&current_path).unwrap_or_default();
                    let path = save(&root, target, "timeout", &input);
                    eprintln!(
                        "smoke: {target}: an input ran for more than {timeout} s: {}",
                        path.display()
                    );
                    std::process::exit(1);
                }
            }
        });
    }
    // Panics are findings, reported once each below.
    // (RUST_BACKTRACE=1 adds the backtrace.)
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::capture();
        eprintln!("smoke: panic: {info}\n{backtrace}");
    }));

    let mut rng = Rng(seed);
    let mut failed = false;
    println!("smoke: seed {seed}, {seconds} s per target, timeout {timeout} s");
    for target in targets {
        let started = Instant::now();
        let outcome = run_target(&root, target, seconds, &mut rng, &watch, &mut current);
        println!(
            "{:<16} {:>8} inputs in {:>5.1} s  {}",
            target.name,
            outcome.execs,
            started.elapsed().as_secs_f64(),
            if outcome.findings.is_empty() {
                "ok".to_string()
            } else {
                format!("{} finding(s)", outcome.findings.len())
            }
        );
        for finding in &outcome.findings {
            println!("    {finding}");
        }
        failed |= !outcome.findings.is_empty();
    }
    drop(current);
    let _ = std::fs::remove_file(&current_path);
    if failed {
        println!("smoke: FAILED (inputs saved under fuzz/artifacts/)");
        ExitCode::from(1)
    } else {
        println!("smoke: ok");
        ExitCode::SUCCESS
    }
}

/// Writes every target's seeds and regression inputs into
/// `fuzz/corpus/<target>/`, where `cargo fuzz run` starts from.
fn write_corpus(root: &Path) -> ExitCode {
    for target in TARGETS {
        let dir = root.join("fuzz/corpus").join(target.name);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("smoke: cannot create {}: {e}", dir.display());
            return ExitCode::from(2);
        }
        let mut inputs = (target.seeds)(root);
        inputs.extend(read_dir_files(
            &root.join("fuzz/regressions").join(target.name),
            usize::MAX,
        ));
        for (i, input) in inputs.iter().enumerate() {
            let path = dir.join(format!("seed-{i:03}"));
            if let Err(e) = std::fs::write(&path, input) {
                eprintln!("smoke: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        println!(
            "{:<16} {} seeds in {}",
            target.name,
            inputs.len(),
            dir.display()
        );
    }
    ExitCode::SUCCESS
}
