//! The account kernel, per position per scenario: Σ quantity × leg P&L over
//! a block of scenarios, for accounts of 20 holdings drawn from 5,000 legs —
//! on one thread, and on every CPU (the accounts split between threads, as
//! the engine splits them with rayon).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::engine::aggregate;

const LEGS: usize = 5_000;
const ACCOUNTS: usize = 1_000;
const HOLDINGS: usize = 20;

fn holdings() -> Vec<Vec<(usize, f64)>> {
    // A fixed, popular-first spread of legs (no RNG needed for a benchmark).
    (0..ACCOUNTS)
        .map(|a| {
            (0..HOLDINGS)
                .map(|h| {
                    let u = ((a * 7919 + h * 104_729) % 10_007) as f64 / 10_007.0;
                    (((LEGS as f64) * u * u * u) as usize, 1.0 + h as f64)
                })
                .collect()
        })
        .collect()
}

/// Aggregates `accounts` one after the other into `out`.
fn run(accounts: &[Vec<(usize, f64)>], leg_pnl: &[f64], block: usize, out: &mut [f64]) {
    for holdings in accounts {
        aggregate(black_box(holdings), leg_pnl, block, out);
        black_box(&*out);
    }
}

fn kernel(c: &mut Criterion) {
    let accounts = holdings();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("aggregate");
    for block in [256usize, 1024] {
        let leg_pnl: Vec<f64> = (0..LEGS * block)
            .map(|i| (i % 977) as f64 - 488.0)
            .collect();
        let mut out = vec![0.0; block];
        group.throughput(Throughput::Elements((ACCOUNTS * HOLDINGS * block) as u64));
        group.bench_function(format!("per_position_scenario/block_{block}"), |b| {
            b.iter(|| run(&accounts, &leg_pnl, block, &mut out))
        });
        let share = ACCOUNTS.div_ceil(threads);
        group.bench_function(
            format!("per_position_scenario_{threads}_threads/block_{block}"),
            |b| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for part in accounts.chunks(share) {
                            let leg_pnl = &leg_pnl;
                            scope.spawn(move || run(part, leg_pnl, block, &mut vec![0.0; block]));
                        }
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, kernel);
criterion_main!(benches);
