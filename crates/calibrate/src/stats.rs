//! The estimators: EWMA volatility filter, sample correlation, Ledoit–Wolf
//! shrinkage, least squares, the t-copula likelihood, and embedding an
//! estimated block into a larger correlation matrix.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::gamma::ln_gamma;

/// Number of returns whose mean square seeds the EWMA variance.
pub const EWMA_SEED: usize = 20;

/// The EWMA decay λ of a half-life h (in observations): λ^h = ½.
pub fn ewma_lambda(halflife: f64) -> f64 {
    0.5f64.powf(1.0 / halflife)
}

/// One-step-ahead EWMA variance forecasts v_t of returns r_t (RiskMetrics):
/// v_1 = mean of r² over the first `EWMA_SEED` returns (or all, if fewer),
/// v_{t+1} = λ·v_t + (1 − λ)·r_t². v_t uses only returns before t (and the
/// seed).
pub fn ewma_variance(returns: &[f64], lambda: f64) -> Vec<f64> {
    let m = returns.len().min(EWMA_SEED);
    if m == 0 {
        return Vec::new();
    }
    let mut v = returns[..m].iter().map(|r| r * r).sum::<f64>() / m as f64;
    let mut out = Vec::with_capacity(returns.len());
    for r in returns {
        out.push(v);
        v = lambda * v + (1.0 - lambda) * r * r;
    }
    out
}

/// Sample (Pearson) correlation matrix of the columns of `x` (rows are
/// observations), with the column means removed. A constant column gives
/// `None`.
pub fn correlation(x: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let z = standardise(x)?;
    let n = z.nrows() as f64;
    let mut c = z.transpose() * &z / n;
    for i in 0..c.nrows() {
        c[(i, i)] = 1.0;
    }
    Some(c)
}

/// Columns centred and scaled to unit variance (divisor n).
fn standardise(x: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let n = x.nrows();
    if n < 2 {
        return None;
    }
    let mut z = x.clone();
    for j in 0..x.ncols() {
        let mean = x.column(j).sum() / n as f64;
        let var = x.column(j).iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        if var <= 0.0 || !var.is_finite() {
            return None;
        }
        let sd = var.sqrt();
        for i in 0..n {
            z[(i, j)] = (x[(i, j)] - mean) / sd;
        }
    }
    Some(z)
}

/// Ledoit–Wolf shrinkage of the correlation matrix of `x` towards the
/// identity (O. Ledoit, M. Wolf, *A well-conditioned estimator for
/// large-dimensional covariance matrices*, J. Multivariate Anal. 88 (2004)
/// 365–411, applied to the standardised columns, so the target μ·I has
/// μ = 1): with S the sample correlation and x_t the standardised rows,
/// d² = ‖S − I‖², b̄² = n⁻² Σ_t ‖x_t x_tᵀ − S‖², δ = min(b̄², d²)/d²; the
/// estimate is δ·I + (1 − δ)·S. Returns (estimate, δ).
pub fn ledoit_wolf(x: &DMatrix<f64>) -> Option<(DMatrix<f64>, f64)> {
    let z = standardise(x)?;
    let n = z.nrows();
    let k = z.ncols();
    let s = z.transpose() * &z / n as f64;
    let identity = DMatrix::<f64>::identity(k, k);
    let d2 = (&s - &identity).norm_squared();
    if d2 <= 0.0 {
        return Some((identity, 0.0));
    }
    let mut b2 = 0.0;
    for t in 0..n {
        let row = z.row(t).transpose();
        b2 += (&row * row.transpose() - &s).norm_squared();
    }
    b2 /= (n * n) as f64;
    let delta = b2.min(d2) / d2;
    let mut out = &identity * delta + &s * (1.0 - delta);
    for i in 0..k {
        out[(i, i)] = 1.0;
    }
    Some((out, delta))
}

/// A least-squares line y = α + β·x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regression {
    /// Intercept α.
    pub alpha: f64,
    /// Slope β.
    pub beta: f64,
    /// R² (share of the variance of y explained).
    pub r2: f64,
    /// Standard deviation of the residuals (divisor n − 2).
    pub residual_sd: f64,
    /// Observations.
    pub n: usize,
}

/// Ordinary least squares of y on x with an intercept; `None` with fewer
/// than 3 points, a constant x, a value that is not finite, or a fit that
/// is not finite (so every `Some` holds finite numbers).
pub fn ols(x: &[f64], y: &[f64]) -> Option<Regression> {
    let n = x.len();
    if n < 3 || y.len() != n || !x.iter().chain(y).all(|v| v.is_finite()) {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let beta = sxy / sxx;
    let alpha = my - beta * mx;
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - alpha - beta * a).powi(2))
        .sum();
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 0.0 };
    let residual_sd = (sse / (n - 2) as f64).sqrt();
    [alpha, beta, r2, residual_sd]
        .iter()
        .all(|v| v.is_finite())
        .then_some(Regression {
            alpha,
            beta,
            r2,
            residual_sd,
            n,
        })
}

/// Pseudo-observations: each column's ranks divided by n + 1 (ties get
/// their order of appearance).
pub fn pseudo_observations(x: &DMatrix<f64>) -> DMatrix<f64> {
    let n = x.nrows();
    let mut u = DMatrix::zeros(n, x.ncols());
    for j in 0..x.ncols() {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| x[(a, j)].total_cmp(&x[(b, j)]));
        for (rank, &i) in order.iter().enumerate() {
            u[(i, j)] = (rank + 1) as f64 / (n + 1) as f64;
        }
    }
    u
}

/// Log-likelihood of the t copula with correlation `r` and ν degrees of
/// freedom at pseudo-observations `u`: Σ_t [ln g_ν,R(x_t) − Σ_j ln t_ν(x_tj)]
/// with x = t_ν⁻¹(u), g the multivariate t density and t_ν the univariate
/// one. `None` when `r` is not positive definite.
pub fn t_copula_loglik(u: &DMatrix<f64>, r: &DMatrix<f64>, nu: f64) -> Option<f64> {
    let k = r.nrows();
    let chol = r.clone().cholesky()?;
    let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let t = StudentsT::new(0.0, 1.0, nu).ok()?;
    let kf = k as f64;
    let c_multi = ln_gamma((nu + kf) / 2.0)
        - ln_gamma(nu / 2.0)
        - kf / 2.0 * (nu * std::f64::consts::PI).ln()
        - 0.5 * log_det;
    let c_uni =
        ln_gamma((nu + 1.0) / 2.0) - ln_gamma(nu / 2.0) - 0.5 * (nu * std::f64::consts::PI).ln();
    let mut total = 0.0;
    let mut x = DVector::zeros(k);
    for i in 0..u.nrows() {
        let mut marginal = 0.0;
        for j in 0..k {
            let q = t.inverse_cdf(u[(i, j)]);
            x[j] = q;
            marginal += c_uni - (nu + 1.0) / 2.0 * (1.0 + q * q / nu).ln();
        }
        let y = chol.solve(&x);
        let quad = x.dot(&y);
        total += c_multi - (nu + kf) / 2.0 * (1.0 + quad / nu).ln() - marginal;
    }
    Some(total)
}

/// Smallest and largest ν the fit searches.
pub const NU_RANGE: (f64, f64) = (2.0, 100.0);

/// The maximum-likelihood ν of the t copula (the correlation held at `r`):
/// a grid over ln ν in [`NU_RANGE`], then golden-section search around the
/// best point. Returns (ν, log-likelihood at ν, log-likelihood of the
/// Gaussian copula at the same pseudo-observations).
pub fn fit_nu(u: &DMatrix<f64>, r: &DMatrix<f64>) -> Option<(f64, f64, f64)> {
    let (ln_nu, ll) = maximise(|ln_nu| t_copula_loglik(u, r, ln_nu.exp()))?;
    Some((ln_nu.exp(), ll, gaussian_copula_loglik(u, r)?))
}

/// Does one ν serve every group? For each group of at least two variables
/// (indices into the columns of `u` and `r`), the t-copula ν is fitted on the
/// group's own block; the likelihood-ratio statistic is 2·Σ_g [ℓ_g(ν_g) −
/// ℓ_g(ν̂)], ν̂ the common ν maximising Σ_g ℓ_g (searched as [`fit_nu`]
/// does), with (groups − 1) degrees of freedom. Only within-group
/// dependence enters (a grouped t copula with a common correlation matrix
/// has the same within-group margins). Returns ((group, ν_g) per group, ν̂,
/// statistic, p-value); `None` with fewer than two groups.
#[allow(clippy::type_complexity)]
pub fn grouped_nu_test(
    u: &DMatrix<f64>,
    r: &DMatrix<f64>,
    groups: &[Vec<usize>],
) -> Option<(Vec<(usize, f64)>, f64, f64, f64)> {
    let blocks: Vec<(usize, DMatrix<f64>, DMatrix<f64>)> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.len() >= 2)
        .map(|(i, g)| {
            let ub = DMatrix::from_fn(u.nrows(), g.len(), |t, j| u[(t, g[j])]);
            let rb = DMatrix::from_fn(g.len(), g.len(), |a, b| r[(g[a], g[b])]);
            (i, ub, rb)
        })
        .collect();
    if blocks.len() < 2 {
        return None;
    }
    let mut own = Vec::new();
    let mut own_ll = 0.0;
    for (i, ub, rb) in &blocks {
        let (nu, ll, _) = fit_nu(ub, rb)?;
        own.push((*i, nu));
        own_ll += ll;
    }
    // The common ν: maximise the sum over blocks on the same grid + golden
    // section as fit_nu, by stacking nothing — evaluate the sum directly.
    let total = |ln_nu: f64| -> Option<f64> {
        let mut sum = 0.0;
        for (_, ub, rb) in &blocks {
            sum += t_copula_loglik(ub, rb, ln_nu.exp())?;
        }
        Some(sum)
    };
    let (ln_nu, common_ll) = maximise(total)?;
    let lr = (2.0 * (own_ll - common_ll)).max(0.0);
    let df = (blocks.len() - 1) as f64;
    let chi = statrs::distribution::ChiSquared::new(df).ok()?;
    Some((own, ln_nu.exp(), lr, 1.0 - chi.cdf(lr)))
}

/// Maximises f over ln ν in [`NU_RANGE`]: a 17-point grid, then
/// golden-section search around the best point. Returns (ln ν, f).
fn maximise(f: impl Fn(f64) -> Option<f64>) -> Option<(f64, f64)> {
    let (lo, hi) = (NU_RANGE.0.ln(), NU_RANGE.1.ln());
    let steps = 16;
    let grid: Vec<f64> = (0..=steps)
        .map(|i| lo + (hi - lo) * f64::from(i) / f64::from(steps))
        .collect();
    let mut values = Vec::with_capacity(grid.len());
    for &g in &grid {
        values.push(f(g)?);
    }
    let best = (0..grid.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let (mut a, mut b) = (
        grid[best.saturating_sub(1)],
        grid[(best + 1).min(grid.len() - 1)],
    );
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c)?, f(d)?);
    for _ in 0..30 {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c)?;
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d)?;
        }
    }
    let (x, fx) = if fc > fd { (c, fc) } else { (d, fd) };
    Some(if values[best] > fx {
        (grid[best], values[best])
    } else {
        (x, fx)
    })
}

/// Log-likelihood of the Gaussian copula with correlation `r` at `u`:
/// Σ_t [−½ ln|R| − ½ zᵀ(R⁻¹ − I)z], z = Φ⁻¹(u).
pub fn gaussian_copula_loglik(u: &DMatrix<f64>, r: &DMatrix<f64>) -> Option<f64> {
    let k = r.nrows();
    let chol = r.clone().cholesky()?;
    let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let normal = statrs::distribution::Normal::standard();
    let mut total = 0.0;
    let mut z = DVector::zeros(k);
    for i in 0..u.nrows() {
        for j in 0..k {
            z[j] = normal.inverse_cdf(u[(i, j)]);
        }
        let y = chol.solve(&z);
        total += -0.5 * log_det - 0.5 * (z.dot(&y) - z.dot(&z));
    }
    Some(total)
}

/// Symmetric square root and inverse square root of a positive definite
/// matrix (eigen-decomposition); `None` if an eigenvalue is ≤ 1e-12.
fn sqrt_and_inverse_sqrt(m: &DMatrix<f64>) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
    let eig = m.clone().symmetric_eigen();
    if eig.eigenvalues.iter().any(|&l| l <= 1e-12) {
        return None;
    }
    let q = &eig.eigenvectors;
    let root = DMatrix::from_diagonal(&eig.eigenvalues.map(f64::sqrt));
    let inv_root = DMatrix::from_diagonal(&eig.eigenvalues.map(|l| 1.0 / l.sqrt()));
    Some((q * root * q.transpose(), q * inv_root * q.transpose()))
}

/// Replaces the block of a correlation matrix `base` over the variables
/// `block` (indices into `base`) by `estimate`, keeping the result a
/// correlation matrix: with T = diag(C^½·B_AA^−½ on the block, I elsewhere),
/// the result is T·base·Tᵀ. Its block is exactly `estimate`, the entries
/// among the other variables are exactly `base`'s, and it is positive
/// semi-definite whenever `base` is (congruence); the cross entries are
/// `base`'s, carried through the change of the block. `None` when `base`'s
/// block is not positive definite.
pub fn embed_block(
    base: &DMatrix<f64>,
    block: &[usize],
    estimate: &DMatrix<f64>,
) -> Option<DMatrix<f64>> {
    let k = block.len();
    let n = base.nrows();
    let b_aa = DMatrix::from_fn(k, k, |i, j| base[(block[i], block[j])]);
    let (_, b_inv_root) = sqrt_and_inverse_sqrt(&b_aa)?;
    let (c_root, _) = sqrt_and_inverse_sqrt(estimate)?;
    let t_a = c_root * b_inv_root;
    let mut t = DMatrix::<f64>::identity(n, n);
    for (i, &bi) in block.iter().enumerate() {
        t[(bi, bi)] = 0.0;
        for (j, &bj) in block.iter().enumerate() {
            t[(bi, bj)] = t_a[(i, j)];
        }
    }
    let mut out = &t * base * t.transpose();
    // Exact symmetry, unit diagonal and the estimate in place (rounding).
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (out[(i, j)] + out[(j, i)]);
            out[(i, j)] = v;
            out[(j, i)] = v;
        }
        out[(i, i)] = 1.0;
    }
    for (i, &bi) in block.iter().enumerate() {
        for (j, &bj) in block.iter().enumerate() {
            out[(bi, bj)] = estimate[(i, j)];
        }
    }
    Some(out)
}

/// Upper-tail probability of χ² with 1 degree of freedom at `x` ≥ 0.
fn chi2_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    // P(χ²₁ > x) = P(|Z| > √x) = erfc(√(x/2)).
    statrs::function::erf::erfc((x / 2.0).sqrt())
}

fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * y.ln() }
}

/// Kupiec's proportion-of-failures test: x exceedances in n days against
/// the expected rate p. LR = −2[(n−x)ln(1−p) + x ln p − (n−x)ln(1−x/n) −
/// x ln(x/n)] ~ χ²₁; returns (LR, p-value). `None` for n = 0.
pub fn kupiec(n: usize, x: usize, p: f64) -> Option<(f64, f64)> {
    if n == 0 || x > n {
        return None;
    }
    let (nf, xf) = (n as f64, x as f64);
    let phat = xf / nf;
    let null = xlogy(nf - xf, 1.0 - p) + xlogy(xf, p);
    let alt = xlogy(nf - xf, 1.0 - phat) + xlogy(xf, phat);
    let lr = (-2.0 * (null - alt)).max(0.0);
    Some((lr, chi2_1_sf(lr)))
}

/// Christoffersen's independence test on a 0/1 exceedance sequence: with
/// n_ij the transitions i → j, π₀ = n01/(n00+n01), π₁ = n11/(n10+n11),
/// π = (n01+n11)/(all), LR = −2[ln L(π) − ln L(π₀, π₁)] ~ χ²₁; returns (LR,
/// p-value). With fewer than two days, `None`.
pub fn christoffersen(hits: &[bool]) -> Option<(f64, f64)> {
    if hits.len() < 2 {
        return None;
    }
    let mut n = [[0.0f64; 2]; 2];
    for w in hits.windows(2) {
        n[usize::from(w[0])][usize::from(w[1])] += 1.0;
    }
    let (n00, n01, n10, n11) = (n[0][0], n[0][1], n[1][0], n[1][1]);
    let pi0 = if n00 + n01 > 0.0 {
        n01 / (n00 + n01)
    } else {
        0.0
    };
    let pi1 = if n10 + n11 > 0.0 {
        n11 / (n10 + n11)
    } else {
        0.0
    };
    let pi = (n01 + n11) / (n00 + n01 + n10 + n11);
    let null = xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi);
    let alt = xlogy(n00, 1.0 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1.0 - pi1) + xlogy(n11, pi1);
    let lr = (-2.0 * (null - alt)).max(0.0);
    Some((lr, chi2_1_sf(lr)))
}

/// P(X ≤ x) for X ~ Binomial(n, p).
pub fn binomial_cdf(n: usize, x: usize, p: f64) -> f64 {
    let mut term = (1.0 - p).powi(i32::try_from(n).unwrap_or(i32::MAX)); // P(X = 0)
    let mut sum = term;
    for k in 1..=x.min(n) {
        term *= (n - k + 1) as f64 / k as f64 * p / (1.0 - p);
        sum += term;
    }
    sum.min(1.0)
}

/// The Basel traffic-light zone of x exceedances in n days of a 99 %
/// measure: green while P(X ≤ x) < 95 %, yellow while < 99.99 %, red
/// beyond (X ~ Binomial(n, 1 %); for n = 250: green 0–4, yellow 5–9, red
/// 10 or more).
pub fn traffic_light(n: usize, x: usize) -> &'static str {
    traffic_light_at(n, x, 0.01)
}

/// The traffic-light rule for a measure whose stated exceedance rate is
/// `p`: the zone boundaries at P(X ≤ x) = 95 % and 99.99 %, X ~
/// Binomial(n, p).
pub fn traffic_light_at(n: usize, x: usize, p: f64) -> &'static str {
    let f = binomial_cdf(n, x, p);
    if f < 0.95 {
        "green"
    } else if f < 0.9999 {
        "yellow"
    } else {
        "red"
    }
}

/// Quantile of Student's t (used by tests and the generator).
pub fn t_quantile(nu: f64, p: f64) -> Option<f64> {
    Some(StudentsT::new(0.0, 1.0, nu).ok()?.inverse_cdf(p))
}
