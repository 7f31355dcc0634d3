//! American options by the integral-equation method of Andersen, Lake &
//! Offengenden (2016), "High-performance American option pricing", J. Comp.
//! Finance 20(1): the early-exercise boundary is solved by a fixed-point
//! iteration (their FP-B, FP-A as a fallback) on Chebyshev collocation nodes in
//! `√τ`, with the integrals by Gauss-Legendre quadrature, and the price is the
//! European price plus the early-exercise premium integral.
//!
//! Everything is worked on a put with strike 1; a call is priced through the
//! put-call symmetry `C(S, K, r, q) = P(K, S, q, r)` and homogeneity, so one
//! boundary `b(τ)` (a ratio to the strike) serves every spot:
//! - put: `P(S) = K · p(S / K)`,
//! - call: `C(S) = S · p'(K / S)` with `p'` the put with `r` and `q` swapped.

use crate::european::gbs;
use crate::fastmath;
use crate::normal::norm_cdf;
use crate::right::Right;

/// Chebyshev intervals of the boundary (nodes `0..=M`).
const M: usize = 8;
/// Gauss-Legendre points of the fixed-point integrals.
const N_BOUNDARY: usize = 16;
/// Gauss-Legendre points of the pricing integral.
const N_PRICE: usize = 32;
const MAX_ITERATIONS: usize = 60;
/// Relative change of every boundary node that ends the iteration.
const TOLERANCE: f64 = 1e-9;

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

fn norm_pdf(x: f64) -> f64 {
    INV_SQRT_2PI * fastmath::exp::<false>(-0.5 * x * x)
}

/// One quadrature point of a collocation node's integrals.
struct Point {
    /// `w · 2 s` (Gauss weight times the Jacobian of `u = τ - s²`) and `w`.
    c: f64,
    w: f64,
    /// `e^{-r s²}`, `e^{-q s²}`, `σ s`, `(r - q) s²`.
    er: f64,
    eq: f64,
    v: f64,
    drift: f64,
    /// Barycentric weights of `H` at `√((τ - s²) / T)`.
    bary: [f64; M + 1],
}

/// What the fixed-point iteration needs that does not change between
/// iterations.
struct Plan {
    /// Per collocation node `k = 1..=M`: `e^{-rτ}`, `e^{-qτ}`, `σ√τ`, `(r-q)τ`, points.
    nodes: Vec<(f64, f64, f64, f64, Vec<Point>)>,
}

fn bary_weights(xi_nodes: &[f64; M + 1], xi: f64) -> [f64; M + 1] {
    let mut w = [0.0; M + 1];
    let mut sum = 0.0;
    for k in 0..=M {
        let d = xi - xi_nodes[k];
        if d == 0.0 {
            let mut e = [0.0; M + 1];
            e[k] = 1.0;
            return e;
        }
        let mut b = if k % 2 == 0 { 1.0 } else { -1.0 };
        if k == 0 || k == M {
            b *= 0.5;
        }
        w[k] = b / d;
        sum += w[k];
    }
    for x in &mut w {
        *x /= sum;
    }
    w
}

impl Plan {
    fn new(put: &AloPut) -> Self {
        let (r, q, sigma, t) = (put.r, put.q, put.sigma, put.t);
        let gl = gauss_legendre(N_BOUNDARY);
        let nodes = (1..=M)
            .map(|k| {
                let tau = t * put.xi[k] * put.xi[k];
                let sq = tau.sqrt();
                let points = gl
                    .iter()
                    .map(|&(w, weight)| {
                        let s = sq * w;
                        let dt = s * s;
                        Point {
                            c: weight * sq * 2.0 * s,
                            w: weight * sq,
                            er: (-r * dt).exp(),
                            eq: (-q * dt).exp(),
                            v: sigma * s,
                            drift: (r - q) * dt,
                            bary: bary_weights(&put.xi, ((tau - dt) / t).max(0.0).sqrt()),
                        }
                    })
                    .collect();
                (
                    (-r * tau).exp(),
                    (-q * tau).exp(),
                    sigma * sq,
                    (r - q) * tau,
                    points,
                )
            })
            .collect();
        Plan { nodes }
    }

    /// One Jacobi sweep of FP-B (`variant_b`) or FP-A over the collocation
    /// nodes: the new `H` and the largest relative change of the boundary.
    fn iterate(&self, put: &AloPut, variant_b: bool) -> ([f64; M + 1], f64) {
        let (r, q, sigma) = (put.r, put.q, put.sigma);
        let cdf = fastmath::norm_cdf::<false>;
        let lx0 = put.x0.ln();
        let mut next = put.h;
        let mut change: f64 = 0.0;
        for (k, (er_t, eq_t, v_t, drift_t, points)) in self.nodes.iter().enumerate() {
            let k = k + 1;
            let root = put.h[k].max(0.0).sqrt();
            let lb = lx0 - root;
            let m = (lb + drift_t) / v_t;
            let (dp, dm) = (m + 0.5 * v_t, m - 0.5 * v_t);
            let (mut n, mut d) = if variant_b {
                (
                    er_t * norm_pdf(dm) / v_t,
                    eq_t * (norm_pdf(dp) / v_t + cdf(dp)),
                )
            } else {
                (er_t * cdf(dm), eq_t * cdf(dp))
            };
            for p in points {
                if p.v <= 0.0 {
                    continue;
                }
                let hu: f64 = p.bary.iter().zip(&put.h).map(|(a, b)| a * b).sum();
                // ln(b(τ) / b(u)) = √H(u) - √H(τ).
                let m = (hu.max(0.0).sqrt() - root + p.drift) / p.v;
                let (ap, am) = (m + 0.5 * p.v, m - 0.5 * p.v);
                if variant_b {
                    n += p.w * r * p.er * 2.0 * norm_pdf(am) / sigma;
                    d += p.w * q * p.eq * 2.0 * norm_pdf(ap) / sigma + p.c * q * p.eq * cdf(ap);
                } else {
                    n += p.c * r * p.er * cdf(am);
                    d += p.c * q * p.eq * cdf(ap);
                }
            }
            let b = lb.exp();
            let nb = (n / d).min(put.x0);
            if !(nb > 0.0 && nb.is_finite()) {
                return (next, f64::NAN);
            }
            let l = (nb / put.x0).ln();
            next[k] = l * l;
            change = change.max(((nb - b) / b).abs());
        }
        (next, change)
    }
}

/// Gauss-Legendre nodes and weights on `[0, 1]` (Newton on `P_n`).
pub(crate) fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    let nf = n as f64;
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for j in 2..=n {
                let jf = j as f64;
                let p2 = ((2.0 * jf - 1.0) * x * p1 - (jf - 1.0) * p0) / jf;
                p0 = p1;
                p1 = p2;
            }
            dp = nf * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        out.push((0.5 * (1.0 - x), 0.5 * w));
    }
    out
}

/// The exercise boundary of an American put with strike 1 (rates `r > 0`,
/// yield `q`, volatility `sigma > 0`, maturity `t > 0`).
#[derive(Clone, Debug)]
pub(crate) struct AloPut {
    r: f64,
    q: f64,
    sigma: f64,
    t: f64,
    /// Boundary at expiry `min(1, r/q)`.
    x0: f64,
    /// `H_k = ln(b(τ_k) / x0)²` at `τ_k = t ξ_k²`, `ξ_k = (1 - cos(kπ/M)) / 2`.
    h: [f64; M + 1],
    xi: [f64; M + 1],
}

impl AloPut {
    /// Solves the boundary. `None` when the iteration does not settle (not
    /// seen on the documented domain; the caller then falls back).
    pub(crate) fn new(r: f64, q: f64, sigma: f64, t: f64) -> Option<Self> {
        if !(r > 0.0 && sigma > 0.0 && t > 0.0 && q.is_finite() && r.is_finite()) {
            return None;
        }
        let x0 = if q > r { r / q } else { 1.0 };
        let mut xi = [0.0; M + 1];
        for (k, x) in xi.iter_mut().enumerate() {
            *x = 0.5 * (1.0 - (std::f64::consts::PI * k as f64 / M as f64).cos());
        }
        // Start from the BAW boundary of each node's maturity.
        let mut h = [0.0; M + 1];
        for k in 1..=M {
            let tau = t * xi[k] * xi[k];
            let c = crate::baw::BawContract::new(Right::Put, 1.0, tau, r, r - q);
            let b = match c.boundary(sigma) {
                Some((_, y)) => y.exp().min(x0),
                None => x0 * 0.9,
            };
            let l = (b / x0).ln();
            h[k] = l * l;
        }
        let mut put = AloPut {
            r,
            q,
            sigma,
            t,
            x0,
            h,
            xi,
        };
        let plan = Plan::new(&put);
        for variant_b in [true, false] {
            let start = put.h;
            let mut ok = false;
            for _ in 0..MAX_ITERATIONS {
                let (next, change) = plan.iterate(&put, variant_b);
                if change.is_nan() {
                    break;
                }
                put.h = next;
                if change < TOLERANCE {
                    ok = true;
                    break;
                }
            }
            if ok {
                return Some(put);
            }
            put.h = start;
        }
        None
    }

    /// `b(τ)` by barycentric Chebyshev-Lobatto interpolation of `H` in `√(τ/t)`.
    pub(crate) fn boundary(&self, tau: f64) -> f64 {
        let xi = (tau / self.t).max(0.0).sqrt().min(1.0);
        let (mut num, mut den) = (0.0, 0.0);
        for k in 0..=M {
            let d = xi - self.xi[k];
            if d == 0.0 {
                return self.x0 * (-self.h[k].max(0.0).sqrt()).exp();
            }
            let mut w = if k % 2 == 0 { 1.0 } else { -1.0 };
            if k == 0 || k == M {
                w *= 0.5;
            }
            num += w * self.h[k] / d;
            den += w / d;
        }
        self.x0 * (-(num / den).max(0.0).sqrt()).exp()
    }

    /// `d±(τ, z)`.
    fn d(&self, tau: f64, z: f64) -> (f64, f64) {
        let v = self.sigma * tau.sqrt();
        let m = (z.ln() + (self.r - self.q) * tau) / v;
        (m + 0.5 * v, m - 0.5 * v)
    }

    /// Price of the put with strike 1 at spot `x` (`x > 0`).
    pub(crate) fn price(&self, x: f64) -> f64 {
        let (r, q, t) = (self.r, self.q, self.t);
        if x <= self.boundary(t) {
            return 1.0 - x;
        }
        let euro = gbs(Right::Put, x, 1.0, t, r, r - q, self.sigma);
        let sq = t.sqrt();
        let mut premium = 0.0;
        for &(w, weight) in gauss_legendre_price() {
            // u = t - s² (time from now), the boundary at time-to-expiry t - s².
            let s = sq * w;
            let dt = s * s;
            if dt <= 0.0 {
                continue;
            }
            let bu = self.boundary(t - dt);
            let (ap, am) = self.d(dt, x / bu);
            premium += weight
                * sq
                * 2.0
                * s
                * (r * (-r * dt).exp() * norm_cdf(-am) - q * x * (-q * dt).exp() * norm_cdf(-ap));
        }
        (euro + premium).max(1.0 - x).max(euro)
    }
}

/// Step of the premium table in `ζ = (ln x - ln b(T)) / (σ √T)`, the
/// distance from the boundary in standard deviations of the whole life.
pub(crate) const ZETA_STEP: f64 = 0.125;
/// Intervals of the premium table: `ζ` in `[0, 8]`; beyond, the premium is
/// below `Φ(-8) ≈ 6e-16` of the strike and taken as 0.
pub(crate) const ZETA_INTERVALS: usize = 64;

/// One vol node of the engine's table: the log boundary at expiry `ln b(T)`
/// and the early-exercise premium (per unit of strike) at `ζ_i = i · ZETA_STEP`.
#[derive(Clone, Debug)]
pub(crate) struct NodeTable {
    pub(crate) log_boundary: f64,
    pub(crate) premium: [f64; ZETA_INTERVALS + 1],
}

impl AloPut {
    /// The premium table of this boundary (see [`NodeTable`]).
    pub(crate) fn table(&self) -> NodeTable {
        let (r, q, t, sigma) = (self.r, self.q, self.t, self.sigma);
        let log_boundary = self.boundary(t).ln();
        let sq = t.sqrt();
        // The quadrature nodes' boundary and discount factors, shared by every ζ.
        let nodes: Vec<(f64, f64, f64, f64, f64)> = gauss_legendre_price()
            .iter()
            .filter(|&&(w, _)| w > 0.0)
            .map(|&(w, weight)| {
                let s = sq * w;
                let dt = s * s;
                let lb = self.boundary(t - dt).ln();
                let c = weight * sq * 2.0 * s;
                (
                    dt,
                    lb,
                    c * r * (-r * dt).exp(),
                    c * q * (-q * dt).exp(),
                    sigma * s,
                )
            })
            .collect();
        let mut premium = [0.0; ZETA_INTERVALS + 1];
        for (i, p) in premium.iter_mut().enumerate() {
            let lx = log_boundary + i as f64 * ZETA_STEP * sigma * sq;
            let x = lx.exp();
            let mut sum = 0.0;
            for &(dt, lb, cr, cq, v) in &nodes {
                let m = (lx - lb + (r - q) * dt) / v;
                sum += cr * fastmath::norm_cdf::<false>(-(m - 0.5 * v))
                    - cq * x * fastmath::norm_cdf::<false>(-(m + 0.5 * v));
            }
            *p = sum.max(0.0);
        }
        NodeTable {
            log_boundary,
            premium,
        }
    }
}

/// Whether the fixed-point method is used for the normalised put (rates in
/// the ranges it is tested on; elsewhere the caller falls back to BAW).
pub(crate) fn alo_domain(r: f64, q: f64, sigma: f64, t: f64) -> bool {
    alo_contract_domain(r, q, t)
        && (0.001..=10.0).contains(&sigma)
        && sigma * t.sqrt() >= 0.01
        // The premium table reaches 8 σ√T past the boundary: the drift must
        // not carry the premium beyond it.
        && sigma * t.sqrt() >= (r - q).abs() * t
        && sigma * t.sqrt() <= 20.0
}

/// The rates and maturity part of [`alo_domain`].
pub(crate) fn alo_contract_domain(r: f64, q: f64, t: f64) -> bool {
    r > 0.0 && r <= 1.0 && q.abs() <= 1.0 && (1e-4..=100.0).contains(&t)
}

type CacheKey = [u64; 4];

/// Node tables by (r, q, T, σ) of the normalised put: a pure function of the
/// key, so sharing them between contracts, blocks and threads changes no bit.
fn cache()
-> &'static std::sync::Mutex<std::collections::HashMap<CacheKey, Option<std::sync::Arc<NodeTable>>>>
{
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<CacheKey, Option<std::sync::Arc<NodeTable>>>>,
    > = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Entries kept at most (the cache is emptied when full).
const CACHE_MAX: usize = 1 << 20;

/// The node table of the normalised put `(r, q, T)` at vol `sigma`, solved
/// once per process and reused; `None` outside [`alo_domain`] or when the
/// iteration does not settle.
pub(crate) fn node_table(r: f64, q: f64, t: f64, sigma: f64) -> Option<std::sync::Arc<NodeTable>> {
    if !alo_domain(r, q, sigma, t) {
        return None;
    }
    let key = [r.to_bits(), q.to_bits(), t.to_bits(), sigma.to_bits()];
    if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let table = AloPut::new(r, q, sigma, t).map(|p| std::sync::Arc::new(p.table()));
    if let Ok(mut c) = cache().lock() {
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(key, table.clone());
    }
    table
}

/// [`node_table`] of the normalised put `(r, q, T)` at each vol of `sigmas`,
/// calling `found(i, table)` for the `i`-th vol's table when it has one:
/// the cache is locked once for all the lookups (and once more for the
/// tables solved here), not once per vol. Same tables as [`node_table`].
pub(crate) fn node_tables(
    r: f64,
    q: f64,
    t: f64,
    sigmas: impl Iterator<Item = f64>,
    mut found: impl FnMut(usize, &NodeTable),
) {
    let mut missing: Vec<(usize, f64)> = Vec::new();
    {
        let cache = cache().lock().ok();
        for (i, sigma) in sigmas.enumerate() {
            if !alo_domain(r, q, sigma, t) {
                continue;
            }
            let key = [r.to_bits(), q.to_bits(), t.to_bits(), sigma.to_bits()];
            match cache.as_ref().and_then(|c| c.get(&key)) {
                Some(Some(table)) => found(i, table),
                Some(None) => {}
                None => missing.push((i, sigma)),
            }
        }
    }
    for (i, sigma) in missing {
        if let Some(table) = node_table(r, q, t, sigma) {
            found(i, &table);
        }
    }
}

fn gauss_legendre_price() -> &'static [(f64, f64)] {
    static NODES: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    NODES.get_or_init(|| gauss_legendre(N_PRICE))
}

/// American option price by the Andersen-Lake-Offengenden (2016) method:
/// the exercise boundary solved by fixed-point iteration, the price as the
/// European price plus the early-exercise premium integral. Arguments as for
/// [`gbs`] (`b = r - q`).
///
/// Where the method's single-boundary assumption does not hold or early
/// exercise never pays (a put with `r <= 0`, a call with `q = r - b <= 0`),
/// and outside the tested domain (`r`, `|q|` above 100 %, `T` outside
/// `[1e-4, 100]`, `σ√T < 0.01` or `σ√T < |r − q| T`, vol outside
/// `[0.001, 10]`), or if the iteration does not settle, the price is BAW's
/// ([`american_baw`](crate::american_baw)), which is `max(European,
/// intrinsic)` where early exercise never pays.
///
/// Boundary: 8 Chebyshev intervals in `√τ`, 16-point Gauss-Legendre
/// integrals, FP-B iterated from BAW's boundary until no node moves by more
/// than 1e-9 (relative); premium: 32-point Gauss-Legendre in `√(T − u)`.
pub fn american_alo(right: Right, s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> f64 {
    let q = r - b;
    let (rr, qq, x, scale) = match right {
        Right::Put => (r, q, s / k, k),
        Right::Call => (q, r, k / s, s),
    };
    let usable = s > 0.0
        && k > 0.0
        && s.is_finite()
        && k.is_finite()
        && t > 0.0
        && sigma > 0.0
        && (sigma * t.sqrt()) > 1e-6
        && x.is_finite()
        && x > 0.0;
    if usable
        && alo_domain(rr, qq, sigma, t)
        && let Some(put) = AloPut::new(rr, qq, sigma, t)
    {
        let v = scale * put.price(x);
        let floor = gbs(right, s, k, t, r, b, sigma).max(right.intrinsic(s, k));
        return v.max(floor);
    }
    crate::baw::american_baw(right, s, k, t, r, b, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::leisen_reimer;

    #[test]
    fn gauss_legendre_integrates_polynomials() {
        let gl = gauss_legendre(8);
        // Exact for degree <= 15 on [0, 1]: ∫ x^j = 1 / (j + 1).
        for j in 0..16 {
            let q: f64 = gl.iter().map(|&(x, w)| w * x.powi(j)).sum();
            assert!((q - 1.0 / f64::from(j + 1)).abs() < 1e-14, "{j} {q}");
        }
    }

    #[test]
    fn tree_reference_is_converged() {
        // The reference's own error: 2001 against 4001 steps.
        let a = leisen_reimer(Right::Put, 100.0, 100.0, 1.0, 0.08, 0.08, 0.3, 2001);
        let b = leisen_reimer(Right::Put, 100.0, 100.0, 1.0, 0.08, 0.08, 0.3, 4001);
        assert!((a - b).abs() < 2e-4, "{a} {b}");
    }

    /// The accuracy grid: moneyness 0.7-1.3, vol 15-60 %, 3 months-2 years,
    /// r 0-8 %, q 0-6 %, puts and calls, against a 2001-step Leisen-Reimer
    /// tree; error <= max(0.05 % of value, 1e-5 × strike).
    #[test]
    fn accuracy_grid_against_binomial_tree() {
        let k = 100.0;
        let mut worst_rel: f64 = 0.0;
        let mut worst = String::new();
        for right in [Right::Put, Right::Call] {
            for &(r, q) in &[
                (0.08, 0.0),
                (0.05, 0.02),
                (0.02, 0.06),
                (0.0, 0.04),
                (0.08, 0.06),
            ] {
                for &t in &[0.25, 1.0, 2.0] {
                    for &sigma in &[0.15, 0.35, 0.6] {
                        for &m in &[0.7, 0.85, 1.0, 1.15, 1.3] {
                            let s = m * k;
                            let tree = leisen_reimer(right, s, k, t, r, r - q, sigma, 2001);
                            let scalar = american_alo(right, s, k, t, r, r - q, sigma);
                            let alo = crate::american(right, s, k, t, r, r - q, sigma);
                            let tol = (5e-4 * tree).max(1e-5 * k);
                            let err = (alo - tree).abs().max((scalar - tree).abs());
                            if err / tol > worst_rel {
                                worst_rel = err / tol;
                                worst = format!(
                                    "{right:?} m={m} t={t} r={r} q={q} v={sigma}: alo {alo:.6} tree {tree:.6}"
                                );
                            }
                        }
                    }
                }
            }
        }
        eprintln!("worst error / tolerance {worst_rel:.3}: {worst}");
        assert!(worst_rel <= 1.0, "{worst}");
    }
}

#[cfg(test)]
mod timing {
    /// Cost of one node table (boundary solve + premium table), release:
    /// `cargo test --release -p exfee-pricing node_table_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn node_table_cost() {
        let start = std::time::Instant::now();
        let mut n = 0;
        for i in 0..200 {
            let t = 0.25 + f64::from(i) * 0.01;
            for sigma in [0.15, 0.3, 0.6] {
                assert!(
                    super::AloPut::new(0.05, 0.02, sigma, t)
                        .map(|p| p.table())
                        .is_some()
                );
                n += 1;
            }
        }
        let per = start.elapsed().as_secs_f64() / f64::from(n);
        eprintln!("{n} node tables: {:.1} µs each", per * 1e6);
        let start = std::time::Instant::now();
        for i in 0..200 {
            let t = 0.25 + f64::from(i) * 0.01;
            for sigma in [0.15, 0.3, 0.6] {
                assert!(super::AloPut::new(0.05, 0.02, sigma, t).is_some());
            }
        }
        let per = start.elapsed().as_secs_f64() / f64::from(n);
        eprintln!("boundary alone: {:.1} µs each", per * 1e6);
    }
}
