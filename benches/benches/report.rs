//! One account's report files, as the night renders them (issue 16's
//! reports stage): the JSON, the two SVG charts, the HTML, the Markdown and
//! the CSV of one report with a night's P&L distribution — 10,000 Monte
//! Carlo scenarios of P&L-like values and 11,754 stress scenarios of stocks
//! the account does not hold, which are exactly zero — and all of them
//! together (`AccountFiles::render`).
//!
//! Beside `json`, serde_json's own `to_string` of the same report (the
//! output `json` must equal byte for byte, checked before timing).
//!
//! The report's other fields are a real one's (`benches/data/report.json`,
//! a report of the 100,000-account synthetic drop with its distribution
//! left out).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exfee::report::{
    AccountFiles, AccountReport, ChartLinks, contributors_svg, csv, html, json, markdown,
    pnl_histogram_svg,
};

const MONTE_CARLO: usize = 10_000;
const STILL: usize = 11_754;

fn report() -> AccountReport {
    let mut r: AccountReport = serde_json::from_str(include_str!("../data/report.json"))
        .expect("benches/data/report.json");
    // P&L-like values of about -150,000 to 100,000 with full fractions (a
    // fixed sequence: no RNG needed for a benchmark), then the zeros.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    r.pnl_distribution = (0..MONTE_CARLO)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1_u64 << 53) as f64;
            u * 250_000.0 - 150_000.0
        })
        .chain(std::iter::repeat_n(0.0, STILL))
        .collect();
    r
}

fn bench(c: &mut Criterion) {
    let r = report();
    assert_eq!(json(&r), serde_json::to_string(&r).expect("serde_json"));
    let links = ChartLinks::beside("S0000016");
    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json", |b| b.iter(|| json(black_box(&r))));
    g.bench_function("serde_json_to_string", |b| {
        b.iter(|| serde_json::to_string(black_box(&r)))
    });
    g.bench_function("pnl_svg", |b| b.iter(|| pnl_histogram_svg(black_box(&r))));
    g.bench_function("contributors_svg", |b| {
        b.iter(|| contributors_svg(black_box(&r)))
    });
    g.bench_function("html", |b| b.iter(|| html(black_box(&r), &links)));
    g.bench_function("markdown", |b| b.iter(|| markdown(black_box(&r))));
    g.bench_function("csv", |b| b.iter(|| csv(black_box(&r))));
    g.bench_function("all_files", |b| {
        b.iter(|| AccountFiles::render(black_box(&r), false))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
