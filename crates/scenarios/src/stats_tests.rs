//! Statistical and reproducibility tests of the Monte Carlo set.
//!
//! Every test uses a fixed seed. Tolerances are derived from the sample size
//! (4 standard errors unless stated) and written next to each check; they
//! were not tuned to the draws.

use exfee_model::{Bounds, Decimal, FactorTable, FxTable, PrimaryFactor};
use nalgebra::DMatrix;

use crate::illustrative::shipped_spec;
use crate::{
    CorrelationError, CorrelationMatrix, DrawVersion, MoveBlock, ScenarioConfig, ScenarioError,
    ScenarioSet, ScenarioSpec, SingleStock,
};

/// Φ(x) for the expected tail probabilities.
fn phi(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

fn pct(p: f64) -> Decimal {
    Decimal::try_from(p).unwrap()
}

/// Factors F0.. with the given bounds (percent), a single-stock row
/// −50/+50, no currency, and the equity-volatility factor `V` last in the
/// matrix.
fn small_spec(bounds: &[(f64, f64)], matrix: &[&[f64]], config: &str) -> ScenarioSpec {
    let mut rows: Vec<PrimaryFactor> = bounds
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| PrimaryFactor {
            name: format!("F{i}"),
            representative: String::new(),
            symbol: format!("S{i}"),
            bounds: Bounds::new("F", pct(lo), pct(hi)).unwrap(),
        })
        .collect();
    rows.push(PrimaryFactor {
        name: "Individual Stocks".into(),
        representative: String::new(),
        symbol: String::new(),
        bounds: Bounds::new("stocks", pct(-50.0), pct(50.0)).unwrap(),
    });
    let table = FactorTable::new(rows).unwrap();
    let mut names: Vec<String> = (0..bounds.len()).map(|i| format!("F{i}")).collect();
    names.push("V".into());
    let k = names.len();
    let values: Vec<f64> = matrix.iter().flat_map(|r| r.iter().copied()).collect();
    let matrix =
        CorrelationMatrix::new("test.csv", names, DMatrix::from_row_slice(k, k, &values)).unwrap();
    let config = ScenarioConfig::parse(
        "test.toml",
        &format!(
            "factor_table = 'f'\nfx_table = 'x'\ncorrelation = 'c'\n{config}\n[equity_vol]\nname = 'V'\n"
        ),
    )
    .unwrap();
    ScenarioSpec::new(config, table, FxTable::new(vec![]).unwrap(), matrix).unwrap()
}

const TARGET: [&[f64]; 5] = [
    &[1.0, 0.8, -0.5, 0.0, -0.7],
    &[0.8, 1.0, -0.3, 0.2, -0.5],
    &[-0.5, -0.3, 1.0, 0.1, 0.4],
    &[0.0, 0.2, 0.1, 1.0, 0.0],
    &[-0.7, -0.5, 0.4, 0.0, 1.0],
];

const FOUR: [(f64, f64); 4] = [(-30.0, 20.0), (-32.0, 62.0), (-19.8, 15.6), (-100.0, 93.9)];

fn stocks(list: &[(&str, f64)]) -> Vec<SingleStock> {
    list.iter()
        .map(|&(symbol, idio_vol)| SingleStock {
            symbol: symbol.into(),
            idio_vol,
        })
        .collect()
}

fn all_moves(set: &ScenarioSet) -> MoveBlock {
    let mut block = MoveBlock::default();
    set.fill(0..set.len(), &mut block);
    block
}

fn bits(block: &MoveBlock, set: &ScenarioSet) -> Vec<u64> {
    let mut out = Vec::new();
    for i in 0..set.factor_table().factors().len() {
        out.extend(block.factor(i).iter().map(|x| x.to_bits()));
    }
    for i in 0..set.fx_table().currencies().len() {
        out.extend(block.currency(i).iter().map(|x| x.to_bits()));
    }
    out.extend(block.vol().iter().map(|x| x.to_bits()));
    for i in 0..set.stocks().len() {
        out.extend(block.stock(i).iter().map(|x| x.to_bits()));
    }
    out
}

#[test]
fn every_move_lies_within_its_bounds() {
    for which in 0..2 {
        for marginal in ["tail", "uniform"] {
            let spec = shipped_spec(which);
            let mut config = spec.config().clone();
            config.scenarios = 1500;
            if marginal == "uniform" {
                config.marginal = crate::Marginal::Uniform;
            }
            let spec = spec.with_config(config).unwrap();
            let set = ScenarioSet::monte_carlo(
                &spec,
                stocks(&[("AAPL", 0.35), ("TSLA", 1.2), ("KO", 0.1)]),
            )
            .unwrap();
            let block = all_moves(&set);
            let within = |moves: &[f64], b: Bounds, what: &str| {
                let (lo, hi) = (b.lower(), b.upper());
                for (i, m) in moves.iter().enumerate() {
                    assert!(
                        (lo..=hi).contains(m),
                        "{what} scenario {i}: {m} not in [{lo}, {hi}]"
                    );
                }
            };
            for (i, f) in set.factor_table().factors().iter().enumerate() {
                within(block.factor(i), f.bounds, &f.name);
            }
            for (i, c) in set.fx_table().currencies().iter().enumerate() {
                within(block.currency(i), c.bounds, c.currency.as_str());
            }
            within(block.vol(), spec.equity_vol_bounds(), "vol");
            for (i, s) in set.stocks().iter().enumerate() {
                within(
                    block.stock(i),
                    set.factor_table().single_stock_bounds(),
                    &s.symbol,
                );
            }
            // Draws do move: not a set of zeros.
            assert!(block.factor(0)[..1500].iter().any(|&m| m != 0.0));
        }
    }
}

/// Pearson correlation of two samples.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn scores(set: &ScenarioSet, n: usize) -> Vec<Vec<f64>> {
    let draws: Vec<Vec<f64>> = (0..n).map(|i| set.normal_scores(i)).collect();
    let k = draws[0].len();
    (0..k)
        .map(|j| draws.iter().map(|d| d[j]).collect())
        .collect()
}

#[test]
fn gaussian_scores_match_the_target_correlation() {
    const N: usize = 20_000;
    let spec = small_spec(
        &FOUR,
        &TARGET,
        &format!("seed = 11\nscenarios = {N}\n[copula]\nkind = 'gaussian'\n"),
    );
    let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
    let columns = scores(&set, N);
    let n = N as f64;
    for (i, column) in columns.iter().enumerate() {
        let mean = column.iter().sum::<f64>() / n;
        let var = column.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        // SE of the mean 1/√n; of the variance √(2/n).
        assert!(mean.abs() < 4.0 / n.sqrt(), "mean of {i}: {mean}");
        assert!(
            (var - 1.0).abs() < 4.0 * (2.0 / n).sqrt(),
            "variance of {i}: {var}"
        );
        for j in 0..i {
            let target = TARGET[i][j];
            let r = pearson(column, &columns[j]);
            // SE of a sample correlation ≈ (1 − ρ²)/√n.
            let tolerance = 4.0 * (1.0 - target * target) / n.sqrt();
            assert!(
                (r - target).abs() < tolerance,
                "({i},{j}): sample {r}, target {target}, tolerance {tolerance}"
            );
        }
    }
}

/// Kendall's τ, O(n²).
fn kendall(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in 0..i {
            let d = (x[i] - x[j]) * (y[i] - y[j]);
            s += if d > 0.0 {
                1
            } else if d < 0.0 {
                -1
            } else {
                0
            };
        }
    }
    s as f64 / (n * (n - 1) / 2) as f64
}

/// For both elliptical copulas Kendall's τ = (2/π)·arcsin ρ.
#[test]
fn both_copulas_have_the_target_kendall_tau() {
    const N: usize = 3_000;
    for copula in ["gaussian", "student-t"] {
        let spec = small_spec(
            &FOUR,
            &TARGET,
            &format!("seed = 5\nscenarios = {N}\n[copula]\nkind = '{copula}'\n"),
        );
        let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
        let columns = scores(&set, N);
        let n = N as f64;
        // SE of τ under independence, √(2(2n+5)/(9n(n−1))), an upper bound
        // for dependent pairs.
        let tolerance = 4.0 * (2.0 * (2.0 * n + 5.0) / (9.0 * n * (n - 1.0))).sqrt();
        for i in 0..columns.len() {
            for j in 0..i {
                let expected = 2.0 / std::f64::consts::PI * TARGET[i][j].asin();
                let tau = kendall(&columns[i], &columns[j]);
                assert!(
                    (tau - expected).abs() < tolerance,
                    "{copula} ({i},{j}): τ {tau}, expected {expected} ± {tolerance}"
                );
            }
        }
    }
}

/// Each bound is reached with probability 1 − Φ(z_b), whatever the copula
/// (the scores are standard normal under both).
#[test]
fn bounds_are_reached_at_the_configured_tail_probability() {
    const N: usize = 20_000;
    let z_b = 2.0;
    let p = 1.0 - phi(z_b);
    let expected = N as f64 * p;
    // Binomial(N, p): 4 standard deviations.
    let tolerance = 4.0 * (N as f64 * p * (1.0 - p)).sqrt();
    for copula in ["gaussian", "student-t"] {
        let spec = small_spec(
            &FOUR,
            &TARGET,
            &format!(
                "seed = 3\nscenarios = {N}\ninclude_fixed = false\n[copula]\nkind = '{copula}'\n\
                 [marginal]\nkind = 'tail'\nz_at_bound = {z_b}\n"
            ),
        );
        let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
        let block = all_moves(&set);
        let mut checks: Vec<(String, &[f64], Bounds)> = spec
            .factor_table()
            .factors()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), block.factor(i), f.bounds))
            .collect();
        checks.push(("V".into(), block.vol(), spec.equity_vol_bounds()));
        for (name, moves, bounds) in checks {
            let at_lower = moves.iter().filter(|&&m| m == bounds.lower()).count() as f64;
            let at_upper = moves.iter().filter(|&&m| m == bounds.upper()).count() as f64;
            for (side, count) in [("lower", at_lower), ("upper", at_upper)] {
                assert!(
                    (count - expected).abs() < tolerance,
                    "{copula} {name} {side}: {count} hits, expected {expected} ± {tolerance}"
                );
            }
        }
    }
}

/// A stock's own move reaches the single-stock bound at |z| = z_idio ×
/// σ_ref/σ: probability 1 − Φ(3) for σ = σ_ref, 1 − Φ(1.5) for σ = 2σ_ref.
#[test]
fn own_moves_reach_the_bounds_at_the_scaled_tail_probability() {
    for version in ["", "draw_version = 2\n"] {
        own_moves_reach_the_bounds(version);
    }
}

fn own_moves_reach_the_bounds(version: &str) {
    const N: usize = 20_000;
    let spec = small_spec(
        &FOUR,
        &TARGET,
        &format!("seed = 8\nscenarios = {N}\ninclude_fixed = false\n{version}"),
    );
    let set = ScenarioSet::monte_carlo(&spec, stocks(&[("REF", 0.35), ("WILD", 0.70)])).unwrap();
    let block = all_moves(&set);
    for (symbol, z) in [("REF", 3.0), ("WILD", 1.5)] {
        let p = 1.0 - phi(z);
        let expected = N as f64 * p;
        let tolerance = 4.0 * (N as f64 * p * (1.0 - p)).sqrt();
        let moves = block.stock(set.stock_index(symbol).unwrap());
        for bound in [-0.5, 0.5] {
            let count = moves.iter().filter(|&&m| m == bound).count() as f64;
            assert!(
                (count - expected).abs() < tolerance,
                "{symbol} at {bound}: {count}, expected {expected} ± {tolerance}"
            );
        }
        // Own moves are independent of the factors: |r| < 4/√N.
        let r = pearson(moves, block.factor(0));
        assert!(r.abs() < 4.0 / (N as f64).sqrt(), "{symbol}: r = {r}");
    }
    // And of each other.
    let r = pearson(block.stock(0), block.stock(1));
    assert!(r.abs() < 4.0 / (N as f64).sqrt(), "r = {r}");
    // The scores themselves are standard normal: mean within 4/√N.
    let scores = set.idio_scores(0, 0..N);
    let mean = scores.iter().sum::<f64>() / N as f64;
    assert!(mean.abs() < 4.0 / (N as f64).sqrt(), "{mean}");
}

/// Under the t copula both of two correlated factors are beyond their 99 %
/// quantile (or both below their 1 % quantile) more often than under the
/// Gaussian copula with the same matrix (tail dependence). The counts are
/// roughly Poisson: the excess must exceed 4·√(sum of the counts).
#[test]
fn student_t_copula_has_more_joint_extremes() {
    const N: usize = 20_000;
    let q = 2.326_347_874; // Φ⁻¹(0.99)
    let matrix: [&[f64]; 3] = [&[1.0, 0.5, 0.0], &[0.5, 1.0, 0.0], &[0.0, 0.0, 1.0]];
    let count = |copula: &str| {
        let spec = small_spec(
            &FOUR[..2],
            &matrix,
            &format!("seed = 21\nscenarios = {N}\n[copula]\n{copula}\n"),
        );
        let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
        let columns = scores(&set, N);
        columns[0]
            .iter()
            .zip(&columns[1])
            .filter(|&(&a, &b)| (a > q && b > q) || (a < -q && b < -q))
            .count() as f64
    };
    let (gaussian, student) = (
        count("kind = 'gaussian'"),
        count("kind = 'student-t'\nnu = 4"),
    );
    assert!(
        student - gaussian > 4.0 * (student + gaussian).sqrt(),
        "joint extremes: t {student}, Gaussian {gaussian}"
    );
}

#[test]
fn fill_is_identical_whatever_the_split_and_thread_count() {
    for version in [DrawVersion::V1, DrawVersion::V2] {
        fill_is_identical_whatever_the_split(version);
    }
}

fn fill_is_identical_whatever_the_split(version: DrawVersion) {
    let spec = shipped_spec(0);
    let mut config = spec.config().clone();
    config.scenarios = 300;
    config.draw_version = version;
    let spec = spec.with_config(config).unwrap();
    let set = ScenarioSet::monte_carlo(&spec, stocks(&[("AAPL", 0.35), ("BMW", 0.3)])).unwrap();
    let whole = all_moves(&set);
    let reference = bits(&whole, &set);

    // Chunks of 7 (crossing the draw/fixed boundary), reassembled.
    let mut chunked: Vec<u64> = Vec::new();
    let mut block = MoveBlock::default();
    let mut pieces: Vec<MoveBlock> = Vec::new();
    let mut start = 0;
    while start < set.len() {
        set.fill(start..start + 7, &mut block);
        pieces.push(block.clone());
        start += 7;
    }
    let k = set.factor_table().factors().len();
    let c = set.fx_table().currencies().len();
    for i in 0..k {
        chunked.extend(
            pieces
                .iter()
                .flat_map(|b| b.factor(i).iter().map(|x| x.to_bits())),
        );
    }
    for i in 0..c {
        chunked.extend(
            pieces
                .iter()
                .flat_map(|b| b.currency(i).iter().map(|x| x.to_bits())),
        );
    }
    chunked.extend(
        pieces
            .iter()
            .flat_map(|b| b.vol().iter().map(|x| x.to_bits())),
    );
    for i in 0..set.stocks().len() {
        chunked.extend(
            pieces
                .iter()
                .flat_map(|b| b.stock(i).iter().map(|x| x.to_bits())),
        );
    }
    assert_eq!(chunked, reference);

    // One thread and two threads.
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let again = pool.install(|| all_moves(&set));
        assert_eq!(bits(&again, &set), reference, "{threads} threads");
    }

    // A block in the middle equals the same slice of the whole.
    set.fill(123..140, &mut block);
    assert_eq!(block.start(), 123);
    assert_eq!(block.factor(3), &whole.factor(3)[123..140]);
    assert_eq!(block.stock(1), &whole.stock(1)[123..140]);
    // Ranges past the end are clipped.
    set.fill(set.len() - 2..set.len() + 10, &mut block);
    assert_eq!(block.len(), 2);
}

#[test]
fn fill_selected_gives_the_chosen_stocks_moves_bit_for_bit() {
    let spec = small_spec(&FOUR, &TARGET, "seed = 5\nscenarios = 200\n");
    let set = ScenarioSet::monte_carlo(
        &spec,
        stocks(&[("AAA", 0.2), ("AAPL", 0.35), ("BMW", 0.3), ("ZZZ", 0.5)]),
    )
    .unwrap();
    let whole = all_moves(&set);
    let k = set.factor_table().factors().len();
    let c = set.fx_table().currencies().len();
    let chosen = [3, 1];
    let mut block = MoveBlock::default();
    // Twice over (the second time from what the set kept), in ranges that
    // cross the draw/fixed boundary and past the end.
    for _ in 0..2 {
        for start in (0..set.len() + 10).step_by(37) {
            set.fill_selected(start..start + 37, &mut block, &chosen);
            let end = (start + 37).min(set.len());
            assert_eq!(block.start(), start.min(set.len()));
            assert_eq!(block.len(), end - start.min(end));
            let r = start.min(end)..end;
            for i in 0..k {
                assert_eq!(
                    bits_of(block.factor(i)),
                    bits_of(&whole.factor(i)[r.clone()])
                );
            }
            for i in 0..c {
                assert_eq!(
                    bits_of(block.currency(i)),
                    bits_of(&whole.currency(i)[r.clone()])
                );
            }
            assert_eq!(bits_of(block.vol()), bits_of(&whole.vol()[r.clone()]));
            for &stock in &chosen {
                assert_eq!(
                    bits_of(block.stock(stock)),
                    bits_of(&whole.stock(stock)[r.clone()])
                );
            }
        }
    }
    // A stock not asked for is not in the block.
    set.fill_selected(0..10, &mut block, &chosen);
    let unasked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block.stock(0).len()));
    assert!(unasked.is_err());
    // A plain fill afterwards holds every stock again.
    set.fill(0..10, &mut block);
    assert_eq!(bits_of(block.stock(0)), bits_of(&whole.stock(0)[..10]));
    // Selections one after another (one scenario at a time, as a report
    // fills its worst ones), after a selection and after a plain fill:
    // each holds exactly its own stocks.
    for (round, chosen) in [&[0, 2][..], &[3], &[1, 3, 0], &[], &[2]]
        .iter()
        .enumerate()
    {
        if round == 3 {
            set.fill(5..6, &mut block);
        }
        let s = 40 + round;
        set.fill_selected(s..s + 1, &mut block, chosen);
        for stock in 0..4 {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                bits_of(block.stock(stock))
            }));
            if chosen.contains(&stock) {
                assert_eq!(read.ok(), Some(bits_of(&whole.stock(stock)[s..s + 1])));
            } else {
                assert!(
                    read.is_err(),
                    "stock {stock} read after selecting {chosen:?}"
                );
            }
        }
    }
}

#[test]
fn kept_draws_are_the_draws_moves_bit_for_bit() {
    let spec = small_spec(&FOUR, &TARGET, "seed = 5\nscenarios = 200\n");
    let set = ScenarioSet::monte_carlo(
        &spec,
        stocks(&[("AAA", 0.2), ("AAPL", 0.35), ("BMW", 0.3), ("ZZZ", 0.5)]),
    )
    .unwrap();
    let whole = all_moves(&set);
    let d = set.draw_count();
    // Asked before any fill (drawn then) and again (kept).
    for _ in 0..2 {
        let kept = set.kept_draws(&[3, 1]).unwrap();
        assert_eq!(kept.len(), d);
        for i in 0..set.factor_table().factors().len() {
            assert_eq!(bits_of(kept.factor(i)), bits_of(&whole.factor(i)[..d]));
        }
        assert_eq!(bits_of(kept.vol()), bits_of(&whole.vol()[..d]));
        for stock in [3, 1] {
            assert_eq!(
                bits_of(kept.stock(stock)),
                bits_of(&whole.stock(stock)[..d])
            );
        }
        let unasked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kept.stock(0).len()));
        assert!(unasked.is_err());
    }
    // A stock the set does not have, and a set without draws: none.
    assert!(set.kept_draws(&[4]).is_none());
    let fixed = ScenarioSet::fixed_stress(
        set.factor_table().clone(),
        set.fx_table().clone(),
        stocks(&[("AAA", 0.2)]),
    );
    assert!(fixed.kept_draws(&[0]).is_none());
}

/// Two drawn factors (and the single stocks' row), two currencies and the
/// equity volatility; 200 draws.
fn spec_with_currencies() -> ScenarioSpec {
    let factor = |name: &str, symbol: &str, lo: f64, hi: f64| PrimaryFactor {
        name: name.into(),
        representative: String::new(),
        symbol: symbol.into(),
        bounds: Bounds::new(name, pct(lo), pct(hi)).unwrap(),
    };
    let table = FactorTable::new(vec![
        factor("Equity", "SPX", -30.0, 20.0),
        factor("Rates", "TLT", -10.0, 10.0),
        factor("Individual Stocks", "", -50.0, 50.0),
    ])
    .unwrap();
    let currency = |code: &str| exfee_model::FxFactor {
        currency: code.parse().unwrap(),
        bounds: Bounds::new(code, pct(-9.9), pct(9.9)).unwrap(),
    };
    let fx = FxTable::new(vec![currency("EUR"), currency("GBP")]).unwrap();
    let matrix = crate::parse_correlation(
        "c.csv",
        ",Equity,Rates,EUR,GBP,Equity Volatility\n\
         Equity,1,0.2,0.1,0.1,-0.7\n\
         Rates,0.2,1,0,0.1,0\n\
         EUR,0.1,0,1,0.5,0\n\
         GBP,0.1,0.1,0.5,1,0\n\
         Equity Volatility,-0.7,0,0,0,1\n"
            .as_bytes(),
    )
    .unwrap();
    let config = ScenarioConfig::parse(
        "t.toml",
        "factor_table = 'f'\nfx_table = 'x'\ncorrelation = 'c'\nseed = 5\nscenarios = 200\n",
    )
    .unwrap();
    ScenarioSpec::new(config, table, fx, matrix).unwrap()
}

#[test]
fn a_common_keeper_keeps_the_fills_draws_bit_for_bit() {
    // The factors', currencies' and volatility's moves an evaluation's
    // fills draw (blocks of 37 over the draws and the fixed scenarios after
    // them), kept, against a set of the same spec that draws them when
    // first asked.
    let spec = spec_with_currencies();
    let held = || stocks(&[("AAA", 0.2), ("BMW", 0.3)]);
    let set = ScenarioSet::monte_carlo(&spec, held()).unwrap();
    let drawn = ScenarioSet::monte_carlo(&spec, held()).unwrap();
    let fill_all = |set: &ScenarioSet, keeper: &mut crate::CommonKeeper<'_>, order: &[usize]| {
        let mut block = MoveBlock::default();
        for &start in order {
            set.fill(start..(start + 37).min(set.len()), &mut block);
            keeper.take(&block);
        }
    };
    let starts: Vec<usize> = (0..set.len()).step_by(37).collect();
    let mut keeper = set.common_keeper().unwrap();
    fill_all(&set, &mut keeper, &starts);
    assert!(!set.keeps_common());
    keeper.keep();
    assert!(set.keeps_common());
    assert!(set.common_keeper().is_none());
    let (kept, fresh) = (set.kept_draws(&[]).unwrap(), drawn.kept_draws(&[]).unwrap());
    assert_eq!(kept.len(), 200);
    for i in 0..set.factor_table().factors().len() {
        assert_eq!(
            bits_of(kept.factor(i)),
            bits_of(fresh.factor(i)),
            "factor {i}"
        );
    }
    for i in 0..set.fx_table().currencies().len() {
        assert_eq!(
            bits_of(kept.currency(i)),
            bits_of(fresh.currency(i)),
            "currency {i}"
        );
    }
    assert_eq!(bits_of(kept.vol()), bits_of(fresh.vol()));
    // Blocks out of order, or stopping short of the last draw: nothing kept.
    let mut swapped = starts.clone();
    swapped.swap(1, 2);
    for order in [&swapped[..], &starts[..5]] {
        let set = ScenarioSet::monte_carlo(&spec, held()).unwrap();
        let mut keeper = set.common_keeper().unwrap();
        fill_all(&set, &mut keeper, order);
        keeper.keep();
        assert!(!set.keeps_common());
    }
    // A fixed stress set has no draws to keep.
    let fixed =
        ScenarioSet::fixed_stress(set.factor_table().clone(), set.fx_table().clone(), held());
    assert!(fixed.common_keeper().is_none());
}

#[test]
fn fill_selected_columns_gives_the_named_columns_bit_for_bit_and_zero_elsewhere() {
    // Two drawn factors and two currencies: one of each named.
    let spec = spec_with_currencies();
    let set = ScenarioSet::monte_carlo(
        &spec,
        stocks(&[("AAA", 0.2), ("AAPL", 0.35), ("BMW", 0.3), ("ZZZ", 0.5)]),
    )
    .unwrap();
    let whole = all_moves(&set);
    let k = set.factor_table().factors().len();
    let c = set.fx_table().currencies().len();
    assert_eq!((k, c), (2, 2));
    // Rates and GBP move in the draws: left out, they must read zero.
    assert!(whole.factor(1)[..200].iter().any(|&m| m != 0.0));
    assert!(whole.currency(1)[..200].iter().any(|&m| m != 0.0));
    let (factors, currencies, chosen) = ([0], [0], [2]);
    let mut block = MoveBlock::default();
    // Ranges that cross the draw/fixed boundary and past the end, after a
    // fill of every column (nothing of it may stay behind).
    for start in (0..set.len() + 10).step_by(41) {
        set.fill(0..set.len(), &mut block);
        set.fill_selected_columns(
            start..start + 41,
            &mut block,
            &chosen,
            &factors,
            &currencies,
        );
        let end = (start + 41).min(set.len());
        let r = start.min(end)..end;
        let fixed_shock = |s: usize, factor: Option<usize>, currency: Option<usize>| {
            s.checked_sub(set.draw_count())
                .and_then(|i| set.fixed().get(i))
                .is_some_and(|f| match f.shock {
                    crate::Shock::Factor { index, .. } => Some(index) == factor,
                    crate::Shock::Currency { index, .. } => Some(index) == currency,
                    _ => false,
                })
        };
        for i in 0..k {
            for (j, s) in r.clone().enumerate() {
                let want = if factors.contains(&i) || fixed_shock(s, Some(i), None) {
                    whole.factor(i)[s]
                } else {
                    0.0
                };
                assert_eq!(
                    block.factor(i)[j].to_bits(),
                    want.to_bits(),
                    "factor {i} scenario {s}"
                );
            }
        }
        for i in 0..c {
            for (j, s) in r.clone().enumerate() {
                let want = if currencies.contains(&i) || fixed_shock(s, None, Some(i)) {
                    whole.currency(i)[s]
                } else {
                    0.0
                };
                assert_eq!(
                    block.currency(i)[j].to_bits(),
                    want.to_bits(),
                    "currency {i} scenario {s}"
                );
            }
        }
        assert_eq!(bits_of(block.vol()), bits_of(&whole.vol()[r.clone()]));
        assert_eq!(bits_of(block.stock(2)), bits_of(&whole.stock(2)[r.clone()]));
    }
}

fn bits_of(values: &[f64]) -> Vec<u64> {
    values.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_stocks_own_move_does_not_depend_on_the_other_stocks() {
    let spec = small_spec(&FOUR, &TARGET, "seed = 2\nscenarios = 500\n");
    let alone = ScenarioSet::monte_carlo(&spec, stocks(&[("AAPL", 0.35)])).unwrap();
    let crowd =
        ScenarioSet::monte_carlo(&spec, stocks(&[("ZZZ", 0.5), ("AAPL", 0.35), ("AAA", 0.2)]))
            .unwrap();
    let (a, b) = (all_moves(&alone), all_moves(&crowd));
    let draws = alone.draw_count();
    assert_eq!(draws, crowd.draw_count());
    let own = &a.stock(alone.stock_index("AAPL").unwrap())[..draws];
    assert_eq!(own, &b.stock(crowd.stock_index("AAPL").unwrap())[..draws]);
    for i in 0..FOUR.len() {
        assert_eq!(&a.factor(i)[..draws], &b.factor(i)[..draws]);
    }
    assert_eq!(&a.vol()[..draws], &b.vol()[..draws]);
    // Different symbols, different draws.
    assert_ne!(own, &b.stock(crowd.stock_index("AAA").unwrap())[..draws]);
    // Fixed scenarios: factors and vol first, stocks last.
    assert_eq!(alone.name(draws), Some("F0@-30%"));
    assert_eq!(crowd.name(draws + 8), Some("V@-30%"));
    assert_eq!(crowd.name(draws + 9), Some("V@+150%"));
    assert_eq!(crowd.name(draws + 10), Some("AAA@-50%"));
    assert_eq!(crowd.len(), draws + 10 + 6);
    // Another seed, other draws.
    let other = small_spec(&FOUR, &TARGET, "seed = 3\nscenarios = 500\n");
    let other = all_moves(&ScenarioSet::monte_carlo(&other, stocks(&[("AAPL", 0.35)])).unwrap());
    assert_ne!(&other.factor(0)[..draws], &a.factor(0)[..draws]);
    assert_ne!(&other.stock(0)[..draws], own);
}

/// The worst move of a factor over the set is its lower bound, reached in
/// the named fixed scenario (so a long-only single-factor portfolio's worst
/// loss is its loss at that bound).
#[test]
fn fixed_scenarios_are_appended_with_their_names() {
    let spec = small_spec(&FOUR, &TARGET, "seed = 4\nscenarios = 200\n");
    let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
    let block = all_moves(&set);
    assert_eq!(set.draw_count(), 200);
    assert_eq!(set.len(), 200 + 2 * 4 + 2);
    assert!((0..200).all(|i| set.name(i).is_none()));
    let lowest = block
        .factor(0)
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    assert_eq!(lowest, -0.30);
    assert_eq!(set.name(200), Some("F0@-30%"));
    assert_eq!(block.factor(0)[200], -0.30);
    assert_eq!(set.name(201), Some("F0@+20%"));
    assert_eq!(set.name(208), Some("V@-30%"));
    assert_eq!(block.vol()[208], -0.30);
    assert_eq!(block.vol()[209], 1.50);
    assert_eq!(block.factor(0)[208], 0.0);
    assert_eq!(set.equity_vol_name(), "V");

    let without = small_spec(
        &FOUR,
        &TARGET,
        "seed = 4\nscenarios = 200\ninclude_fixed = false\n",
    );
    let without = ScenarioSet::monte_carlo(&without, vec![]).unwrap();
    assert_eq!(without.len(), 200);
    assert!(without.fixed().is_empty());
}

/// Pins the first draw of a seed: a change here means every scenario set
/// changed (e.g. a dependency altered its sampling), which must be a
/// deliberate, documented decision.
#[test]
fn draws_are_pinned() {
    let spec = small_spec(&FOUR, &TARGET, "seed = 1\nscenarios = 3\n");
    let set = ScenarioSet::monte_carlo(&spec, stocks(&[("AAPL", 0.35)])).unwrap();
    let block = all_moves(&set);
    let got = [
        block.factor(0)[0],
        block.factor(3)[2],
        block.vol()[1],
        block.stock(0)[0],
    ];
    let pinned = PINNED;
    for (g, p) in got.iter().zip(pinned) {
        assert!((g - p).abs() < 1e-12, "got {got:?}, pinned {pinned:?}");
    }
}

const PINNED: [f64; 4] = [
    -0.064_520_229_242_460_87,
    -0.028_100_957_731_791_5,
    0.102_920_061_934_090_06,
    -0.072_825_568_429_081_13,
];

#[test]
fn spec_checks_names_and_definiteness() {
    let config = |extra: &str| {
        ScenarioConfig::parse(
            "t.toml",
            &format!("factor_table = 'f'\nfx_table = 'x'\ncorrelation = 'c'\nseed = 1\n{extra}"),
        )
        .unwrap()
    };
    let table = FactorTable::new(vec![
        PrimaryFactor {
            name: "Equity".into(),
            representative: String::new(),
            symbol: "SPX".into(),
            bounds: Bounds::new("Equity", pct(-30.0), pct(20.0)).unwrap(),
        },
        PrimaryFactor {
            name: "Individual Stocks".into(),
            representative: String::new(),
            symbol: String::new(),
            bounds: Bounds::new("stocks", pct(-50.0), pct(50.0)).unwrap(),
        },
    ])
    .unwrap();
    let fx = FxTable::new(vec![exfee_model::FxFactor {
        currency: "EUR".parse().unwrap(),
        bounds: Bounds::new("EUR", pct(-9.9), pct(9.9)).unwrap(),
    }])
    .unwrap();
    let parse = |text: &str| crate::parse_correlation("c.csv", text.as_bytes()).unwrap();

    // Missing and extra names, all listed.
    let wrong = parse(",Equity,USD,VIX\nEquity,1,0,0\nUSD,0,1,0\nVIX,0,0,1\n");
    let err = ScenarioSpec::new(config(""), table.clone(), fx.clone(), wrong).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ScenarioError::NamesMismatch { .. }));
    assert!(text.contains("EUR, Equity Volatility"), "{text}");
    assert!(text.contains("not in the tables: USD, VIX"), "{text}");

    // Order in the file is free.
    let shuffled = parse(
        ",Equity Volatility,EUR,Equity\nEquity Volatility,1,0.1,-0.7\nEUR,0.1,1,0.2\nEquity,-0.7,0.2,1\n",
    );
    let spec = ScenarioSpec::new(config(""), table.clone(), fx.clone(), shuffled).unwrap();
    assert_eq!(
        spec.variable_names(),
        ["Equity", "EUR", "Equity Volatility"]
    );
    assert_eq!(spec.used_correlation()[(0, 2)], -0.7);
    assert_eq!(spec.used_correlation()[(0, 1)], 0.2);

    // Not PSD: rejected, or repaired on request.
    let indefinite =
        ",Equity,EUR,Equity Volatility\nEquity,1,1,0\nEUR,1,1,1\nEquity Volatility,0,1,1\n";
    let err =
        ScenarioSpec::new(config(""), table.clone(), fx.clone(), parse(indefinite)).unwrap_err();
    assert!(
        matches!(
            err,
            ScenarioError::Correlation(CorrelationError::NotPositiveSemidefinite { min_eigenvalue, .. })
                if min_eigenvalue < -0.4
        ),
        "{err}"
    );
    assert!(err.to_string().contains("repair_correlation = true"));
    let spec = ScenarioSpec::new(
        config("repair_correlation = true\nscenarios = 50\n"),
        table.clone(),
        fx.clone(),
        parse(indefinite),
    )
    .unwrap();
    let repair = spec.repair().unwrap();
    // Higham's 3×3 example: ‖A − X‖_F = √(4(1−a)² + 2b²) ≈ 0.5278.
    assert!(
        (repair.frobenius_change - 0.5278).abs() < 1e-3,
        "{repair:?}"
    );
    assert!(repair.converged);
    assert!((spec.used_correlation()[(0, 1)] - 0.7607).abs() < 1e-4);
    let set = ScenarioSet::monte_carlo(&spec, vec![]).unwrap();
    assert_eq!(set.len(), 50 + 6);

    // A name used twice.
    let mut clash = config("");
    clash.equity_vol.name = "EUR".into();
    let err = ScenarioSpec::new(
        clash,
        table.clone(),
        fx.clone(),
        parse(",Equity,EUR\nEquity,1,0\nEUR,0,1\n"),
    )
    .unwrap_err();
    assert!(matches!(err, ScenarioError::NameCollision { .. }), "{err}");

    // A bad own volatility.
    let spec = ScenarioSpec::new(config(""), table, fx, parse(
        ",Equity,EUR,Equity Volatility\nEquity,1,0,-0.7\nEUR,0,1,0\nEquity Volatility,-0.7,0,1\n",
    ))
    .unwrap();
    for vol in [f64::NAN, -0.1, f64::INFINITY] {
        let err = ScenarioSet::monte_carlo(&spec, stocks(&[("X", vol)])).unwrap_err();
        assert!(matches!(err, ScenarioError::BadIdioVol { .. }), "{err}");
    }
}

/// Every own move of a set equals the draw as specified, computed here
/// from its definition with rand_chacha and statrs one draw at a time (the
/// generator the multi-lane ChaCha20 replaced): key = seed (LE) |
/// `IDIOSYN\0` | FNV-1a(symbol) (LE) | 0, stream 0, draw i = the i-th
/// `next_u64` x → p = ((x >> 11) + ½)·2⁻⁵³ → z = −√2·erfc⁻¹(2p) →
/// t = clamp(z·((σ/σ_ref)/z_idio), −1, 1) → t·upper (t ≥ 0) or −lower·t,
/// whatever the block split, and over scenario ranges starting anywhere.
#[test]
fn own_moves_equal_rand_chacha_and_statrs_draw_by_draw() {
    own_moves_equal_their_definition("", |p| {
        -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
    });
}

/// Draw version 2: the same words and mapping, Φ⁻¹ by the scalar AS 241
/// function (the vector lanes the set runs must equal it draw by draw).
#[test]
fn own_moves_of_version_2_equal_rand_chacha_and_as241_draw_by_draw() {
    own_moves_equal_their_definition("draw_version = 2\n", crate::normal_quantile_v2);
}

fn own_moves_equal_their_definition(version: &str, quantile: fn(f64) -> f64) {
    use rand::{Rng, SeedableRng};
    const N: usize = 3_001;
    let spec = small_spec(
        &FOUR,
        &TARGET,
        &format!("seed = 11\nscenarios = {N}\n{version}"),
    );
    let list = [
        ("A", 0.35),
        ("BRK.B", 0.12),
        ("LONGSYMBOL", 0.9),
        ("Z", 0.0),
        ("X1", 2.5),
    ];
    let set = ScenarioSet::monte_carlo(&spec, stocks(&list)).unwrap();
    let (lower, upper) = (-0.5, 0.5);
    let reference = crate::DEFAULT_IDIO_VOL;
    let z_idio = crate::DEFAULT_IDIO_Z_AT_BOUND;
    let oracle = |symbol: &str, vol: f64| -> Vec<u64> {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &byte in symbol.as_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&11u64.to_le_bytes());
        key[8..16].copy_from_slice(b"IDIOSYN\0");
        key[16..24].copy_from_slice(&hash.to_le_bytes());
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(key);
        (0..N)
            .map(|_| {
                let p = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
                let z = quantile(p);
                let t = (z * ((vol / reference) / z_idio)).clamp(-1.0, 1.0);
                let m = if t >= 0.0 { upper * t } else { -lower * t };
                m.clamp(lower, upper).to_bits()
            })
            .collect()
    };
    let whole = all_moves(&set);
    for (symbol, vol) in list {
        let want = oracle(symbol, vol);
        let index = set.stock_index(symbol).unwrap();
        assert_eq!(
            bits_of(&whole.stock(index)[..N]),
            want,
            "{symbol}, one block"
        );
        // Blocks of 37 scenarios (starting off every ChaCha block edge).
        let mut block = MoveBlock::default();
        let mut got = Vec::new();
        for start in (0..N).step_by(37) {
            set.fill(start..(start + 37).min(N), &mut block);
            got.extend(bits_of(block.stock(index)));
        }
        assert_eq!(got, want, "{symbol}, blocks of 37");
        // Any start and length through the public own-move call.
        for (start, len) in [
            (0, 1),
            (1, 7),
            (5, 8),
            (7, 9),
            (8, 16),
            (13, 300),
            (2_990, 50),
        ] {
            let mut out = vec![0.0; len];
            let n = set.own_moves(index, start..start + len, &mut out);
            assert_eq!(n, len.min(N - start));
            assert_eq!(
                bits_of(&out[..n]),
                want[start..start + n],
                "{symbol} {start}+{len}"
            );
        }
    }
}

/// Draw version 2's own scores are standard normal: over N = 200,000 draws
/// of one stock, the mean within 4/√N, the variance within 4·√(2/N) of 1,
/// the skewness within 4·√(6/N) of 0, the excess kurtosis within
/// 4·√(24/N) of 0 (the standard errors of the sample moments of a
/// normal), and the Kolmogorov–Smirnov distance to Φ below 1.95/√N (its
/// 0.1 % critical value); the same checks hold for version 1 on the same
/// seed.
#[test]
fn own_scores_of_both_versions_are_standard_normal() {
    const N: usize = 200_000;
    let n = N as f64;
    for version in ["", "draw_version = 2\n"] {
        let spec = small_spec(
            &FOUR,
            &TARGET,
            &format!("seed = 31\nscenarios = {N}\ninclude_fixed = false\n{version}"),
        );
        let set = ScenarioSet::monte_carlo(&spec, stocks(&[("NORM", 0.35)])).unwrap();
        let mut z = set.idio_scores(0, 0..N);
        let mean = z.iter().sum::<f64>() / n;
        let moment = |k: i32| z.iter().map(|x| (x - mean).powi(k)).sum::<f64>() / n;
        let (m2, m3, m4) = (moment(2), moment(3), moment(4));
        let skew = m3 / m2.powf(1.5);
        let kurt = m4 / (m2 * m2) - 3.0;
        assert!(mean.abs() < 4.0 / n.sqrt(), "{version:?}: mean {mean}");
        assert!(
            (m2 - 1.0).abs() < 4.0 * (2.0 / n).sqrt(),
            "{version:?}: var {m2}"
        );
        assert!(
            skew.abs() < 4.0 * (6.0 / n).sqrt(),
            "{version:?}: skew {skew}"
        );
        assert!(
            kurt.abs() < 4.0 * (24.0 / n).sqrt(),
            "{version:?}: kurt {kurt}"
        );
        z.sort_by(f64::total_cmp);
        let ks = z
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = phi(x);
                (f - i as f64 / n).abs().max((f - (i + 1) as f64 / n).abs())
            })
            .fold(0.0f64, f64::max);
        assert!(ks < 1.95 / n.sqrt(), "{version:?}: KS {ks}");
    }
}

/// Version 2 is another set than version 1 of the same configuration: the
/// factors, currencies, volatility and fixed scenarios are the same bits,
/// the own moves are not (in some draws), and each own move is version 1's
/// to within 2·10⁻¹⁵ relative (the two Φ⁻¹ agree that closely: see
/// `as241`'s tests), so a version-2 set moves a portfolio as version 1 did
/// but for the last bits.
#[test]
fn version_2_differs_from_version_1_in_the_own_moves_only() {
    let make = |version: &str| {
        let spec = small_spec(
            &FOUR,
            &TARGET,
            &format!("seed = 6\nscenarios = 5000\n{version}"),
        );
        let set = ScenarioSet::monte_carlo(&spec, stocks(&[("AAPL", 0.35), ("BMW", 0.9)])).unwrap();
        let block = all_moves(&set);
        (set, block)
    };
    let (set1, one) = make("");
    let (set2, two) = make("draw_version = 2\n");
    assert_eq!(set1.len(), set2.len());
    for i in 0..FOUR.len() {
        assert_eq!(bits_of(one.factor(i)), bits_of(two.factor(i)));
    }
    assert_eq!(bits_of(one.vol()), bits_of(two.vol()));
    for stock in 0..2 {
        let (a, b) = (one.stock(stock), two.stock(stock));
        let differ = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert!(differ > 0, "stock {stock}: version 2 drew the same bits");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 2e-15 * x.abs(), "{x} vs {y}");
        }
        // The fixed scenarios after the draws are the same.
        let draws = set1.draw_count();
        assert_eq!(bits_of(&a[draws..]), bits_of(&b[draws..]));
    }
}

/// Rate of a version-2 set's own moves, one core, 32 stocks × 10,000
/// draws, and of its parts (the ChaCha20 probabilities alone, Φ⁻¹ alone),
/// best of 15 (prints, asserts nothing about time; `EXFEE_SIMD=avx2` for
/// the AVX2 build):
/// `cargo test --release -p exfee-scenarios own_moves_v2_rate -- --ignored --nocapture`.
#[test]
#[ignore]
fn own_moves_v2_rate() {
    const N: usize = 10_000;
    let spec = small_spec(
        &FOUR,
        &TARGET,
        &format!("seed = 11\nscenarios = {N}\ndraw_version = 2\n"),
    );
    let list: Vec<(String, f64)> = (0..32)
        .map(|i| (format!("S{i:04}"), 0.2 + 0.01 * f64::from(i)))
        .collect();
    let list: Vec<(&str, f64)> = list.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    let set = ScenarioSet::monte_carlo(&spec, stocks(&list)).unwrap();
    let key = [7u8; 32];
    let mut probabilities = vec![0.0; 32 * N];
    crate::chacha::own_probabilities(&key, 0, &mut probabilities);
    let mut out = vec![0.0; N];
    let mut best = [f64::MAX; 3];
    for _ in 0..15 {
        let t = std::time::Instant::now();
        for stock in 0..32 {
            set.own_moves(stock, 0..N, &mut out);
        }
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        std::hint::black_box(&out);
        let t = std::time::Instant::now();
        for start in 0..32 {
            crate::chacha::own_probabilities(&key, start * N, &mut out);
        }
        best[1] = best[1].min(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        for start in 0..32 {
            out.copy_from_slice(&probabilities[start * N..(start + 1) * N]);
            crate::normal_quantiles_v2(std::hint::black_box(&mut out));
        }
        best[2] = best[2].min(t.elapsed().as_secs_f64());
    }
    let ns = best.map(|b| b * 1e9 / (32 * N) as f64);
    println!(
        "{}: own moves v2 {:.2} ns/draw; ChaCha20 probabilities {:.2}; Φ⁻¹ v2 {:.2} (+ a copy)",
        exfee_simd::widest().name(),
        ns[0],
        ns[1],
        ns[2]
    );
}
