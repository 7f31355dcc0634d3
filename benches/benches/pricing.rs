//! The pricers, per option per scenario: one contract under a block of
//! scenarios, as the engine calls them.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::pricing::{Right, price_american_batch, price_european_batch};

const SCENARIOS: usize = 16_384;

fn inputs() -> (Vec<f64>, Vec<f64>) {
    // Spots from −50 % to +50 % around 100, vols from 10 % to 60 %.
    let spots = (0..SCENARIOS)
        .map(|i| 50.0 + 100.0 * i as f64 / SCENARIOS as f64)
        .collect();
    let vols = (0..SCENARIOS)
        .map(|i| 0.1 + 0.5 * ((i * 7919) % SCENARIOS) as f64 / SCENARIOS as f64)
        .collect();
    (spots, vols)
}

fn pricing(c: &mut Criterion) {
    let (spots, vols) = inputs();
    let mut out = vec![0.0; SCENARIOS];
    let mut group = c.benchmark_group("pricing");
    group.throughput(Throughput::Elements(SCENARIOS as u64));
    group.bench_function("european_put_per_scenario", |b| {
        b.iter(|| {
            price_european_batch(
                Right::Put,
                black_box(&spots),
                100.0,
                0.5,
                0.04,
                0.03,
                &vols,
                &mut out,
            )
            .ok();
            black_box(&out);
        })
    });
    group.bench_function("american_put_per_scenario", |b| {
        b.iter(|| {
            price_american_batch(
                Right::Put,
                black_box(&spots),
                100.0,
                0.5,
                0.04,
                0.03,
                &vols,
                &mut out,
            )
            .ok();
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, pricing);
criterion_main!(benches);
