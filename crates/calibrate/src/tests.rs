//! Every estimator against values worked out independently.

use chrono::NaiveDate;
use nalgebra::DMatrix;
use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

use crate::stats::*;
use crate::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn ewma_variance_by_hand() {
    assert_eq!(ewma_lambda(1.0), 0.5);
    assert!(close(ewma_lambda(30.0).powf(30.0), 0.5, 1e-15));
    // λ = 0.5; seed = (1e-4 + 4e-4 + 9e-4)/3.
    let v = ewma_variance(&[0.01, -0.02, 0.03], 0.5);
    let seed = 14e-4 / 3.0;
    let v2 = 0.5 * seed + 0.5 * 1e-4;
    let v3 = 0.5 * v2 + 0.5 * 4e-4;
    assert_eq!(v.len(), 3);
    assert!(close(v[0], seed, 1e-18));
    assert!(close(v[1], 2.833_333_333e-4, 1e-12) && close(v[1], v2, 1e-18));
    assert!(close(v[2], 3.416_666_667e-4, 1e-12) && close(v[2], v3, 1e-18));
}

#[test]
fn sample_correlation_by_hand() {
    // x = 1..4, y = 2,1,4,3: Sxy = 3, Sxx = Syy = 5, ρ = 0.6.
    let x = DMatrix::from_row_slice(4, 2, &[1.0, 2.0, 2.0, 1.0, 3.0, 4.0, 4.0, 3.0]);
    let c = correlation(&x).unwrap();
    assert!(close(c[(0, 1)], 0.6, 1e-15) && close(c[(1, 0)], 0.6, 1e-15));
    assert_eq!(c[(0, 0)], 1.0);
    let constant = DMatrix::from_row_slice(3, 2, &[1.0, 1.0, 2.0, 1.0, 3.0, 1.0]);
    assert!(correlation(&constant).is_none());
}

#[test]
fn ledoit_wolf_by_hand() {
    // Same data: standardised rows (divisor n = 4, sd = √1.25):
    // x = (−1.5, −.5, .5, 1.5)/√1.25, y = (−.5, −1.5, 1.5, .5)/√1.25,
    // S = [[1, .6], [.6, 1]], d² = ‖S − I‖² = 2·0.36 = 0.72.
    let x = DMatrix::from_row_slice(4, 2, &[1.0, 2.0, 2.0, 1.0, 3.0, 4.0, 4.0, 3.0]);
    let (est, delta) = ledoit_wolf(&x).unwrap();
    let sd = 1.25f64.sqrt();
    let xs = [-1.5, -0.5, 0.5, 1.5].map(|v| v / sd);
    let ys = [-0.5, -1.5, 1.5, 0.5].map(|v| v / sd);
    let mut b2 = 0.0;
    for t in 0..4 {
        // ‖x_t x_tᵀ − S‖² summed entry by entry.
        b2 += (xs[t] * xs[t] - 1.0).powi(2)
            + (ys[t] * ys[t] - 1.0).powi(2)
            + 2.0 * (xs[t] * ys[t] - 0.6).powi(2);
    }
    b2 /= 16.0;
    let expected = b2.min(0.72) / 0.72;
    assert!(close(delta, expected, 1e-12), "{delta} vs {expected}");
    assert!(close(est[(0, 1)], (1.0 - expected) * 0.6, 1e-12));
    assert_eq!(est[(1, 1)], 1.0);
}

#[test]
fn regression_with_a_known_beta() {
    // y = 0.5 + 2x + e with e ⟂ 1 and e ⟂ x: β = 2, α = 0.5 exactly;
    // SSE = 4, Syy = 4·10 + 4 = 44, R² = 10/11, residual sd = √(4/3).
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let e = [1.0, -1.0, 0.0, -1.0, 1.0];
    let y: Vec<f64> = x.iter().zip(e).map(|(x, e)| 0.5 + 2.0 * x + e).collect();
    let fit = ols(&x, &y).unwrap();
    assert!(close(fit.beta, 2.0, 1e-12) && close(fit.alpha, 0.5, 1e-12));
    assert!(close(fit.r2, 10.0 / 11.0, 1e-12));
    assert!(close(fit.residual_sd, (4.0f64 / 3.0).sqrt(), 1e-12));
    assert_eq!(fit.n, 5);
    assert!(ols(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
}

#[test]
fn t_copula_density_matches_the_bivariate_formula() {
    let (nu, rho) = (4.0, 0.5);
    let u = DMatrix::from_row_slice(1, 2, &[0.9, 0.2]);
    let r = DMatrix::from_row_slice(2, 2, &[1.0, rho, rho, 1.0]);
    let t = StudentsT::new(0.0, 1.0, nu).unwrap();
    let (x1, x2) = (t.inverse_cdf(0.9), t.inverse_cdf(0.2));
    // Bivariate t density: Γ((ν+2)/2) / (Γ(ν/2)·νπ·√(1−ρ²)) ·
    // (1 + (x1² − 2ρx1x2 + x2²)/(ν(1−ρ²)))^(−(ν+2)/2); Γ(3) = 2, Γ(2) = 1.
    let q = (x1 * x1 - 2.0 * rho * x1 * x2 + x2 * x2) / (nu * (1.0 - rho * rho));
    let g = 2.0 / (nu * std::f64::consts::PI * (1.0 - rho * rho).sqrt()) * (1.0 + q).powf(-3.0);
    let expected = (g / (t.pdf(x1) * t.pdf(x2))).ln();
    let got = t_copula_loglik(&u, &r, nu).unwrap();
    assert!(close(got, expected, 1e-10), "{got} vs {expected}");
    // Gaussian copula density: (1−ρ²)^(−½)·exp(−(ρ²z1² − 2ρz1z2 + ρ²z2²)/(2(1−ρ²))).
    let n = statrs::distribution::Normal::standard();
    let (z1, z2) = (n.inverse_cdf(0.9), n.inverse_cdf(0.2));
    let expected = -0.5 * (1.0 - rho * rho).ln()
        - (rho * rho * z1 * z1 - 2.0 * rho * z1 * z2 + rho * rho * z2 * z2)
            / (2.0 * (1.0 - rho * rho));
    assert!(close(
        gaussian_copula_loglik(&u, &r).unwrap(),
        expected,
        1e-10
    ));
}

/// n draws of a 3-variable t copula (ν) or Gaussian copula (ν = ∞) with
/// all correlations 0.5, as pseudo-observations.
fn copula_sample(nu: Option<f64>, n: usize, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    use rand::SeedableRng;
    use rand_distr::{ChiSquared, Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let r = DMatrix::from_fn(3, 3, |i, j| if i == j { 1.0 } else { 0.5 });
    let l = r.clone().cholesky().unwrap().l();
    let x = DMatrix::from_fn(n, 3, |_, _| 0.0);
    let mut x = x;
    for i in 0..n {
        let z = nalgebra::DVector::from_fn(3, |_, _| StandardNormal.sample(&mut rng));
        let y = &l * z;
        let w = nu.map_or(1.0, |nu| {
            let c: f64 = ChiSquared::new(nu).unwrap().sample(&mut rng);
            (nu / c).sqrt()
        });
        for j in 0..3 {
            x[(i, j)] = y[j] * w;
        }
    }
    (pseudo_observations(&x), r)
}

#[test]
fn nu_is_recovered_by_maximum_likelihood() {
    let (u, r) = copula_sample(Some(4.0), 1500, 11);
    let (nu, ll, gauss) = fit_nu(&u, &r).unwrap();
    assert!((2.8..6.0).contains(&nu), "ν = {nu}");
    assert!(ll > gauss + 10.0, "{ll} vs {gauss}");
    let (u, r) = copula_sample(None, 1500, 12);
    let (nu, _, _) = fit_nu(&u, &r).unwrap();
    assert!(nu > 20.0, "Gaussian sample fitted ν = {nu}");
}

#[test]
fn pseudo_observations_are_ranks() {
    let x = DMatrix::from_row_slice(3, 1, &[5.0, -1.0, 2.0]);
    let u = pseudo_observations(&x);
    assert_eq!(u.as_slice(), &[0.75, 0.25, 0.5]);
}

#[test]
fn embedding_keeps_both_blocks_and_stays_psd() {
    let base = DMatrix::from_row_slice(3, 3, &[1.0, 0.2, 0.3, 0.2, 1.0, 0.4, 0.3, 0.4, 1.0]);
    let est = DMatrix::from_row_slice(2, 2, &[1.0, -0.95, -0.95, 1.0]);
    let out = embed_block(&base, &[2, 0], &est).unwrap();
    assert!(close(out[(2, 0)], -0.95, 1e-15) && close(out[(0, 2)], -0.95, 1e-15));
    assert_eq!(out[(1, 1)], 1.0);
    let min = out.clone().symmetric_eigen().eigenvalues.min();
    assert!(min > 0.0, "{min}");
    // The base block itself changes nothing.
    let same = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.3, 1.0]);
    let out = embed_block(&base, &[0, 2], &same).unwrap();
    assert!((out - &base).abs().max() < 1e-12);
}

#[test]
fn kupiec_by_hand() {
    // 5 exceedances in 250 days at p = 1 %:
    // LR = −2[245 ln .99 + 5 ln .01 − 245 ln .98 − 5 ln .02] = 1.956810;
    // P(χ²₁ > 1.956810) = 0.161855.
    let (lr, p) = kupiec(250, 5, 0.01).unwrap();
    assert!(close(lr, 1.956_810, 1e-6), "{lr}");
    assert!(close(p, 0.161_855, 1e-6), "{p}");
    // χ²₁'s 95 % quantile is 3.841459: a statistic there has p = 0.05.
    let (lr0, p0) = kupiec(250, 0, 0.01).unwrap();
    assert!(close(lr0, -2.0 * 250.0 * 0.99f64.ln(), 1e-12));
    assert!(p0 < 0.05 && p0 > 0.0);
    assert!(kupiec(0, 0, 0.01).is_none());
}

#[test]
fn christoffersen_by_hand() {
    // 0000111000: n00 = 5, n01 = 1, n10 = 1, n11 = 2; π0 = 1/6, π1 = 2/3,
    // π = 1/3. LR = −2[6 ln(2/3) + 3 ln(1/3) − 5 ln(5/6) − ln(1/6) −
    // ln(1/3) − 2 ln(2/3)] = 2.231436.
    let hits = [0, 0, 0, 0, 1, 1, 1, 0, 0, 0].map(|v| v == 1);
    let (lr, p) = christoffersen(&hits).unwrap();
    assert!(close(lr, 2.231_436, 1e-6), "{lr}");
    // P(χ²₁ > 2.231436) = 0.135225.
    assert!(close(p, 0.135_225, 1e-5), "{p}");
    // No clustering: π0 = π1 = π, LR = 0.
    let hits = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0].map(|v| v == 1);
    assert!(close(christoffersen(&hits).unwrap().0, 0.0, 1e-12));
}

#[test]
fn basel_traffic_light() {
    // Basel Committee (1996), table 2: 250 days at 99 %.
    assert!(close(binomial_cdf(250, 0, 0.01), 0.0811, 5e-5));
    assert!(close(binomial_cdf(250, 4, 0.01), 0.8922, 5e-5));
    assert!(close(binomial_cdf(250, 5, 0.01), 0.9588, 5e-5));
    assert_eq!(traffic_light(250, 4), "green");
    assert_eq!(traffic_light(250, 5), "yellow");
    assert_eq!(traffic_light(250, 9), "yellow");
    assert_eq!(traffic_light(250, 10), "red");
    // At p = 1/1001 over 250 days: P(X = 0) = (1000/1001)^250 = 0.7789,
    // P(X ≤ 1) = 0.7789 + 250/1001·(1000/1001)^249 = 0.9736.
    assert!(close(binomial_cdf(250, 1, 1.0 / 1001.0), 0.9736, 5e-4));
    assert_eq!(traffic_light_at(250, 0, 1.0 / 1001.0), "green");
    assert_eq!(traffic_light_at(250, 1, 1.0 / 1001.0), "yellow");
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub(crate) fn tables() -> (exfee_model::FactorTable, exfee_model::FxTable) {
    use exfee_model::*;
    let b = |l: i64, u: i64| Bounds::new("t", Decimal::from(l), Decimal::from(u)).unwrap();
    let f = |name: &str, symbol: &str| PrimaryFactor {
        name: name.into(),
        representative: name.into(),
        symbol: symbol.into(),
        bounds: b(-30, 20),
    };
    let mut rows = vec![f("Equity", "SPX"), f("Oil (Crude Oil)", "CL")];
    rows.push(PrimaryFactor {
        name: "Individual Stocks".into(),
        representative: String::new(),
        symbol: String::new(),
        bounds: b(-50, 50),
    });
    let factors = FactorTable::new(rows).unwrap();
    let fx = FxTable::new(vec![
        FxFactor {
            currency: "EUR".parse().unwrap(),
            bounds: b(-10, 10),
        },
        FxFactor {
            currency: "JPY".parse().unwrap(),
            bounds: b(-12, 12),
        },
        FxFactor {
            currency: Currency::USD,
            bounds: b(-10, 10),
        },
    ])
    .unwrap();
    (factors, fx)
}

#[test]
fn roles_of_symbols() {
    let (f, fx) = tables();
    assert_eq!(
        role_of("SPX", &f, &fx, "VIX"),
        Role::Factor("Equity".into())
    );
    assert_eq!(
        role_of("EUR.USD", &f, &fx, "VIX"),
        Role::Currency("EUR".parse().unwrap(), 1.0)
    );
    assert_eq!(
        role_of("USD.JPY", &f, &fx, "VIX"),
        Role::Currency("JPY".parse().unwrap(), -1.0)
    );
    assert_eq!(role_of("VIX", &f, &fx, "VIX"), Role::EquityVol);
    assert_eq!(role_of("AAPL", &f, &fx, "VIX"), Role::Other);
    assert_eq!(role_of("GBP.USD", &f, &fx, "VIX"), Role::Other);
}

#[test]
fn devolatilised_correlation_worked_by_hand() {
    // Two symbols over 6 returns, half-life 1 (λ = 0.5); SPX's returns a,
    // CL's b. Each is divided by its own EWMA forecast, written here in
    // closed form v_t = λ^(t−1)·v_1 + (1−λ)·Σ_{i<t} λ^(t−1−i)·r_i².
    let a: [f64; 6] = [0.01, -0.02, 0.015, 0.03, -0.01, 0.005];
    let b: [f64; 6] = [0.02, -0.01, 0.03, 0.01, -0.03, 0.0];
    let mut rows = Vec::new();
    let dates: Vec<NaiveDate> = (0..7)
        .map(|i| d("2024-01-01") + chrono::Days::new(i))
        .collect();
    let (mut pa, mut pb) = (100.0f64, 50.0f64);
    for (i, date) in dates.iter().enumerate() {
        if i > 0 {
            pa *= a[i - 1].exp();
            pb *= b[i - 1].exp();
        }
        rows.push((*date, "SPX".to_string(), pa));
        rows.push((*date, "CL".to_string(), pb));
    }
    let history = History::from_rows(rows);
    let (f, fx) = tables();
    let options = Options {
        min_obs: 6,
        halflife: 1.0,
        ..Options::default()
    };
    let c = calibrate(&history, &f, &fx, &options).unwrap();
    let devol = |r: &[f64]| -> Vec<f64> {
        let seed = r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64;
        (0..r.len())
            .map(|t| {
                let mut v = 0.5f64.powi(i32::try_from(t).unwrap()) * seed;
                for (i, ri) in r.iter().enumerate().take(t) {
                    v += 0.5 * 0.5f64.powi(i32::try_from(t - 1 - i).unwrap()) * ri * ri;
                }
                r[t] / v.sqrt()
            })
            .collect()
    };
    let (ea, eb) = (devol(&a), devol(&b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&ea), mean(&eb));
    let cov: f64 = ea.iter().zip(&eb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ea.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = eb.iter().map(|y| (y - mb).powi(2)).sum();
    let rho = cov / (va * vb).sqrt();
    assert_eq!(c.names(), vec!["Equity", "Oil (Crude Oil)"]);
    assert!(
        close(c.sample[(0, 1)], rho, 1e-12),
        "{} vs {rho}",
        c.sample[(0, 1)]
    );
    assert_eq!(c.common_obs, 6);
    // Shrunk towards 0 by the reported intensity.
    assert!(close(
        c.correlation[(0, 1)],
        (1.0 - c.shrinkage) * rho,
        1e-12
    ));
}

#[test]
fn a_return_that_overflows_is_an_error_not_a_nan() {
    // CL closes 50, 1e-300, 1e10: 1e10 / 1e-300 = 1e310 overflows, so its
    // return on day 3 is +∞; SPX and a stock are ordinary. Whether CL is a
    // factor or the stock's only factor, the result is this error, never
    // a NaN beta or "a variable is constant".
    let mut rows = Vec::new();
    for i in 0..80u64 {
        let date = d("2024-01-01") + chrono::Days::new(i);
        let x = (i as f64 * 0.7).sin();
        rows.push((date, "SPX".to_string(), 100.0 + x));
        rows.push((date, "STK".to_string(), 50.0 + 2.0 * x));
        let cl = match i {
            1 => 1e-300,
            2 => 1e10,
            _ => 70.0 + x,
        };
        rows.push((date, "CL".to_string(), cl));
    }
    let history = History::from_rows(rows);
    let (f, fx) = tables();
    let options = Options {
        min_obs: 20,
        ..Options::default()
    };
    let err = calibrate(&history, &f, &fx, &options).unwrap_err();
    assert_eq!(
        err,
        CalibrationError::NonFiniteReturn {
            symbol: "CL".to_string(),
            date: d("2024-01-03"),
        }
    );
    // Least squares on a non-finite value has no fit.
    assert!(ols(&[1.0, 2.0, f64::INFINITY], &[1.0, 2.0, 3.0]).is_none());
    assert!(ols(&[1.0, 2.0, 3.0], &[1.0, f64::NAN, 3.0]).is_none());
}

#[test]
fn calibration_recovers_the_generators_parameters() {
    let rows = generate::synthetic_history(7, d("2024-01-01"), 650).unwrap();
    let history = History::from_rows(rows);
    let (f, fx) = tables();
    let c = calibrate(&history, &f, &fx, &Options::default()).unwrap();
    assert_eq!(
        c.names(),
        vec![
            "Equity",
            "Oil (Crude Oil)",
            "EUR",
            "JPY",
            "Equity Volatility"
        ]
    );
    let stock = |s: &str| c.stocks.iter().find(|x| x.symbol == s).unwrap();
    // AAPL = 1.15·M + own 24 %; SPX = M + own 1 %.
    let aapl = stock("AAPL");
    assert_eq!(aapl.factor, "Equity");
    assert!((1.0..1.3).contains(&aapl.fit.beta), "{}", aapl.fit.beta);
    // Own volatility 24 % long-run; a GARCH with persistence 0.98 wanders
    // far from it over two years (0.17–0.36 over seeds 1–7).
    assert!((0.12..0.40).contains(&aapl.idio_vol), "{}", aapl.idio_vol);
    // AMZN starts 250 days late: fewer returns.
    assert!(stock("AMZN").fit.n < aapl.fit.n);
    // The volatility index falls when equity rises (−0.06·z_M vs 0.05·η).
    let vix_equity = c.correlation[(4, 0)];
    assert!(vix_equity < -0.5, "{vix_equity}");
    // USD.JPY is inverted into JPY's value.
    assert!(c.variables[3].symbol == "USD.JPY");
    // The fitted ν shows the t(5) innovations' tail dependence is absent
    // (independent own shocks) or present; it must be a finite fit.
    let (nu, _, _) = c.nu.unwrap();
    assert!(nu.is_finite() && nu >= NU_RANGE.0);
}

#[test]
fn generated_history_has_fat_tails_and_clustering() {
    let rows = generate::synthetic_history(3, d("2024-01-01"), 1500).unwrap();
    let h = History::from_rows(rows);
    let r: Vec<f64> = h
        .log_returns(h.index_of("CL").unwrap())
        .into_iter()
        .flatten()
        .collect();
    let n = r.len() as f64;
    let m = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    let kurt = r.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n / (var * var);
    assert!(kurt > 4.0, "kurtosis {kurt}");
    let sq: Vec<f64> = r.iter().map(|x| (x - m).abs()).collect();
    let ms = sq.iter().sum::<f64>() / n;
    let num: f64 = sq.windows(2).map(|w| (w[0] - ms) * (w[1] - ms)).sum();
    let den: f64 = sq.iter().map(|x| (x - ms).powi(2)).sum();
    assert!(num / den > 0.05, "autocorrelation of |r| {}", num / den);
    // Same seed, same rows.
    assert_eq!(
        generate::synthetic_history(3, d("2024-01-01"), 50).unwrap(),
        generate::synthetic_history(3, d("2024-01-01"), 50).unwrap()
    );
}

#[test]
fn as_of_uses_no_later_data() {
    let rows = generate::synthetic_history(5, d("2024-01-01"), 400).unwrap();
    let cut = d("2025-01-15");
    let full = History::from_rows(rows.clone());
    let truncated = History::from_rows(rows.into_iter().filter(|r| r.0 <= cut));
    let (f, fx) = tables();
    let options = Options {
        as_of: Some(cut),
        ..Options::default()
    };
    let a = calibrate(&full, &f, &fx, &options).unwrap();
    let b = calibrate(&truncated, &f, &fx, &Options::default()).unwrap();
    assert_eq!(a.as_of, b.as_of);
    assert_eq!(a.correlation, b.correlation);
    assert_eq!(a.stocks, b.stocks);
    let early = Options {
        as_of: Some(d("2023-01-01")),
        ..Options::default()
    };
    let err = calibrate(&full, &f, &fx, &early).unwrap_err().to_string();
    assert!(err.contains("no date on or before 2023-01-01"), "{err}");
    // And later data does change it.
    let c = calibrate(&full, &f, &fx, &Options::default()).unwrap();
    assert_ne!(a.correlation, c.correlation);
}

#[test]
fn grouped_nu_test_tells_different_tails_apart() {
    // Two independent groups of three: a t(3) copula and a Gaussian one.
    let (ut, r) = copula_sample(Some(3.0), 1200, 21);
    let (ug, _) = copula_sample(None, 1200, 22);
    let u = DMatrix::from_fn(
        1200,
        6,
        |i, j| if j < 3 { ut[(i, j)] } else { ug[(i, j - 3)] },
    );
    let r6 = DMatrix::from_fn(6, 6, |i, j| {
        if i / 3 == j / 3 {
            r[(i % 3, j % 3)]
        } else {
            0.0
        }
    });
    let groups = vec![vec![0, 1, 2], vec![3, 4, 5]];
    let (own, _, lr, p) = grouped_nu_test(&u, &r6, &groups).unwrap();
    assert!(own[0].1 < 6.0 && own[1].1 > 15.0, "{own:?}");
    assert!(lr > 10.0 && p < 0.01, "{lr} {p}");
    // Both t(3): one ν serves.
    let (ut2, _) = copula_sample(Some(3.0), 1200, 23);
    let u = DMatrix::from_fn(
        1200,
        6,
        |i, j| if j < 3 { ut[(i, j)] } else { ut2[(i, j - 3)] },
    );
    let (_, _, _, p) = grouped_nu_test(&u, &r6, &groups).unwrap();
    assert!(p > 0.01, "{p}");
    assert!(grouped_nu_test(&u, &r6, &[vec![0, 1, 2], vec![3]]).is_none());
}

#[test]
fn rendered_files_parse_back() {
    let rows = generate::synthetic_history(9, d("2024-01-01"), 400).unwrap();
    let history = History::from_rows(rows);
    let (f, fx) = tables();
    let c = calibrate(&history, &f, &fx, &Options::default()).unwrap();
    let text = render::correlation_csv(&c.names(), &c.correlation);
    let parsed = exfee_scenarios::parse_correlation("c.csv", text.as_bytes()).unwrap();
    assert_eq!(parsed.names(), c.names().as_slice());
    assert!((parsed.matrix() - &c.correlation).abs().max() <= 5e-9);
    let base = exfee_scenarios::ScenarioConfig::parse(
        "b.toml",
        "factor_table = \"f\"\nfx_table = \"x\"\ncorrelation = \"c\"\nseed = 3\nscenarios = 77\n",
    )
    .unwrap();
    let set =
        exfee_scenarios::ScenarioConfig::parse("set.toml", &render::set_toml(&c, &base)).unwrap();
    assert_eq!(set.correlation, render::files::CORRELATION_FULL);
    assert_eq!((set.seed, set.scenarios), (3, 77));
    match c.copula_nu() {
        Some(nu) => assert_eq!(set.copula, Copula::StudentT { nu }),
        None => assert_eq!(set.copula, Copula::Gaussian),
    }
    // The base set's draw version is kept: 1 without the key, 2 with it.
    assert_eq!(set.draw_version, exfee_scenarios::DrawVersion::V1);
    assert!(!render::set_toml(&c, &base).contains("draw_version"));
    let v2 = exfee_scenarios::ScenarioConfig {
        draw_version: exfee_scenarios::DrawVersion::V2,
        ..base
    };
    let set =
        exfee_scenarios::ScenarioConfig::parse("set.toml", &render::set_toml(&c, &v2)).unwrap();
    assert_eq!(set.draw_version, exfee_scenarios::DrawVersion::V2);
    let factors = render::factors_csv(&c);
    assert_eq!(factors.lines().next(), Some("symbol,factor,beta,idio_vol"));
    assert_eq!(factors.lines().count(), c.stocks.len() + 1);
}

#[test]
fn the_report_has_every_section_in_order() {
    let rows = generate::synthetic_history(9, d("2024-01-01"), 400).unwrap();
    let history = History::from_rows(rows);
    let (f, fx) = tables();
    let mut c = calibrate(&history, &f, &fx, &Options::default()).unwrap();
    c.skipped.push(("ZZZ".into(), "no returns".into()));
    let md = render::report_md(&c);
    let at = |text: &str| md.find(text).unwrap_or_else(|| panic!("{text} missing"));
    let order = [
        at("# Calibration as of 2025-"),
        at("- Window: the last 500 trading dates"),
        at("- Shrinkage: Ledoit–Wolf"),
        at("- Copula: "),
        at("\n## Variables\n"),
        at("\n## Correlation (estimate)\n"),
        at("\nEigenvalues (ascending): "),
        at("## Symbols regressed on a factor"),
        at("\n## Left out\n\n- ZZZ: no returns\n"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // one table row per variable, its daily vol to 4 decimals
    for v in &c.variables {
        let row = format!(
            "| {} | {} | {} | {:.4} |",
            v.name, v.symbol, v.observations, v.daily_vol
        );
        assert_eq!(md.matches(&row).count(), 1, "{row}");
    }
    // one correlation row per variable, with its unit diagonal
    let names = c.names();
    for (i, name) in names.iter().enumerate() {
        let line = md
            .lines()
            .find(|l| {
                l.starts_with(&format!("| {name} | ")) && l.matches(" | ").count() == names.len()
            })
            .unwrap();
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells[i + 1], "1.000", "{line}");
    }
}
