//! The account kernel, per position per scenario: Σ quantity × leg P&L over
//! a block of scenarios, for accounts of 20 holdings drawn from 5,000 legs.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::aggregate;

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

fn kernel(c: &mut Criterion) {
    let accounts = holdings();
    let mut group = c.benchmark_group("aggregate");
    for block in [256usize, 1024] {
        let leg_pnl: Vec<f64> = (0..LEGS * block)
            .map(|i| (i % 977) as f64 - 488.0)
            .collect();
        let mut out = vec![0.0; block];
        group.throughput(Throughput::Elements((ACCOUNTS * HOLDINGS * block) as u64));
        group.bench_function(format!("per_position_scenario/block_{block}"), |b| {
            b.iter(|| {
                for holdings in &accounts {
                    aggregate(black_box(holdings), &leg_pnl, block, &mut out);
                    black_box(&out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, kernel);
criterion_main!(benches);
