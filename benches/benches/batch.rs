//! The whole batch, per account: a synthetic drop of 2,000 accounts
//! (stocks, ETFs, options, futures, coins, bonds, cash) prepared and
//! evaluated under the current fixed stress set.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::synth::{SynthConfig, synthesize};
use exfee::{EngineConfig, ScenarioTables, evaluate_batch};

const ACCOUNTS: usize = 2_000;

fn batch(c: &mut Criterion) {
    let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
    let batch = synthesize(&SynthConfig::new(ACCOUNTS, 42, date));
    let tables = ScenarioTables::current();
    let config = EngineConfig::new(date);
    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ACCOUNTS as u64));
    group.bench_function("fixed_stress_per_account", |b| {
        b.iter(|| black_box(evaluate_batch(black_box(&batch), &tables, &config)))
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
