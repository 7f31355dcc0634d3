//! American options: Bjerksund-Stensland (2002) with lower-bound safeguards.

use std::sync::LazyLock;

use crate::european::gbs;
use crate::normal::{BvnFixedRho, norm_cdf};
use crate::right::Right;

/// `t1 = (√5 - 1) / 2 · T`, the golden-ratio split of the two flat boundaries.
const T1_FRAC: f64 = 0.618_033_988_749_894_8;
/// Correlation of the Brownian motion at `t1` and `T`: `√(t1 / T)`.
const RHO: f64 = 0.786_151_377_757_423_3;
/// Quadrature tables of `M(·, ·; ρ)` and `M(·, ·; -ρ)`, the only correlations used.
static BVN_POS: LazyLock<BvnFixedRho> = LazyLock::new(|| BvnFixedRho::new(RHO));
static BVN_NEG: LazyLock<BvnFixedRho> = LazyLock::new(|| BvnFixedRho::new(-RHO));
/// Reflection factors `(I/S)^κ` and powers `(S/I)^β` with a log above this
/// bound make the closed form numerically meaningless (the products of huge
/// factors and underflowed probabilities). The approximation is then dropped
/// and the lower bounds are used (this happens only for very low volatility,
/// where those bounds converge to the American value).
const MAX_LOG_FACTOR: f64 = 600.0;

/// American option price by Bjerksund-Stensland (2002): the largest of four
/// lower bounds on the true value,
///
/// `max(BS2002, European gbs, intrinsic, European gbs expiring at t*)`,
///
/// where BS2002 is the Bjerksund-Stensland (2002) two-step flat-boundary
/// approximation (Haug, *The Complete Guide to Option Pricing Formulas*,
/// 2nd ed., §3.3), with the put from the put-call transformation
/// `P(S, K, T, r, b, σ) = C(K, S, T, r - b, -b, σ)`, and `t*` is the optimal
/// exercise date of the zero-volatility problem.
///
/// Why a maximum: BS2002 prices one particular (flat-boundary) exercise
/// strategy, so it is a *lower bound* on the American value that, in corners
/// of the parameter space, can drop below the European price or the immediate
/// exercise value, both of which are also lower bounds. Exercising on the fixed
/// date `t*` is another admissible strategy; it matters only where BS2002
/// cannot be evaluated in floating point (very low `σ √T`, where the
/// reflection terms over- and underflow) and gives the exact American value in
/// the `σ → 0` limit. Everywhere else the result is normally the BS2002 value.
///
/// For a call with `b >= r` and `r >= 0` early exercise is never optimal and
/// the price equals the European [`gbs`] price; likewise for a put with `r <= 0`
/// and `b <= r`.
///
/// Arguments as for [`gbs`]: spot `s`, strike `k`, time `t` in years, rate `r`,
/// cost of carry `b` (`r - q` for a stock with yield `q`, 0 for a future),
/// volatility `sigma`.
///
/// This is a scalar reference (about 3 µs per call: sixteen bivariate normal
/// probabilities); the engine's model is Barone-Adesi-Whaley
/// ([`american`](crate::american), [`price_american_batch`](crate::price_american_batch)),
/// which lies 0 to 0.055 above this lower bound on Haug's tables, is more
/// accurate for short maturities and less for long ones (see
/// [`american_baw`](crate::american_baw)).
///
/// # Domain
///
/// Total: every finite input gives a non-NaN result (NaN in any argument gives
/// NaN). `t <= 0` gives the intrinsic value; `sigma <= 0` gives the exact
/// zero-volatility American value; `s <= 0` (a worthless underlying, as in
/// [`gbs`]) or `k <= 0` give `max(European, intrinsic)`.
///
/// # Examples
///
/// Haug Table 3-2 (BS2002, `K = 100, r = 0.1, b = 0`): a futures call with
/// `F = 90, T = 0.5, σ = 0.35` is worth 4.9665, the put with `F = 110` 5.8374.
///
/// ```
/// use exfee_pricing::{Right, american_bs2002, gbs};
///
/// let call = american_bs2002(Right::Call, 90.0, 100.0, 0.5, 0.1, 0.0, 0.35);
/// assert!((call - 4.9665).abs() < 5e-5);
/// let put = american_bs2002(Right::Put, 110.0, 100.0, 0.5, 0.1, 0.0, 0.35);
/// assert!((put - 5.8374).abs() < 5e-5);
/// // Never below the European price.
/// assert!(put >= gbs(Right::Put, 110.0, 100.0, 0.5, 0.1, 0.0, 0.35));
/// ```
pub fn american_bs2002(right: Right, s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> f64 {
    AmericanContract::new(right, k, t, r, b).price(s, sigma)
}

/// Per-contract constants of [`american_bs2002`] that do not depend on spot or vol.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AmericanContract {
    right: Right,
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    /// Rate and carry of the equivalent call (after the put-call transformation).
    call_r: f64,
    call_b: f64,
    /// Early exercise never pays: `call_b >= call_r` and `call_r >= 0`.
    european_only: bool,
    any_nan: bool,
}

impl AmericanContract {
    pub(crate) fn new(right: Right, k: f64, t: f64, r: f64, b: f64) -> Self {
        let (call_r, call_b) = match right {
            Right::Call => (r, b),
            Right::Put => (r - b, -b),
        };
        AmericanContract {
            right,
            k,
            t,
            r,
            b,
            call_r,
            call_b,
            european_only: call_b >= call_r && call_r >= 0.0,
            any_nan: k.is_nan() || t.is_nan() || r.is_nan() || b.is_nan(),
        }
    }

    pub(crate) fn price(&self, s: f64, sigma: f64) -> f64 {
        if self.any_nan || s.is_nan() || sigma.is_nan() {
            return f64::NAN;
        }
        let (k, t, r, b) = (self.k, self.t, self.r, self.b);
        // A non-positive spot is a worthless underlying, as in `gbs`.
        let intrinsic = self.right.intrinsic(s.max(0.0), k);
        if t <= 0.0 {
            return intrinsic;
        }
        let european = gbs(self.right, s, k, t, r, b, sigma);
        let mut best = intrinsic.max(european);
        if self.european_only || !(s > 0.0 && k > 0.0) || !t.is_finite() {
            return best;
        }
        // Call-space spot and strike.
        let (cs, ck) = match self.right {
            Right::Call => (s, k),
            Right::Put => (k, s),
        };
        let (cr, cb) = (self.call_r, self.call_b);
        if let Some(tau) = critical_exercise_time(cs, ck, t, cr, cb) {
            best = best.max(gbs(Right::Call, cs, ck, tau, cr, cb, sigma));
        }
        if cb < cr
            && let Some(v) = bs2002_call(cs, ck, t, cr, cb, sigma)
        {
            best = best.max(v);
        }
        best
    }
}

/// The critical date in `(0, t)` of exercising a call at zero volatility, if any.
///
/// With the underlying growing deterministically at rate `b`, exercising at
/// `τ` is worth `f(τ) = e^{-rτ}(S e^{bτ} - K)`, whose derivative has the sign of
/// the monotone `(b - r) S e^{bτ} + r K`: `f` has at most one critical date,
/// where the forward reaches `r K / (r - b)`, so at `σ = 0` the American value
/// is the largest of `f(0)`, `f(T)` and `f(τ*)`. For any `σ`, exercising on the
/// fixed date `τ*` is an admissible strategy, so the European price with
/// expiry `τ*` is a lower bound on the American price.
fn critical_exercise_time(s: f64, k: f64, t: f64, r: f64, b: f64) -> Option<f64> {
    if b == 0.0 || r == b {
        return None;
    }
    let tau = (r * k / ((r - b) * s)).ln() / b;
    (tau > 0.0 && tau < t).then_some(tau)
}

/// Tracks whether every exponential factor stayed in the meaningful range.
struct Guard {
    ok: bool,
}

impl Guard {
    #[inline]
    fn exp(&mut self, x: f64) -> f64 {
        if x.is_nan() || x > MAX_LOG_FACTOR {
            self.ok = false;
        }
        x.exp()
    }
}

/// Bjerksund-Stensland (2002) American call, Haug 2nd ed. §3.3, evaluated in
/// log space. Requires `s, k, t, sigma > 0` and `b < r`; returns `None` when the
/// inputs are outside the approximation's domain or it cannot be evaluated
/// reliably in `f64`.
pub(crate) fn bs2002_call(s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> Option<f64> {
    if !(s > 0.0 && k > 0.0 && t > 0.0 && sigma > 0.0 && b < r) {
        return None;
    }
    let v2 = sigma * sigma;
    let a = 0.5 - b / v2;
    let q = 2.0 * r / v2;
    let disc = a * a + q;
    if !(disc >= 0.0 && disc.is_finite()) {
        return None;
    }
    let sq = disc.sqrt();
    // Positive root of σ²β²/2 + (b - σ²/2)β - r = 0, without cancellation.
    let beta = if a >= 0.0 { a + sq } else { q / (sq - a) };
    if !(beta > 1.0 && beta.is_finite()) {
        return None;
    }
    let b_inf = beta / (beta - 1.0) * k;
    let b0 = if r > 0.0 { (r / (r - b) * k).max(k) } else { k };
    let spread = b_inf - b0;
    if !(spread > 0.0 && spread.is_finite()) {
        return None;
    }
    let t1 = T1_FRAC * t;
    let kk = (k / spread) * (k / b0);
    let h1 = -(b * t1 + 2.0 * sigma * t1.sqrt()) * kk;
    let h2 = -(b * t + 2.0 * sigma * t.sqrt()) * kk;
    let i1 = b0 - spread * h1.exp_m1();
    let i2 = b0 - spread * h2.exp_m1();
    if !(i1 > 0.0 && i2 > 0.0 && i1.is_finite() && i2.is_finite()) {
        return None;
    }
    if s >= i2 {
        return Some(s - k);
    }

    let p = Params {
        ls: s.ln(),
        b,
        v2,
        vs1: sigma * t1.sqrt(),
        vst: sigma * t.sqrt(),
        t1,
        t,
    };
    let (lk, li1, li2) = (k.ln(), i1.ln(), i2.ln());
    let mut g = Guard { ok: true };

    // α_j S^β = (I_j - K) (S / I_j)^β; the e^{λT} of the γ = β terms is ~1
    // because β solves λ(β) = 0, but it is kept for fidelity.
    let lam_beta = -r + beta * b + 0.5 * beta * (beta - 1.0) * v2;
    let w2 = (i2 - k) * g.exp(beta * (p.ls - li2));
    let w1 = (i1 - k) * g.exp(beta * (p.ls - li1));
    let pv1_t1 = s * g.exp((b - r) * t1);
    let pv1_t = s * g.exp((b - r) * t);
    let pv0_t1 = k * g.exp(-r * t1);
    let pv0_t = k * g.exp(-r * t);

    let value = w2 * (1.0 - g.exp(lam_beta * t1) * p.phi(&mut g, beta, li2, li2))
        + pv1_t1 * (p.phi(&mut g, 1.0, li2, li2) - p.phi(&mut g, 1.0, li1, li2))
        - pv0_t1 * (p.phi(&mut g, 0.0, li2, li2) - p.phi(&mut g, 0.0, li1, li2))
        + w1 * (g.exp(lam_beta * t1) * p.phi(&mut g, beta, li1, li2)
            - g.exp(lam_beta * t) * p.psi(&mut g, beta, li1, li2, li1))
        + pv1_t * (p.psi(&mut g, 1.0, li1, li2, li1) - p.psi(&mut g, 1.0, lk, li2, li1))
        - pv0_t * (p.psi(&mut g, 0.0, li1, li2, li1) - p.psi(&mut g, 0.0, lk, li2, li1));

    (g.ok && value.is_finite()).then_some(value)
}

/// Inputs shared by the φ and ψ brackets (logs of prices, total vols).
struct Params {
    ls: f64,
    b: f64,
    v2: f64,
    /// σ √t1 and σ √T.
    vs1: f64,
    vst: f64,
    t1: f64,
    t: f64,
}

impl Params {
    /// Bracket of Haug's φ(S, t1, γ, H, I) = e^{λ t1} S^γ [N(d) - (I/S)^κ N(d - 2 ln(I/S)/(σ√t1))].
    fn phi(&self, g: &mut Guard, gamma: f64, lh: f64, li: f64) -> f64 {
        let mu = self.b + (gamma - 0.5) * self.v2;
        let kappa = 2.0 * self.b / self.v2 + (2.0 * gamma - 1.0);
        let d = -(self.ls - lh + mu * self.t1) / self.vs1;
        let u = li - self.ls;
        norm_cdf(d) - g.exp(kappa * u) * norm_cdf(d - 2.0 * u / self.vs1)
    }

    /// Bracket of Haug's ψ(S, T, γ, H, I2, I1, t1) = e^{λT} S^γ [M(-e1, -f1, ρ)
    /// - (I2/S)^κ M(-e2, -f2, ρ) - (I1/S)^κ M(-e3, -f3, -ρ) + (I1/I2)^κ M(-e4, -f4, -ρ)].
    fn psi(&self, g: &mut Guard, gamma: f64, lh: f64, li2: f64, li1: f64) -> f64 {
        let ls = self.ls;
        let mu = self.b + (gamma - 0.5) * self.v2;
        let kappa = 2.0 * self.b / self.v2 + (2.0 * gamma - 1.0);
        let (m1, mt) = (mu * self.t1, mu * self.t);
        let e1 = (ls - li1 + m1) / self.vs1;
        let e2 = (2.0 * li2 - ls - li1 + m1) / self.vs1;
        let e3 = (ls - li1 - m1) / self.vs1;
        let e4 = (2.0 * li2 - ls - li1 - m1) / self.vs1;
        let f1 = (ls - lh + mt) / self.vst;
        let f2 = (2.0 * li2 - ls - lh + mt) / self.vst;
        let f3 = (2.0 * li1 - ls - lh + mt) / self.vst;
        let f4 = (ls + 2.0 * li1 - lh - 2.0 * li2 + mt) / self.vst;
        let (pos, neg) = (&*BVN_POS, &*BVN_NEG);
        pos.cdf(-e1, -f1)
            - g.exp(kappa * (li2 - ls)) * pos.cdf(-e2, -f2)
            - g.exp(kappa * (li1 - ls)) * neg.cdf(-e3, -f3)
            + g.exp(kappa * (li1 - li2)) * neg.cdf(-e4, -f4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed., Table 3-2:
    /// Bjerksund-Stensland (2002) values, X = 100, r = 0.1, b = 0, futures price
    /// 90 / 100 / 110. Rows: (T, sigma, [calls], [puts]).
    #[allow(clippy::approx_constant)]
    #[rustfmt::skip]
    const HAUG_TABLE_3_2: [(f64, f64, [f64; 3], [f64; 3]); 6] = [
        (0.1, 0.15, [0.0205, 1.8757, 10.0000], [10.0000, 1.8757, 0.0408]),
        (0.1, 0.25, [0.3151, 3.1256, 10.3725], [10.2280, 3.1256, 0.4552]),
        (0.1, 0.35, [0.9479, 4.3746, 11.1578], [10.8663, 4.3746, 1.2383]),
        (0.5, 0.15, [0.8099, 4.0628, 10.7898], [10.5400, 4.0628, 1.0689]),
        (0.5, 0.25, [2.7180, 6.7661, 12.9814], [12.4097, 6.7661, 3.2932]),
        (0.5, 0.35, [4.9665, 9.4608, 15.5137], [14.6445, 9.4608, 5.8374]),
    ];

    #[test]
    fn haug_table_3_2() {
        for (t, sigma, calls, puts) in HAUG_TABLE_3_2 {
            for (i, f) in [90.0, 100.0, 110.0].into_iter().enumerate() {
                // Raw approximation (puts through the put-call transformation) ...
                let raw_c = bs2002_call(f, 100.0, t, 0.1, 0.0, sigma).unwrap();
                let raw_p = bs2002_call(100.0, f, t, 0.1, 0.0, sigma).unwrap();
                assert!(
                    (raw_c - calls[i]).abs() < 5e-5,
                    "call F={f} T={t} s={sigma}: {raw_c}"
                );
                assert!(
                    (raw_p - puts[i]).abs() < 5e-5,
                    "put F={f} T={t} s={sigma}: {raw_p}"
                );
                // ... and the public price.
                let c = american_bs2002(Right::Call, f, 100.0, t, 0.1, 0.0, sigma);
                let p = american_bs2002(Right::Put, f, 100.0, t, 0.1, 0.0, sigma);
                assert!(
                    (c - calls[i]).abs() < 5e-5,
                    "call F={f} T={t} s={sigma}: {c}"
                );
                assert!((p - puts[i]).abs() < 5e-5, "put F={f} T={t} s={sigma}: {p}");
            }
        }
    }

    #[test]
    fn bs1993_example_is_a_lower_bound_for_bs2002() {
        // Haug §3.2: S=42, X=40, T=0.75, r=0.04, b=-0.04, sigma=0.35. BS1993 gives 5.2704 and
        // the European call 5.0975; BS2002 (a better exercise strategy) must lie above both.
        let v = american_bs2002(Right::Call, 42.0, 40.0, 0.75, 0.04, -0.04, 0.35);
        let euro = gbs(Right::Call, 42.0, 40.0, 0.75, 0.04, -0.04, 0.35);
        assert!((euro - 5.0975).abs() < 5e-5, "{euro}");
        assert!(v > 5.2704 && v < 5.4, "{v}");
    }

    #[test]
    fn call_without_early_exercise_is_european() {
        for &(s, k, t, r, b, sigma) in &[
            (42.0, 40.0, 0.5, 0.1, 0.1, 0.2),
            (100.0, 120.0, 2.0, 0.05, 0.08, 0.4),
            (100.0, 80.0, 1.0, 0.0, 0.0, 0.3),
        ] {
            assert_eq!(
                american_bs2002(Right::Call, s, k, t, r, b, sigma),
                gbs(Right::Call, s, k, t, r, b, sigma)
            );
        }
    }

    #[test]
    fn american_dominates_european_and_intrinsic() {
        for right in [Right::Call, Right::Put] {
            for &s in &[0.01, 50.0, 80.0, 100.0, 120.0, 200.0] {
                for &t in &[0.01, 0.25, 1.0, 3.0] {
                    for &(r, b) in &[
                        (0.05, 0.05),
                        (0.05, 0.0),
                        (0.08, -0.04),
                        (0.02, 0.06),
                        (-0.01, -0.03),
                    ] {
                        for &sigma in &[0.0, 0.005, 0.05, 0.3, 1.2] {
                            let a = american_bs2002(right, s, 100.0, t, r, b, sigma);
                            let e = gbs(right, s, 100.0, t, r, b, sigma);
                            let i = right.intrinsic(s, 100.0);
                            assert!(a.is_finite(), "{right:?} {s} {t} {r} {b} {sigma}");
                            assert!(
                                a >= e && a >= i,
                                "{right:?} {s} {t} {r} {b} {sigma}: {a} {e} {i}"
                            );
                            // A call is worth at most the underlying, a put at most the strike
                            // (both grown at the rate when it is negative).
                            let cap = match right {
                                Right::Call => s * f64::max(1.0, ((b - r) * t).exp()),
                                Right::Put => 100.0 * f64::max(1.0, (-r * t).exp()),
                            };
                            assert!(
                                a <= cap * (1.0 + 1e-12),
                                "{right:?} {s} {t} {r} {b} {sigma}: {a}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn american_put_limits() {
        // T -> 0: American put -> European put (and both -> intrinsic).
        let a = american_bs2002(Right::Put, 95.0, 100.0, 1e-6, 0.05, 0.05, 0.3);
        let e = gbs(Right::Put, 95.0, 100.0, 1e-6, 0.05, 0.05, 0.3);
        assert!((a - e).abs() < 1e-5 && (a - 5.0).abs() < 1e-3, "{a} {e}");
        // Deep in the money (S tiny): exercise now, worth K - S.
        let a = american_bs2002(Right::Put, 0.5, 100.0, 1.0, 0.05, 0.05, 0.3);
        assert!((a - 99.5).abs() < 1e-12, "{a}");
        // t <= 0: intrinsic.
        assert_eq!(
            american_bs2002(Right::Put, 90.0, 100.0, 0.0, 0.05, 0.05, 0.3),
            10.0
        );
        // Monotone in vol and maturity.
        let lo = american_bs2002(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
        let hi = american_bs2002(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.3);
        let longer = american_bs2002(Right::Put, 100.0, 100.0, 2.0, 0.05, 0.05, 0.2);
        assert!(hi > lo && longer > lo);
    }

    #[test]
    fn zero_vol_is_the_deterministic_american_value() {
        // Put on a non-dividend stock at sigma = 0: S grows at r; exercising now is worth
        // K - S, waiting only loses interest on K (b = r > 0), so the value is K - S.
        let a = american_bs2002(Right::Put, 90.0, 100.0, 1.0, 0.05, 0.05, 0.0);
        assert!((a - 10.0).abs() < 1e-12);
        // Call with 0 < b < r at sigma = 0: the optimum date solves S e^{bτ} = rK/(r - b).
        let (s, k, t, r, b): (f64, f64, f64, f64, f64) = (100.0, 100.0, 20.0, 0.08, 0.02);
        let tau = ((r * k / (r - b)) / s).ln() / b;
        assert!(tau > 0.0 && tau < t);
        let best = (-r * tau).exp() * (s * (b * tau).exp() - k);
        let a = american_bs2002(Right::Call, s, k, t, r, b, 0.0);
        assert!((a - best).abs() < 1e-12, "{a} {best}");
        // Tiny vol stays continuous with it.
        let tiny = american_bs2002(Right::Call, s, k, t, r, b, 1e-4);
        assert!(tiny >= a && tiny - a < 1e-2, "{tiny} {a}");
    }

    #[test]
    fn zero_vol_matches_brute_force_over_exercise_dates() {
        // At sigma = 0 the path is known: the American value is the best discounted
        // exercise value over all dates in [0, T].
        for right in [Right::Call, Right::Put] {
            for &s in &[60.0, 95.0, 100.0, 104.0, 150.0] {
                for &(r, b) in &[
                    (0.08, 0.02),
                    (0.05, -0.03),
                    (-0.02, -0.01),
                    (-0.01, 0.03),
                    (0.03, 0.07),
                    (0.0, -0.02),
                ] {
                    let (k, t) = (100.0, 10.0);
                    let mut best: f64 = 0.0;
                    for i in 0..=100_000 {
                        let tau = t * f64::from(i) / 100_000.0;
                        let v = (-r * tau).exp() * right.intrinsic(s * (b * tau).exp(), k);
                        best = best.max(v);
                    }
                    let a = american_bs2002(right, s, k, t, r, b, 0.0);
                    assert!(
                        (a - best).abs() < 1e-7,
                        "{right:?} s={s} r={r} b={b}: {a} vs {best}"
                    );
                }
            }
        }
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
                        ] {
                            for &sigma in &[-1.0, 0.0, 1e-200, 1e-3, 0.3, 50.0, 1e300] {
                                let v = american_bs2002(right, s, k, t, r, b, sigma);
                                assert!(!v.is_nan(), "{right:?} {s} {k} {t} {r} {b} {sigma}");
                            }
                        }
                    }
                }
            }
        }
        assert!(american_bs2002(Right::Put, 1.0, 1.0, 1.0, f64::NAN, 0.0, 0.2).is_nan());
    }
}
