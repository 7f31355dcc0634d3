//! American options: Barone-Adesi & Whaley (1987) quadratic approximation.
//!
//! The early-exercise boundary of BAW (the critical price `S*` of a call,
//! `S**` of a put) depends on the contract and the volatility but not on the
//! spot. [`BawContract::boundary`] finds it by safeguarded Newton iteration;
//! the batch kernel (`batch.rs`) tabulates it on the fixed log-σ grid below and
//! prices each scenario with a branch-free formula.

use crate::european::{EXP_ARG_CLAMP, gbs};
use crate::normal::norm_cdf;
use crate::right::Right;

/// The fixed volatility grid of the batch kernel: nodes `σ_j = e^{L0 + j H}`,
/// `L0 = ln 0.005`, `H = ln(1000) / 128`, so node 0 is σ = 0.005 and node 128
/// is σ = 5. Vols in `[GRID_SIGMA_MIN, GRID_SIGMA_MAX]` are interpolated (nodes
/// -1 and 129 serve the end intervals); vols outside are priced exactly.
pub(crate) const GRID_SIGMA_MIN: f64 = 0.005;
pub(crate) const GRID_SIGMA_MAX: f64 = 5.0;
/// Number of grid intervals (a power of two: the kernel masks the index).
pub(crate) const GRID_INTERVALS: usize = 128;
/// `ln(GRID_SIGMA_MIN)`.
pub(crate) const GRID_LN_MIN: f64 = -5.298_317_366_548_036;
/// `ln(GRID_SIGMA_MAX / GRID_SIGMA_MIN) / GRID_INTERVALS`.
pub(crate) const GRID_STEP: f64 = 0.053_966_838_117_047_944;
/// `1 / GRID_STEP`.
pub(crate) const GRID_INV_STEP: f64 = 18.529_897_894_538_745;

/// Grid node `j` (`-1 <= j <= GRID_INTERVALS + 1`).
pub(crate) fn grid_sigma(j: i32) -> f64 {
    (GRID_LN_MIN + f64::from(j) * GRID_STEP).exp()
}

/// Below this total volatility `σ √T` the boundary and exponent are their
/// `σ → 0` limits (see [`BawContract::boundary`]), which they match to about
/// `σ √T` in relative terms.
const TOTAL_VOL_MIN: f64 = 1e-9;
/// Largest `|ln(boundary / K)|` searched: beyond it (vols above ~1e60) the
/// premium is dropped.
const LOG_BOUNDARY_MAX: f64 = 300.0;
const MAX_ITERATIONS: usize = 100;

/// `x / (1 - e^{-x})`, continuous at 0 (value 1).
fn x_over_one_minus_exp(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { x / -(-x).exp_m1() }
}

/// Per-contract constants of the BAW approximation (no spot, no vol).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BawContract {
    pub(crate) right: Right,
    pub(crate) k: f64,
    pub(crate) t: f64,
    pub(crate) r: f64,
    pub(crate) b: f64,
    /// φ: +1 call, -1 put.
    pub(crate) phi: f64,
    any_nan: bool,
    /// BAW adds an early-exercise premium (see [`BawContract::new`]).
    pub(crate) premium: bool,
    /// `b T` (clamped as in [`gbs`]).
    bt: f64,
    /// `e^{-rT}` and `e^{(b-r)T}`.
    disc: f64,
    carry: f64,
    /// `2 r / (1 - e^{-rT})` (`2 / T` at `r = 0`): `σ² M / K(T)` in BAW's notation.
    pub(crate) two_g: f64,
    /// `2 b`: `σ² N`.
    pub(crate) two_b: f64,
    sqrt_t: f64,
}

impl BawContract {
    /// Early exercise gets a premium when it can pay in BAW's model: a call if
    /// `b < r` (Haug's condition), a put if `r > 0`, or `r = 0` and `b > 0`.
    ///
    /// Otherwise the price is `max(European, intrinsic)`. That is exact when
    /// early exercise never pays — for a call iff `b >= max(r, 0)`, for a put
    /// iff `r <= 0` and `b <= 0` (the European price then dominates the
    /// exercise value at every date) — and a lower bound in the remaining
    /// negative-rate corners (call with `r <= b < 0`, put with `r < 0 < b`),
    /// where the exercise region is a band that BAW's single boundary cannot
    /// represent.
    pub(crate) fn new(right: Right, k: f64, t: f64, r: f64, b: f64) -> Self {
        let any_nan = k.is_nan() || t.is_nan() || r.is_nan() || b.is_nan();
        let usable = t > 0.0 && t.is_finite() && k > 0.0 && k.is_finite();
        let pays = match right {
            Right::Call => b < r,
            Right::Put => r > 0.0 || (r == 0.0 && b > 0.0),
        };
        let tt = if usable { t } else { 1.0 };
        let rt = (r * tt).clamp(-EXP_ARG_CLAMP, EXP_ARG_CLAMP);
        let bt = (b * tt).clamp(-EXP_ARG_CLAMP, EXP_ARG_CLAMP);
        BawContract {
            right,
            k,
            t,
            r,
            b,
            phi: right.sign(),
            any_nan,
            premium: !any_nan && usable && pays && r.is_finite() && b.is_finite(),
            bt,
            disc: (-rt).exp(),
            carry: (bt - rt).exp(),
            two_g: 2.0 * x_over_one_minus_exp(rt) / tt,
            two_b: 2.0 * b,
            sqrt_t: tt.sqrt(),
        }
    }

    /// The BAW exponent for volatility `sigma`: the root of
    /// `q² + (N - 1) q - M/K = 0` of sign φ (`q2 > 1` for a call, `q1 < 0` for
    /// a put), computed without cancellation. The batch kernel uses the same
    /// expression.
    #[inline(always)]
    pub(crate) fn exponent(phi: f64, two_b: f64, two_g: f64, sigma: f64) -> f64 {
        let inv_v2 = 1.0 / (sigma * sigma);
        let u = two_b * inv_v2 - 1.0;
        let h = two_g * inv_v2;
        let d = (u * u + 4.0 * h).sqrt();
        if phi * u <= 0.0 {
            0.5 * (phi * d - u)
        } else {
            2.0 * h / (u + phi * d)
        }
    }

    /// `H(z)` and `dH/dz` at `ln(S/K) = φ z`, where
    /// `H(S) = φ(S - K) - v(S) - φ (1 - e^{(b-r)T} N(φ d1)) S / q`,
    /// `v` the European price. `H < 0` in the continuation region, `H > 0` in
    /// the exercise region, and `H = 0` defines BAW's boundary.
    fn h(&self, z: f64, v: f64, q: f64) -> (f64, f64) {
        let phi = self.phi;
        let y = phi * z;
        let s = self.k * y.exp();
        let d1 = (y + self.bt) / v + 0.5 * v;
        let nd1 = norm_cdf(phi * d1);
        let nd2 = norm_cdf(phi * (d1 - v));
        let euro = phi * (s * self.carry * nd1 - self.k * self.disc * nd2);
        let keep = 1.0 - self.carry * nd1;
        let h = phi * (s - self.k) - euro - phi * keep * s / q;
        let pdf = (-0.5 * d1 * d1).exp() * 0.398_942_280_401_432_7;
        let dh_ds = phi * keep * (1.0 - 1.0 / q) + self.carry * pdf / (q * v);
        (h, phi * s * dh_ds)
    }

    /// The `σ → 0` limit of [`BawContract::boundary`].
    fn zero_vol_boundary(&self) -> Option<(f64, f64)> {
        if self.phi * self.b <= 0.0 {
            return None;
        }
        let q = self.two_g / self.two_b;
        let bnd = self.k * (1.0 - self.disc) / ((1.0 - self.carry) * (1.0 - 1.0 / q));
        let y = (bnd / self.k).ln();
        let ok = match self.right {
            Right::Call => q > 1.0,
            Right::Put => q < 0.0,
        };
        (ok && q.is_finite() && self.phi * y > 0.0 && y.abs() <= LOG_BOUNDARY_MAX).then_some((q, y))
    }

    /// Haug's seed for the Newton iteration, as `z = φ ln(seed / K)`.
    fn seed(&self, sigma: f64, v: f64, q: f64) -> f64 {
        let (k, phi) = (self.k, self.phi);
        // Perpetual exponent (M = 2r/σ² instead of M/K(T)) where it exists, else q.
        let q_inf = BawContract::exponent(phi, self.two_b, 2.0 * self.r, sigma);
        let perpetual = match self.right {
            Right::Call => q_inf > 1.0,
            Right::Put => q_inf < 0.0,
        };
        let q_inf = if perpetual && q_inf.is_finite() {
            q_inf
        } else {
            q
        };
        let s_inf = k / (1.0 - 1.0 / q_inf);
        let seed = match self.right {
            Right::Call => {
                let h2 = -(self.bt + 2.0 * v) * k / (s_inf - k);
                k + (s_inf - k) * (-h2.exp_m1())
            }
            Right::Put => {
                let h1 = (self.bt - 2.0 * v) * k / (k - s_inf);
                s_inf + (k - s_inf) * h1.exp()
            }
        };
        let z = phi * (seed / k).ln();
        if z > 0.0 && z.is_finite() {
            z.min(LOG_BOUNDARY_MAX)
        } else {
            v.min(1.0)
        }
    }

    /// BAW's exponent `q` and log boundary `y = ln(B / K)` for volatility
    /// `sigma` (`B = S*` for a call, `S**` for a put), or `None` when there is
    /// no premium: the contract has none, or the boundary cannot be found
    /// within `|y| <= 300` (vols above ~1e60).
    ///
    /// Safeguarded Newton on `z = φ y > 0` with bisection (or doubling while no
    /// upper bracket is known), started from Haug's seed; `H` is increasing in
    /// `z` whenever the premium applies. The result depends only on the
    /// contract and `sigma`.
    ///
    /// For `σ √T` below 1e-9 (and `σ <= 0`) the `σ → 0` limit is returned:
    /// when `φ b > 0` the exponent tends to `q0 = M / (K(T) N) = g / b` and
    /// the boundary to `K (1 - e^{-rT}) / ((1 - e^{(b-r)T}) (1 - 1/q0))`
    /// (BAW's approximation of the interior exercise date of the
    /// deterministic problem); otherwise `|q| → ∞` and the premium vanishes.
    pub(crate) fn boundary(&self, sigma: f64) -> Option<(f64, f64)> {
        if !self.premium || sigma.is_nan() {
            return None;
        }
        let v = sigma.max(0.0) * self.sqrt_t;
        if !v.is_finite() {
            return None;
        }
        if v < TOTAL_VOL_MIN {
            return self.zero_vol_boundary();
        }
        let q = BawContract::exponent(self.phi, self.two_b, self.two_g, sigma);
        let q_ok = match self.right {
            Right::Call => q > 1.0,
            Right::Put => q < 0.0,
        };
        if !(q_ok && q.is_finite()) {
            return None;
        }
        let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
        let mut z = self.seed(sigma, v, q);
        for _ in 0..MAX_ITERATIONS {
            let (h, dh) = self.h(z, v, q);
            if !h.is_finite() {
                return None;
            }
            if h < 0.0 {
                lo = z;
            } else if h > 0.0 {
                hi = z;
            } else {
                return Some((q, self.phi * z));
            }
            let newton = z - h / dh;
            let next = if dh > 0.0 && newton > lo && newton < hi {
                newton
            } else if hi.is_finite() {
                0.5 * (lo + hi)
            } else if z >= LOG_BOUNDARY_MAX {
                // H < 0 up to the search limit: no boundary.
                return None;
            } else {
                (2.0 * z).min(LOG_BOUNDARY_MAX)
            };
            let done = (next - z).abs() <= 1e-14 * next;
            z = next;
            if done {
                return Some((q, self.phi * z));
            }
        }
        hi.is_finite().then_some((q, self.phi * z))
    }

    /// BAW price with the exact boundary (see [`american_baw`]).
    pub(crate) fn price(&self, s: f64, sigma: f64) -> f64 {
        if self.any_nan || s.is_nan() || sigma.is_nan() {
            return f64::NAN;
        }
        let (k, t, r, b) = (self.k, self.t, self.r, self.b);
        let intrinsic = self.right.intrinsic(s.max(0.0), k);
        if t <= 0.0 {
            return intrinsic;
        }
        let euro = gbs(self.right, s, k, t, r, b, sigma);
        let floor = intrinsic.max(euro);
        // `s` is not NaN here.
        if s <= 0.0 {
            return floor;
        }
        let Some((q, y)) = self.boundary(sigma) else {
            return floor;
        };
        let ratio = s / k;
        let lm = if ratio.is_normal() {
            ratio.ln()
        } else {
            s.ln() - k.ln()
        };
        let z = lm - y;
        let value = if self.phi * z >= 0.0 {
            intrinsic
        } else {
            let bnd = k * y.exp();
            // Value matching at the boundary: V(B) = φ(B - K).
            let a = self.phi * (bnd - k) - gbs(self.right, bnd, k, t, r, b, sigma);
            euro + a * (q * z).exp()
        };
        value.max(floor)
    }
}

/// American option price by the Barone-Adesi & Whaley (1987) quadratic
/// approximation (Haug, *The Complete Guide to Option Pricing Formulas*,
/// 2nd ed., §3.1.2), with its critical price found to full precision for the
/// given volatility: the scalar reference of [`american`](crate::american) and
/// [`price_american_batch`](crate::price_american_batch), which interpolate the
/// critical price in the volatility.
///
/// `call = c(S) + A2 (S/S*)^q2` for `S < S*`, `S - K` above, where `c` is the
/// European [`gbs`] price, `q2 = (-(N-1) + √((N-1)² + 4M/K(T))) / 2`,
/// `N = 2b/σ²`, `M = 2r/σ²`, `K(T) = 1 - e^{-rT}`, and the critical price `S*`
/// solves `S* - K = c(S*) + (1 - e^{(b-r)T} N(d1(S*))) S*/q2`;
/// `put = p(S) + A1 (S/S**)^q1` for `S > S**`, `K - S` below, with the
/// negative root `q1`. Here `A = φ(B - K) - v(B)` (value matching at the
/// boundary `B`), which equals BAW's `A2 = (S*/q2)(1 - e^{(b-r)T} N(d1(S*)))`
/// at the root; this form makes the price insensitive to first order to an
/// error in the boundary.
///
/// The result is floored at `max(European, intrinsic)`. No premium is added
/// (the price is that floor) for a call with `b >= r`, a put with `r < 0` or
/// with `r = 0, b <= 0` — early exercise never pays there, except in the
/// negative-rate corners (call with `r <= b < 0`, put with `r < 0 < b`) where
/// the exercise region is a band that BAW's single boundary cannot represent
/// and the floor is a lower bound — or for vols so large (above ~1e60) that
/// the boundary leaves `e^{±300} K`. For `σ √T < 1e-9` the boundary and
/// exponent take their `σ → 0` limits: with `0 < b < r` (call) or
/// `b < 0 < r` (put) BAW keeps a premium at zero vol (`q → g/b`), else the
/// price tends to the floor.
///
/// # Accuracy as an American price
///
/// BAW is good for short maturities and deteriorates with maturity (it
/// overprices long-dated options). Measured against a 2001-step
/// Leisen-Reimer tree (K = 100, spots 80-120, vols 0.15-0.35, `(r, b)` in
/// {(0.1, 0), (0.05, 0.05), (0.08, -0.04), (0.03, 0.01)}, both rights; the
/// ignored test `accuracy_against_binomial_tree`), the largest absolute
/// errors are
///
/// | T (years)         | 0.1  | 0.5  | 1    | 3    |
/// |-------------------|------|------|------|------|
/// | BAW               | 0.03 | 0.09 | 0.15 | 0.79 |
/// | BS2002            | 0.11 | 0.11 | 0.10 | 0.13 |
///
/// (at vol 0.6: BAW 0.04, 0.07, 0.23, 1.22; BS2002 0.08, 0.10, 0.17, 0.71).
/// On Haug's Table 3-1/3-2 grid (`T <= 0.5`) BAW lies 0 to 0.055 above
/// Bjerksund-Stensland (2002) ([`american_bs2002`](crate::american_bs2002)),
/// which is a lower bound.
///
/// # Domain
///
/// Total: every finite input gives a non-NaN result (NaN in any argument gives
/// NaN). `t <= 0` gives the intrinsic value; `sigma <= 0` gives the `σ → 0`
/// limit; `s <= 0` (a worthless underlying, as in [`gbs`]) or `k <= 0` give
/// `max(European, intrinsic)`.
///
/// # Examples
///
/// Haug (1998) p. 24 / 2nd ed. Table 3-1 (BAW, futures: `K = 100`, `r = 0.1`,
/// `b = 0`): call `F = 100, T = 0.5, σ = 0.25` is printed 6.8015, the put
/// with `F = 90` 12.4419 (the printed table is reproducible to about 3e-3; the
/// formula gives 6.80134 and 12.44164).
///
/// ```
/// use exfee_pricing::{Right, american_baw};
///
/// let call = american_baw(Right::Call, 100.0, 100.0, 0.5, 0.1, 0.0, 0.25);
/// assert!((call - 6.8015).abs() < 3e-3 && (call - 6.801_341).abs() < 1e-6);
/// let put = american_baw(Right::Put, 90.0, 100.0, 0.5, 0.1, 0.0, 0.25);
/// assert!((put - 12.4419).abs() < 3e-3 && (put - 12.441_642).abs() < 1e-6);
/// ```
pub fn american_baw(right: Right, s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> f64 {
    BawContract::new(right, k, t, r, b).price(s, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bs2002::american_bs2002;
    use crate::tree::leisen_reimer;

    #[test]
    fn grid_constants() {
        assert_eq!(GRID_LN_MIN, GRID_SIGMA_MIN.ln());
        let step = (GRID_SIGMA_MAX / GRID_SIGMA_MIN).ln() / GRID_INTERVALS as f64;
        assert!((GRID_STEP - step).abs() <= 1e-17, "{step}");
        assert!((GRID_INV_STEP * GRID_STEP - 1.0).abs() < 1e-15);
        assert!((grid_sigma(0) - GRID_SIGMA_MIN).abs() < 1e-17);
        assert!(
            (grid_sigma(i32::try_from(GRID_INTERVALS).unwrap_or(i32::MAX)) - GRID_SIGMA_MAX).abs()
                < 1e-14
        );
        assert!(GRID_INTERVALS.is_power_of_two());
    }

    /// Haug, *Option Pricing Formulas* (1998) p. 24 = *The Complete Guide to
    /// Option Pricing Formulas*, 2nd ed., Table 3-1: Barone-Adesi-Whaley values,
    /// K = 100, r = 0.1, b = 0 (q = r), futures 90 / 100 / 110, as transcribed
    /// in QuantLib's test-suite/americanoption.cpp (testBaroneAdesiWhaleyValues).
    /// Rows: (T, sigma, [calls], [puts]).
    ///
    /// The printed values are not reproducible beyond about 3e-3 (QuantLib's
    /// tolerance; its comment: "replicated only up to the second digit by the
    /// VB code provided by Haug"): e.g. the call F = 110, T = 0.1, σ = 0.15 is
    /// printed 10.0089, while the formula gives 10.00606 (the call and put at
    /// F = K must also be equal when b = 0, by put-call symmetry, but are
    /// printed 1.8771 and 1.8770).
    #[rustfmt::skip]
    const HAUG_TABLE_3_1: [(f64, f64, [f64; 3], [f64; 3]); 6] = [
        (0.1, 0.15, [0.0206, 1.8771, 10.0089], [10.0000, 1.8770, 0.0410]),
        (0.1, 0.25, [0.3159, 3.1280, 10.3919], [10.2533, 3.1277, 0.4562]),
        (0.1, 0.35, [0.9495, 4.3777, 11.1679], [10.8787, 4.3777, 1.2402]),
        (0.5, 0.15, [0.8208, 4.0842, 10.8087], [10.5595, 4.0842, 1.0822]),
        (0.5, 0.25, [2.7437, 6.8015, 13.0170], [12.4419, 6.8014, 3.3226]),
        (0.5, 0.35, [5.0063, 9.5106, 15.5689], [14.6945, 9.5104, 5.8823]),
    ];

    /// The same grid from an independent transcription of Haug's BAW
    /// algorithm (his VBA Newton iteration, run to |LHS - RHS| / K < 1e-14,
    /// with N(x) = erfc(-x/√2)/2), not published values.
    #[rustfmt::skip]
    const INDEPENDENT_3_1: [(f64, f64, [f64; 3], [f64; 3]); 6] = [
        (0.1, 0.15, [0.02063560, 1.87692069, 10.00606006], [10.00000000, 1.87692069, 0.04099621]),
        (0.1, 0.25, [0.31590017, 3.12768315, 10.39012350], [10.25299373, 3.12768315, 0.45618496]),
        (0.1, 0.35, [0.94947032, 4.37766902, 11.16784996], [10.87850008, 4.37766902, 1.24020833]),
        (0.5, 0.15, [0.82082167, 4.08411682, 10.80852630], [10.55921288, 4.08411682, 1.08220238]),
        (0.5, 0.25, [2.74360036, 6.80134134, 13.01672953], [12.44164206, 6.80134134, 3.32257190]),
        (0.5, 0.35, [5.00615821, 9.51030684, 15.56842620], [14.69431918, 9.51030684, 5.88218976]),
    ];

    #[test]
    fn haug_table_3_1() {
        let mut worst: f64 = 0.0;
        for (t, sigma, calls, puts) in HAUG_TABLE_3_1 {
            for (i, f) in [90.0, 100.0, 110.0].into_iter().enumerate() {
                let c = american_baw(Right::Call, f, 100.0, t, 0.1, 0.0, sigma);
                let p = american_baw(Right::Put, f, 100.0, t, 0.1, 0.0, sigma);
                worst = worst.max((c - calls[i]).abs()).max((p - puts[i]).abs());
                assert!(
                    (c - calls[i]).abs() < 3e-3,
                    "call F={f} T={t} s={sigma}: {c}"
                );
                assert!((p - puts[i]).abs() < 3e-3, "put F={f} T={t} s={sigma}: {p}");
            }
        }
        eprintln!("BAW vs Haug's printed Table 3-1: worst {worst:.5}");
        // QuantLib's extra case: r = q = 0 is European (4.2294).
        let p = american_baw(Right::Put, 100.0, 100.0, 0.5, 0.0, 0.0, 0.15);
        assert!((p - 4.2294).abs() < 5e-5, "{p}");
        assert_eq!(p, gbs(Right::Put, 100.0, 100.0, 0.5, 0.0, 0.0, 0.15));
    }

    #[test]
    fn matches_an_independent_implementation() {
        for (t, sigma, calls, puts) in INDEPENDENT_3_1 {
            for (i, f) in [90.0, 100.0, 110.0].into_iter().enumerate() {
                let c = american_baw(Right::Call, f, 100.0, t, 0.1, 0.0, sigma);
                let p = american_baw(Right::Put, f, 100.0, t, 0.1, 0.0, sigma);
                assert!(
                    (c - calls[i]).abs() < 1e-8,
                    "call F={f} T={t} s={sigma}: {c}"
                );
                assert!((p - puts[i]).abs() < 1e-8, "put F={f} T={t} s={sigma}: {p}");
            }
        }
    }

    #[test]
    fn gap_to_bs2002_on_haug_grid() {
        // BS2002 is a lower bound; on Haug's grid (Tables 3-1 / 3-2) BAW lies
        // above it, by 0.0000-0.055 per 100 of strike.
        let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
        for (t, sigma, _, _) in HAUG_TABLE_3_1 {
            for f in [90.0, 100.0, 110.0] {
                for right in [Right::Call, Right::Put] {
                    let baw = american_baw(right, f, 100.0, t, 0.1, 0.0, sigma);
                    let bs = american_bs2002(right, f, 100.0, t, 0.1, 0.0, sigma);
                    assert!(
                        baw >= bs - 1e-12 && baw - bs < 0.06,
                        "{right:?} {f} {t} {sigma}"
                    );
                    lo = lo.min(baw - bs);
                    hi = hi.max(baw - bs);
                }
            }
        }
        eprintln!("BAW - BS2002 on Haug's grid: {lo:.4} to {hi:.4}");
    }

    #[test]
    fn boundary_solves_value_matching_and_smooth_pasting() {
        for right in [Right::Call, Right::Put] {
            for &(t, r, b) in &[
                (0.1, 0.1, 0.0),
                (1.0, 0.05, 0.02),
                (3.0, 0.03, -0.04),
                (0.5, 0.08, 0.08),
                (2.0, 0.0, 0.03),
                (1.0, -0.01, -0.05),
            ] {
                let c = BawContract::new(right, 100.0, t, r, b);
                for sigma in [0.004, 0.05, 0.2, 0.6, 2.0, 6.0] {
                    let Some((q, y)) = c.boundary(sigma) else {
                        assert!(!c.premium, "{right:?} {t} {r} {b} {sigma}");
                        continue;
                    };
                    let bnd = 100.0 * y.exp();
                    let euro = gbs(right, bnd, 100.0, t, r, b, sigma);
                    let a = c.phi * (bnd - 100.0) - euro;
                    // Smooth pasting: A = φ (1 - e^{(b-r)T} N(φ d1)) B / q.
                    let v = sigma * t.sqrt();
                    let d1 = (y + b * t) / v + 0.5 * v;
                    let a_sp = c.phi * (1.0 - ((b - r) * t).exp() * norm_cdf(c.phi * d1)) * bnd / q;
                    assert!(
                        (a - a_sp).abs() <= 1e-10 * (1.0 + bnd),
                        "{right:?} t={t} r={r} b={b} s={sigma}: {a} {a_sp}"
                    );
                    assert!(a >= 0.0 && c.phi * y > 0.0);
                }
            }
        }
    }

    #[test]
    fn european_only_contracts() {
        for &(right, r, b) in &[
            (Right::Call, 0.05, 0.05),
            (Right::Call, 0.05, 0.08),
            (Right::Call, 0.0, 0.0),
            (Right::Put, 0.0, 0.0),
            (Right::Put, -0.01, -0.01),
            (Right::Put, -0.02, 0.0),
        ] {
            for s in [60.0, 100.0, 140.0] {
                let a = american_baw(right, s, 100.0, 1.0, r, b, 0.3);
                let e = gbs(right, s, 100.0, 1.0, r, b, 0.3);
                assert_eq!(a, e.max(right.intrinsic(s, 100.0)));
                assert!((a - e).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn dominates_european_and_intrinsic_and_is_bounded() {
        for right in [Right::Call, Right::Put] {
            for &s in &[0.01, 50.0, 80.0, 100.0, 120.0, 200.0, 1e4] {
                for &t in &[1e-5, 0.01, 0.25, 1.0, 3.0, 30.0] {
                    for &(r, b) in &[
                        (0.05, 0.05),
                        (0.05, 0.0),
                        (0.08, -0.04),
                        (0.02, 0.06),
                        (-0.01, -0.03),
                        (0.0, 0.02),
                        (0.3, -0.3),
                    ] {
                        for &sigma in &[0.0, 1e-6, 0.005, 0.05, 0.3, 1.2, 5.0, 40.0] {
                            let a = american_baw(right, s, 100.0, t, r, b, sigma);
                            let e = gbs(right, s, 100.0, t, r, b, sigma);
                            let i = right.intrinsic(s, 100.0);
                            assert!(a.is_finite(), "{right:?} {s} {t} {r} {b} {sigma}");
                            assert!(a >= e && a >= i, "{right:?} {s} {t} {r} {b} {sigma}");
                            let cap = match right {
                                Right::Call => s * f64::max(1.0, ((b - r) * t).exp()),
                                Right::Put => 100.0 * f64::max(1.0, (-r * t).exp()),
                            };
                            assert!(
                                a <= cap * (1.0 + 1e-12),
                                "{right:?} {s} {t} {r} {b} {sigma}: {a} > {cap}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn monotone_in_spot_vol_and_maturity() {
        for right in [Right::Call, Right::Put] {
            for &(r, b) in &[(0.05, 0.0), (0.08, -0.04), (0.05, 0.05), (0.03, 0.01)] {
                let c = BawContract::new(right, 100.0, 1.0, r, b);
                if !c.premium {
                    continue;
                }
                let mut prev = f64::NAN;
                for i in 0..=400 {
                    let s = 40.0 + f64::from(i) * 0.4;
                    let v = american_baw(right, s, 100.0, 1.0, r, b, 0.3);
                    if i > 0 {
                        let ok = match right {
                            Right::Call => v >= prev - 1e-12,
                            Right::Put => v <= prev + 1e-12,
                        };
                        assert!(ok, "{right:?} r={r} b={b} s={s}: {v} after {prev}");
                    }
                    prev = v;
                }
                let lo = american_baw(right, 100.0, 100.0, 1.0, r, b, 0.2);
                let hi = american_baw(right, 100.0, 100.0, 1.0, r, b, 0.3);
                let longer = american_baw(right, 100.0, 100.0, 2.0, r, b, 0.2);
                assert!(hi > lo && longer > lo, "{right:?} {r} {b}");
            }
        }
    }

    #[test]
    fn continuous_at_the_boundary() {
        for right in [Right::Call, Right::Put] {
            let c = BawContract::new(right, 100.0, 1.0, 0.08, -0.04);
            let (_, y) = c.boundary(0.3).unwrap();
            let bnd = 100.0 * y.exp();
            let inside = american_baw(
                right,
                bnd * (1.0 - c.phi * 1e-9),
                100.0,
                1.0,
                0.08,
                -0.04,
                0.3,
            );
            let outside = american_baw(
                right,
                bnd * (1.0 + c.phi * 1e-9),
                100.0,
                1.0,
                0.08,
                -0.04,
                0.3,
            );
            assert!(
                (inside - outside).abs() < 1e-6,
                "{right:?} {inside} {outside}"
            );
        }
    }

    #[test]
    fn small_vol_limit() {
        // sigma -> 0 is continuous. With 0 < b < r (call) or r > 0 > b (put) BAW
        // keeps a premium at zero vol (its exponent tends to g / b); otherwise
        // the price tends to max(European, intrinsic).
        for right in [Right::Call, Right::Put] {
            for &(r, b) in &[(0.08, 0.02), (0.08, -0.02), (0.05, 0.0)] {
                for s in [80.0, 99.0, 100.0, 101.0, 120.0, 140.0] {
                    let zero = american_baw(right, s, 100.0, 1.0, r, b, 0.0);
                    let floor = gbs(right, s, 100.0, 1.0, r, b, 0.0).max(right.intrinsic(s, 100.0));
                    assert!(zero >= floor);
                    if right.sign() * b <= 0.0 {
                        assert_eq!(zero, floor);
                    }
                    for sigma in [1e-12, 1e-9, 1e-7, 1e-5] {
                        let v = american_baw(right, s, 100.0, 1.0, r, b, sigma);
                        assert!(
                            (v - zero).abs() < 1e-4 * sigma.sqrt() + 100.0 * sigma,
                            "{right:?} r={r} b={b} s={s} sigma={sigma}: {v} {zero}"
                        );
                    }
                }
            }
        }
        // The zero-vol premium: call S = 120, K = 100, T = 1, r = 0.08, b = 0.02.
        let zero = american_baw(Right::Call, 120.0, 100.0, 1.0, 0.08, 0.02, 0.0);
        let floor = gbs(Right::Call, 120.0, 100.0, 1.0, 0.08, 0.02, 0.0);
        assert!(zero - floor > 3e-4 && zero - floor < 5e-4, "{zero} {floor}");
    }

    #[test]
    fn never_nan_on_extreme_finite_inputs() {
        let xs = [-1.0, 0.0, 1e-300, 1e-3, 1.0, 100.0, 1e6, 1e300];
        for right in [Right::Call, Right::Put] {
            for &s in &xs {
                for &k in &xs {
                    for &t in &[-1.0, 0.0, 1e-12, 0.5, 50.0, 1e300] {
                        for &(r, b) in &[
                            (0.05, -0.2),
                            (1e3, -1e3),
                            (-0.5, -2.0),
                            (0.0, 0.0),
                            (0.3, 0.1),
                            (0.0, 0.3),
                            (1e300, -1e300),
                        ] {
                            for &sigma in &[-1.0, 0.0, 1e-200, 1e-3, 0.3, 50.0, 1e300] {
                                let v = american_baw(right, s, k, t, r, b, sigma);
                                assert!(!v.is_nan(), "{right:?} {s} {k} {t} {r} {b} {sigma}");
                                assert!(v >= 0.0);
                            }
                        }
                    }
                }
            }
        }
        assert!(american_baw(Right::Put, 1.0, 1.0, 1.0, f64::NAN, 0.0, 0.2).is_nan());
        assert!(american_baw(Right::Put, f64::NAN, 1.0, 1.0, 0.05, 0.0, 0.2).is_nan());
    }

    /// Model accuracy against a 2001-step Leisen-Reimer tree (converged to
    /// about 1e-5 here), K = 100, spots 80-120, four (r, b), both rights:
    /// `cargo test --release -p exfee-pricing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn accuracy_against_binomial_tree() {
        for &t in &[0.1, 0.5, 1.0, 3.0] {
            for sigmas in [&[0.15, 0.25, 0.35][..], &[0.6][..]] {
                let (mut baw_err, mut bs_err, mut worst) = (0.0_f64, 0.0_f64, String::new());
                for right in [Right::Call, Right::Put] {
                    for &(r, b) in &[(0.1, 0.0), (0.05, 0.05), (0.08, -0.04), (0.03, 0.01)] {
                        for &sigma in sigmas {
                            for &s in &[80.0, 90.0, 100.0, 110.0, 120.0] {
                                let tree = leisen_reimer(right, s, 100.0, t, r, b, sigma, 2001);
                                let baw = american_baw(right, s, 100.0, t, r, b, sigma);
                                let bs = american_bs2002(right, s, 100.0, t, r, b, sigma);
                                if (baw - tree).abs() > baw_err {
                                    baw_err = (baw - tree).abs();
                                    worst = format!(
                                        "{right:?} S={s} r={r} b={b} v={sigma}: BAW {baw:.4} tree {tree:.4}"
                                    );
                                }
                                bs_err = bs_err.max((bs - tree).abs());
                            }
                        }
                    }
                }
                eprintln!(
                    "T={t} vols {sigmas:?}: max |BAW - tree| {baw_err:.4} ({worst}); max |BS2002 - tree| {bs_err:.4}"
                );
            }
        }
    }
}
