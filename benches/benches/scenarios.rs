//! The single stocks' own moves (issue 16: ≥ 4× the rate of the issue's
//! day, bit-identical), on one core, per own draw, three ways side by side:
//!
//! - `issue_16`: the draws as the issue measured them, rand_chacha's
//!   `ChaCha20Rng` one `next_u64` a draw and statrs' scalar `erfc_inv`;
//! - `vector_quantile`: rand_chacha, then the vectorised Φ⁻¹
//!   (`exfee::scenarios::normal_quantiles`, the state before the
//!   multi-lane ChaCha20);
//! - `engine`: the scenario set's own draws now (`ScenarioSet::own_scores`:
//!   16 or 8 ChaCha20 blocks a pass, then the vectorised Φ⁻¹), and the
//!   moves (`own_moves`, the scores through the single-stock bounds).
//!
//! The three give the same bits (checked before timing). Beside them, the
//! opt-in draw version 2 (`draw_version = 2`, docs/methodology.md):
//!
//! - `engine_scores_v2` / `engine_moves_v2`: the same set with version 2's
//!   own draws (the same ChaCha20 words, Φ⁻¹ by AS 241 in vector lanes),
//!   checked before timing to equal the scalar AS 241 function draw by
//!   draw and version 1 to 2·10⁻¹⁵ relative.
//!
//! After criterion's figures, interleaved rounds of all of them print the
//! ratios. The instruction set is the widest the CPU runs, capped by
//! `EXFEE_SIMD` (`EXFEE_SIMD=avx2` for an AVX2-only machine's figures).

use std::f64::consts::SQRT_2;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use exfee::ScenarioSource;
use exfee::scenarios::{
    DrawVersion, ScenarioSet, SingleStock, normal_quantile_v2, normal_quantiles,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use statrs::function::erf::erfc_inv;

/// Stocks of the bench set.
const STOCKS: usize = 32;

/// The set's own-draw key of a symbol, as documented on
/// `ScenarioSet::own_scores`: seed (LE) | `IDIOSYN\0` | FNV-1a 64 of the
/// symbol (LE) | 8 zero bytes.
fn own_key(seed: u64, symbol: &str) -> [u8; 32] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in symbol.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(b"IDIOSYN\0");
    key[16..24].copy_from_slice(&hash.to_le_bytes());
    key
}

/// rand_chacha's probabilities of draws `0..out.len()`.
fn chacha_probabilities(key: [u8; 32], out: &mut [f64]) {
    let mut rng = ChaCha20Rng::from_seed(key);
    for value in out.iter_mut() {
        let bits = rng.next_u64() >> 11;
        *value = (bits as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    }
}

/// The issue's day: rand_chacha and statrs, one draw at a time.
fn issue_16(keys: &[[u8; 32]], out: &mut [f64]) {
    for &key in keys {
        chacha_probabilities(key, out);
        for value in out.iter_mut() {
            *value = -SQRT_2 * erfc_inv(2.0 * *value);
        }
    }
}

/// rand_chacha, then the vectorised Φ⁻¹.
fn vector_quantile(keys: &[[u8; 32]], out: &mut [f64]) {
    for &key in keys {
        chacha_probabilities(key, out);
        normal_quantiles(out);
    }
}

/// The scenario set's own scores.
fn engine_scores(set: &ScenarioSet, out: &mut [f64]) {
    for stock in 0..set.stocks().len() {
        set.own_scores(stock, 0..out.len(), out);
    }
}

/// The scenario set's own moves.
fn engine_moves(set: &ScenarioSet, out: &mut [f64]) {
    for stock in 0..set.stocks().len() {
        set.own_moves(stock, 0..out.len(), out);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let source = ScenarioSource::default_set();
    let ScenarioSource::MonteCarlo(spec) = &source else {
        eprintln!("the default set is a Monte Carlo set");
        return;
    };
    let seed = spec.config().seed;
    let stocks: Vec<SingleStock> = (0..STOCKS)
        .map(|i| SingleStock {
            symbol: format!("S{i:04}"),
            idio_vol: 0.2 + 0.01 * i as f64,
        })
        .collect();
    let set = match source.build(stocks) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    // The same set under draw version 2.
    let mut config = spec.config().clone();
    config.draw_version = DrawVersion::V2;
    let spec2 = spec.with_config(config);
    let set2 = match spec2.and_then(|spec| ScenarioSet::monte_carlo(&spec, set.stocks().to_vec())) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let draws = set.draw_count();
    let keys: Vec<[u8; 32]> = set
        .stocks()
        .iter()
        .map(|s| own_key(seed, &s.symbol))
        .collect();

    // The three give the same bits, every stock, every draw.
    for (stock, &key) in keys.iter().enumerate() {
        let mut a = vec![0.0; draws];
        let mut b = vec![0.0; draws];
        let mut c = vec![0.0; draws];
        issue_16(&[key], &mut a);
        vector_quantile(&[key], &mut b);
        set.own_scores(stock, 0..draws, &mut c);
        let same = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(
            same(&a, &b) && same(&a, &c),
            "stock {stock}: the draws differ"
        );
        // Version 2: the scalar AS 241 of the same probabilities, draw by
        // draw, and version 1 to 2e-15 relative.
        let mut d = vec![0.0; draws];
        set2.own_scores(stock, 0..draws, &mut d);
        chacha_probabilities(key, &mut b);
        for ((&v2, &p), &v1) in d.iter().zip(&b).zip(&a) {
            assert_eq!(
                v2.to_bits(),
                normal_quantile_v2(p).to_bits(),
                "stock {stock}"
            );
            assert!((v2 - v1).abs() <= 2e-15 * v1.abs(), "stock {stock}");
        }
    }

    let isa = exfee::simd::widest().name();
    let mut out = vec![0.0; draws];
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(format!("own_draws_{isa}"));
    group.throughput(Throughput::Elements((STOCKS * draws) as u64));
    group.bench_function("issue_16", |b| {
        b.iter(|| issue_16(black_box(&keys), &mut out))
    });
    group.bench_function("vector_quantile", |b| {
        b.iter(|| vector_quantile(black_box(&keys), &mut out))
    });
    group.bench_function("engine_scores", |b| {
        b.iter(|| engine_scores(black_box(&set), &mut out))
    });
    group.bench_function("engine_moves", |b| {
        b.iter(|| engine_moves(black_box(&set), &mut out))
    });
    group.bench_function("engine_scores_v2", |b| {
        b.iter(|| engine_scores(black_box(&set2), &mut out))
    });
    group.bench_function("engine_moves_v2", |b| {
        b.iter(|| engine_moves(black_box(&set2), &mut out))
    });
    group.finish();
    c.final_summary();

    // Side by side: interleaved rounds, medians, ns per own draw.
    let values = (STOCKS * draws) as f64;
    let mut times: [Vec<f64>; 6] = Default::default();
    for _ in 0..15 {
        let t = Instant::now();
        issue_16(&keys, &mut out);
        times[0].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        vector_quantile(&keys, &mut out);
        times[1].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine_scores(&set, &mut out);
        times[2].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine_moves(&set, &mut out);
        times[3].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine_scores(&set2, &mut out);
        times[4].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine_moves(&set2, &mut out);
        times[5].push(t.elapsed().as_secs_f64());
        black_box(&out);
    }
    let ns = times.clone().map(|t| median(t) * 1e9 / values);
    println!(
        "\nside by side ({isa}, one core, {STOCKS} stocks x {draws} draws, medians of 15 interleaved rounds):"
    );
    println!(
        "  issue 16 (rand_chacha + statrs)      {:6.2} ns/draw",
        ns[0]
    );
    println!(
        "  rand_chacha + vectorised Φ⁻¹         {:6.2} ns/draw  {:.2}x issue 16",
        ns[1],
        ns[0] / ns[1]
    );
    println!(
        "  engine own scores (multi-lane)       {:6.2} ns/draw  {:.2}x issue 16, {:.2}x rand_chacha + vectorised Φ⁻¹",
        ns[2],
        ns[0] / ns[2],
        ns[1] / ns[2]
    );
    println!(
        "  engine own moves (scores → bounds)   {:6.2} ns/draw  {:.2}x issue 16",
        ns[3],
        ns[0] / ns[3]
    );
    println!(
        "  draw version 2 own scores (AS 241)   {:6.2} ns/draw  {:.2}x issue 16, {:.2}x version 1's",
        ns[4],
        ns[0] / ns[4],
        ns[2] / ns[4]
    );
    println!(
        "  draw version 2 own moves             {:6.2} ns/draw  {:.2}x issue 16, {:.2}x version 1's",
        ns[5],
        ns[0] / ns[5],
        ns[3] / ns[5]
    );
    // The fastest round of each (a loaded machine stretches single rounds
    // by preemption; the fastest is the one least disturbed).
    let best = times.map(|t| t.iter().copied().fold(f64::MAX, f64::min) * 1e9 / values);
    println!(
        "  fastest rounds: issue 16 {:.2} ns/draw; own moves v1 {:.2} ({:.2}x issue 16); \
         own moves v2 {:.2} ({:.2}x issue 16)",
        best[0],
        best[3],
        best[0] / best[3],
        best[5],
        best[0] / best[5]
    );
}
