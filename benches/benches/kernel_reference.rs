//! The engine's aggregation against a reference kernel of the same sum on
//! the same holdings (issue 16): one panel of a synthetic batch's legs
//! (popular first, as the engine lays them out) over 256 scenarios, every
//! ready account aggregated on rayon's threads, per instruction set the
//! engine runs here (AVX2 and, where the CPU has it, AVX-512), the engine's
//! kernel picked explicitly (`exfee_engine::Kernel`) so that both are
//! measured in one run. After criterion's figures, the side-by-side ratio
//! engine / best reference is printed (medians of interleaved rounds).
//!
//! `EXFEE_BENCH_ACCOUNTS` sets the batch size (default 10,000);
//! `EXFEE_SIMD=avx2` leaves AVX-512 out (the figures of an AVX2-only
//! machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, Throughput};
use exfee::ScenarioSource;
use exfee::synth::{SynthConfig, synthesize};
use exfee_benches::reference::{Csr, Isa, Order, worst};
use exfee_engine::{Book, EngineConfig, Kernel, Tail, aggregate_panel, prepare};
use rayon::prelude::*;

/// Scenarios per panel: the engine's panel at its default memory budget.
const WIDTH: usize = 256;
/// Accounts per rayon task of the reference.
const CHUNK: usize = 64;

/// One panel's problem: the holdings and the legs' P&L.
struct Problem {
    book: Book,
    rows: Vec<u32>,
    quantities: Vec<f64>,
    panel: Vec<f64>,
}

impl Problem {
    fn new(accounts: usize) -> Problem {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
        let batch = synthesize(&SynthConfig::new(accounts, 1, date));
        let source = ScenarioSource::default_set();
        let prepared = prepare(
            &batch,
            source.factor_table(),
            source.fx_table(),
            &EngineConfig::new(date),
        );
        let book = Book::new(&prepared);
        let (mut rows, mut quantities) = (Vec::new(), Vec::new());
        for a in 0..book.account_count() {
            let (r, q) = book.holdings(a);
            rows.extend_from_slice(r);
            quantities.extend_from_slice(q);
        }
        // P&L of every magnitude and sign (a fixed xorshift stream).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let panel = (0..book.row_count() * WIDTH)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e4
            })
            .collect();
        Problem {
            book,
            rows,
            quantities,
            panel,
        }
    }

    fn csr(&self) -> Csr<'_> {
        Csr {
            offsets: self.book.offsets(),
            rows: &self.rows,
            quantities: &self.quantities,
        }
    }

    /// Position-scenarios per panel.
    fn work(&self) -> u64 {
        (self.rows.len() * WIDTH) as u64
    }

    fn engine(&self, kernel: Kernel, tails: &mut [Tail]) {
        aggregate_panel(&self.book, kernel, &self.panel, WIDTH, 0, tails);
    }

    fn reference(&self, isa: Isa, order: Order, out: &mut [f64]) {
        let csr = self.csr();
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, w)| {
            let from = i * CHUNK;
            worst(isa, order, csr, from..from + w.len(), &self.panel, WIDTH, w);
        });
    }
}

/// The engine's kernel of the same instruction set.
fn engine_kernel(isa: Isa) -> Kernel {
    match isa {
        Isa::Avx2 => Kernel::Avx2,
        Isa::Avx512 => Kernel::Avx512,
    }
}

const ORDERS: [(&str, Order); 4] = [
    ("account_major", Order::AccountMajor),
    ("slab_32", Order::ColumnSlab(32)),
    ("slab_64", Order::ColumnSlab(64)),
    ("slab_128", Order::ColumnSlab(128)),
];

fn isas() -> Vec<Isa> {
    [Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|i| i.runs_here() && engine_kernel(*i).allowed())
        .collect()
}

fn criterion_figures(c: &mut Criterion, p: &Problem) {
    let mut tails = vec![Tail::new(1); p.book.account_count()];
    let mut out = vec![0.0; p.book.account_count()];
    let mut group = c.benchmark_group("kernel_reference");
    group.throughput(Throughput::Elements(p.work()));
    for isa in isas() {
        group.bench_function(format!("engine/{}", isa.name()), |b| {
            b.iter(|| p.engine(engine_kernel(isa), black_box(&mut tails)))
        });
        for (name, order) in ORDERS {
            group.bench_function(format!("reference/{}/{name}", isa.name()), |b| {
                b.iter(|| p.reference(isa, order, black_box(&mut out)))
            });
        }
    }
    group.finish();
}

/// Median wall time of `reps` calls, over `rounds` rounds interleaved with
/// the other candidates' (so that a change of load hits every candidate).
fn side_by_side(p: &Problem) {
    let mut tails = vec![Tail::new(1); p.book.account_count()];
    let mut out = vec![0.0; p.book.account_count()];
    let (rounds, reps) = (15, 20);
    println!(
        "\nside by side: {} accounts, {} holdings, {} legs, {WIDTH} scenarios a panel, {} threads",
        p.book.account_count(),
        p.rows.len(),
        p.book.row_count(),
        rayon::current_num_threads()
    );
    for isa in isas() {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 1 + ORDERS.len()];
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..reps {
                p.engine(engine_kernel(isa), black_box(&mut tails));
            }
            times[0].push(t.elapsed() / reps);
            for (i, (_, order)) in ORDERS.iter().enumerate() {
                let t = Instant::now();
                for _ in 0..reps {
                    p.reference(isa, *order, black_box(&mut out));
                }
                times[1 + i].push(t.elapsed() / reps);
            }
        }
        let rate = |t: &mut Vec<Duration>| {
            t.sort();
            p.work() as f64 / t[t.len() / 2].as_secs_f64() / 1e9
        };
        let engine = rate(&mut times[0]);
        let mut best = ("", 0.0);
        for (i, (name, _)) in ORDERS.iter().enumerate() {
            let r = rate(&mut times[1 + i]);
            println!(
                "  {:6} reference {name:13} {r:6.2} G position-scenarios/s",
                isa.name()
            );
            if r > best.1 {
                best = (name, r);
            }
        }
        println!(
            "  {:6} engine                  {engine:6.2} G position-scenarios/s = {:.0} % of the best reference ({})",
            isa.name(),
            100.0 * engine / best.1,
            best.0
        );
    }
}

fn main() {
    let accounts = std::env::var("EXFEE_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let problem = Problem::new(accounts);
    let mut c = Criterion::default().configure_from_args();
    criterion_figures(&mut c, &problem);
    c.final_summary();
    // Criterion's test mode (`cargo test --benches`) runs each bench once:
    // no side-by-side rounds then.
    if std::env::args().any(|a| a == "--bench") {
        side_by_side(&problem);
    }
}
