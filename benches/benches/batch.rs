//! The whole batch, per account: a synthetic drop of 2,000 accounts
//! (stocks, ETFs, options, futures, coins, bonds, cash) prepared and
//! evaluated under the current fixed stress set, and under the default
//! Monte Carlo set cut to 1,000 draws.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::synth::{SynthConfig, synthesize};
use exfee::{EngineConfig, ScenarioSource, ScenarioTables, evaluate_batch};

const ACCOUNTS: usize = 2_000;

fn batch(c: &mut Criterion) {
    let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
    let batch = synthesize(&SynthConfig::new(ACCOUNTS, 42, date));
    let config = EngineConfig::new(date);
    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ACCOUNTS as u64));
    for (name, source) in [
        ("fixed_stress_per_account", ScenarioTables::current().into()),
        (
            "monte_carlo_1000_per_account",
            ScenarioSource::default_set()
                .with_draws(1_000)
                .unwrap_or_else(|_| ScenarioSource::default_set()),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(evaluate_batch(black_box(&batch), &source, &config)))
        });
    }
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
