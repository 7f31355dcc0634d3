//! Generalised Black-Scholes-Merton (cost of carry `b`), Merton and Black-76.

use crate::normal::norm_cdf;
use crate::right::Right;

/// `r * t` and `b * t` are clamped to this magnitude; `exp` saturates long before.
pub(crate) const EXP_ARG_CLAMP: f64 = 1.0e4;
/// Total volatility `sigma * sqrt(t)` is clamped to `[VOL_MIN, VOL_MAX]`. Below
/// `VOL_MIN` every price equals its zero-volatility limit to far below an ulp,
/// above `VOL_MAX` every `N(d)` is exactly 0 or 1, so nothing is lost, and the
/// clamp keeps `d1`, `d2` finite (no `0/0` or `inf - inf`).
pub(crate) const VOL_MIN: f64 = 1.0e-100;
pub(crate) const VOL_MAX: f64 = 1.0e100;

/// `a * e^x` for `a > 0` without spurious overflow to infinity or underflow.
#[inline]
fn mul_exp(a: f64, x: f64) -> f64 {
    let p = a * x.exp();
    if p.is_finite() && p > 0.0 {
        p
    } else {
        (a.ln() + x).exp()
    }
}

/// Generalised Black-Scholes-Merton price of a European option with cost of
/// carry `b` (Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed.,
/// §1.1.6):
///
/// `call = S e^{(b-r)T} N(d1) - K e^{-rT} N(d2)`,
/// `put = K e^{-rT} N(-d2) - S e^{(b-r)T} N(-d1)`,
/// `d1 = (ln(S/K) + (b + σ²/2) T) / (σ √T)`, `d2 = d1 - σ √T`.
///
/// `b = r` is Black-Scholes (1973) on a non-dividend stock, `b = r - q` is
/// Merton (1973) with dividend yield `q` (see [`bsm`]), `b = 0` is Black (1976)
/// on a future (see [`black76`]), `b = r - r_f` is Garman-Kohlhagen on a currency.
///
/// Arguments: spot `s`, strike `k`, time to expiry `t` in years, continuously
/// compounded rate `r`, cost of carry `b`, volatility `sigma`.
///
/// # Domain
///
/// Total: every finite input gives a non-NaN result (NaN in any argument gives NaN).
/// Limits are returned where the formula degenerates:
/// - `t <= 0`: the intrinsic value `max(φ(S - K), 0)`;
/// - `sigma <= 0`: the discounted intrinsic value of the forward,
///   `e^{-rT} max(φ(S e^{bT} - K), 0)`;
/// - very large `sigma`: call `S e^{(b-r)T}`, put `K e^{-rT}`;
/// - `s <= 0` (worthless underlying): call 0, put `K e^{-rT}`;
/// - `k <= 0` (exercise is certain): call `S e^{(b-r)T} - K e^{-rT}`, put 0.
///
/// The result is `+inf` only when the true value overflows `f64`.
///
/// # Examples
///
/// Haug's generalised BSM example: put, `S = 75, K = 70, T = 0.5, r = 0.10,
/// b = 0.05, σ = 0.35` is worth 4.0870.
///
/// ```
/// use exfee_pricing::{Right, gbs};
///
/// let put = gbs(Right::Put, 75.0, 70.0, 0.5, 0.10, 0.05, 0.35);
/// assert!((put - 4.0870).abs() < 5e-5);
/// // At expiry the price is the intrinsic value.
/// assert_eq!(gbs(Right::Call, 110.0, 100.0, 0.0, 0.05, 0.05, 0.2), 10.0);
/// ```
pub fn gbs(right: Right, s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> f64 {
    if s.is_nan() || k.is_nan() || t.is_nan() || r.is_nan() || b.is_nan() || sigma.is_nan() {
        return f64::NAN;
    }
    if t <= 0.0 {
        return right.intrinsic(s.max(0.0), k);
    }
    let t = t.min(f64::MAX);
    let rt = (r * t).clamp(-EXP_ARG_CLAMP, EXP_ARG_CLAMP);
    let bt = (b * t).clamp(-EXP_ARG_CLAMP, EXP_ARG_CLAMP);

    if k <= 0.0 {
        // Payoff is linear: the option is a forward contract.
        return match right {
            Right::Put => 0.0,
            Right::Call => {
                let pv_s = if s > 0.0 { mul_exp(s, bt - rt) } else { 0.0 };
                let pv_k = if k < 0.0 { mul_exp(-k, -rt) } else { 0.0 };
                pv_s + pv_k
            }
        };
    }
    if s <= 0.0 {
        return match right {
            Right::Call => 0.0,
            Right::Put => mul_exp(k, -rt),
        };
    }

    let phi = right.sign();
    let v = (sigma.max(0.0) * t.sqrt()).clamp(VOL_MIN, VOL_MAX);
    let ratio = s / k;
    let log_moneyness = if ratio.is_normal() {
        ratio.ln()
    } else {
        s.ln() - k.ln()
    };
    // m = ln(F / K), F = S e^{bT}.
    let m = log_moneyness + bt;
    let x = m / v;
    let n1 = norm_cdf(phi * (x + 0.5 * v));
    let n2 = norm_cdf(phi * (x - 0.5 * v));
    // Factor out the larger of PV(F) and PV(K) so that the bracket lies in
    // [-1, 1]: e = min(F/K, K/F) <= 1.
    let e = (-m.abs()).exp();
    let (bracket, pos) = if m >= 0.0 {
        (n1 - e * n2, true)
    } else {
        (e * n1 - n2, false)
    };
    let bracket = (phi * bracket).max(0.0);
    if bracket == 0.0 {
        return 0.0;
    }
    let scale = if pos {
        mul_exp(s, bt - rt)
    } else {
        mul_exp(k, -rt)
    };
    scale * bracket
}

/// Merton (1973) price of a European option on a stock or index paying a
/// continuous dividend yield `q`: [`gbs`] with cost of carry `b = r - q`.
///
/// Same domain and limits as [`gbs`].
///
/// # Examples
///
/// Hull, *Options, Futures, and Other Derivatives*: `S = 42, K = 40, r = 10%,
/// σ = 20%, T = 0.5`, no dividends: call 4.76, put 0.81.
///
/// ```
/// use exfee_pricing::{Right, bsm};
///
/// let call = bsm(Right::Call, 42.0, 40.0, 0.5, 0.10, 0.0, 0.20);
/// let put = bsm(Right::Put, 42.0, 40.0, 0.5, 0.10, 0.0, 0.20);
/// assert_eq!(format!("{call:.2} {put:.2}"), "4.76 0.81");
/// ```
pub fn bsm(right: Right, s: f64, k: f64, t: f64, r: f64, q: f64, sigma: f64) -> f64 {
    gbs(right, s, k, t, r, r - q, sigma)
}

/// Black (1976) price of a European option on a futures or forward price `f`:
/// [`gbs`] with cost of carry `b = 0`,
/// `call = e^{-rT} (F N(d1) - K N(d2))`, `put = e^{-rT} (K N(-d2) - F N(-d1))`.
///
/// Same domain and limits as [`gbs`] (with `s = f`).
///
/// # Examples
///
/// Haug §1.1.3: Brent futures option, `F = 19, K = 19, T = 0.75, r = 0.10,
/// σ = 0.28`: call and put are both 1.7011.
///
/// ```
/// use exfee_pricing::{Right, black76};
///
/// let call = black76(Right::Call, 19.0, 19.0, 0.75, 0.10, 0.28);
/// let put = black76(Right::Put, 19.0, 19.0, 0.75, 0.10, 0.28);
/// assert_eq!(format!("{call:.4} {put:.4}"), "1.7011 1.7011");
/// ```
pub fn black76(right: Right, f: f64, k: f64, t: f64, r: f64, sigma: f64) -> f64 {
    gbs(right, f, k, t, r, 0.0, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn hull_example() {
        // Hull, Options Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5.
        let c = gbs(Right::Call, 42.0, 40.0, 0.5, 0.1, 0.1, 0.2);
        let p = gbs(Right::Put, 42.0, 40.0, 0.5, 0.1, 0.1, 0.2);
        assert!(close(c, 4.76, 0.005), "{c}");
        assert!(close(p, 0.81, 0.005), "{p}");
    }

    #[test]
    fn haug_chapter_one_examples() {
        // Haug 2nd ed. §1.1.2 Merton: put S=100, X=95, T=0.5, r=0.1, q=0.05, sigma=0.2 -> 2.4648.
        assert!(close(
            bsm(Right::Put, 100.0, 95.0, 0.5, 0.1, 0.05, 0.2),
            2.4648,
            5e-5
        ));
        // §1.1.3 Black-76: F=19, X=19, T=0.75, r=0.1, sigma=0.28 -> call = put = 1.7011.
        // By hand: d1 = 0.28^2/2 * 0.75 / (0.28 sqrt(0.75)) = 0.121244 = -d2,
        // N(d1) - N(d2) = 0.096502, e^{-0.075} = 0.927743, 0.927743 * 19 * 0.096502 = 1.70105.
        assert!(close(
            black76(Right::Call, 19.0, 19.0, 0.75, 0.1, 0.28),
            1.7011,
            5e-5
        ));
        assert!(close(
            black76(Right::Put, 19.0, 19.0, 0.75, 0.1, 0.28),
            1.7011,
            5e-5
        ));
        // §1.1.5 Garman-Kohlhagen: S=1.56, X=1.6, T=0.5, r=0.06, rf=0.08, sigma=0.12 -> 0.0291.
        assert!(close(
            gbs(Right::Call, 1.56, 1.6, 0.5, 0.06, 0.06 - 0.08, 0.12),
            0.0291,
            5e-5
        ));
        // §1.1.6 generalised BSM: put S=75, X=70, T=0.5, r=0.1, b=0.05, sigma=0.35 -> 4.0870.
        assert!(close(
            gbs(Right::Put, 75.0, 70.0, 0.5, 0.1, 0.05, 0.35),
            4.0870,
            5e-5
        ));
        // MATLAB blkprice doc (Hull 5th ed. pp. 287-288): F=K=20, r=9%, T=4/12, sigma=25% -> 1.1166.
        assert!(close(
            black76(Right::Call, 20.0, 20.0, 4.0 / 12.0, 0.09, 0.25),
            1.1166,
            5e-5
        ));
        assert!(close(
            black76(Right::Put, 20.0, 20.0, 4.0 / 12.0, 0.09, 0.25),
            1.1166,
            5e-5
        ));
    }

    #[test]
    fn put_call_parity_grid() {
        for &s in &[1.0, 50.0, 90.0, 100.0, 110.0, 250.0] {
            for &k in &[0.5, 80.0, 100.0, 120.0, 400.0] {
                for &t in &[1e-4, 0.1, 1.0, 5.0] {
                    for &r in &[-0.01, 0.0, 0.05, 0.2] {
                        for &b in &[-0.1, 0.0, 0.03, 0.2] {
                            for &sigma in &[0.01, 0.2, 0.8, 3.0] {
                                let c = gbs(Right::Call, s, k, t, r, b, sigma);
                                let p = gbs(Right::Put, s, k, t, r, b, sigma);
                                let fwd = s * ((b - r) * t).exp() - k * (-r * t).exp();
                                let tol = 1e-12 * (s + k);
                                assert!(close(c - p, fwd, tol), "{s} {k} {t} {r} {b} {sigma}");
                                assert!(c >= 0.0 && p >= 0.0);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn black76_parity_grid() {
        for &f in &[10.0, 95.0, 100.0, 105.0, 300.0] {
            for &k in &[50.0, 100.0, 150.0] {
                for &t in &[0.01, 0.5, 2.0] {
                    for &r in &[0.0, 0.03, 0.1] {
                        for &sigma in &[0.05, 0.3, 1.0] {
                            let c = black76(Right::Call, f, k, t, r, sigma);
                            let p = black76(Right::Put, f, k, t, r, sigma);
                            let parity = (-r * t).exp() * (f - k);
                            assert!(close(c - p, parity, 1e-12 * (f + k)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn limits() {
        // t <= 0: intrinsic.
        assert_eq!(gbs(Right::Call, 105.0, 100.0, 0.0, 0.05, 0.02, 0.3), 5.0);
        assert_eq!(gbs(Right::Put, 105.0, 100.0, -1.0, 0.05, 0.02, 0.3), 0.0);
        assert!(close(
            gbs(Right::Put, 95.0, 100.0, 0.0, 0.05, 0.02, 0.3),
            5.0,
            1e-12
        ));
        assert_eq!(gbs(Right::Call, 100.0, 100.0, 0.0, 0.05, 0.02, 0.3), 0.0);
        // sigma -> 0: discounted forward intrinsic.
        let (s, k, t, r, b): (f64, f64, f64, f64, f64) = (100.0, 95.0, 0.75, 0.05, 0.02);
        let fwd_call = (-r * t).exp() * (s * (b * t).exp() - k);
        for sigma in [0.0, -0.3, 1e-12] {
            assert!(close(
                gbs(Right::Call, s, k, t, r, b, sigma),
                fwd_call,
                1e-11
            ));
            assert!(close(gbs(Right::Put, s, k, t, r, b, sigma), 0.0, 1e-11));
        }
        assert!(close(
            gbs(Right::Put, 90.0, 95.0, t, r, 0.0, 0.0),
            (-r * t).exp() * 5.0,
            1e-12
        ));
        // Huge vol: call -> S e^{(b-r)T}, put -> K e^{-rT}.
        for sigma in [1e4, 1e200, f64::MAX] {
            let c = gbs(Right::Call, s, k, t, r, b, sigma);
            assert!(close(c, s * ((b - r) * t).exp(), 1e-9), "{sigma} {c}");
            let p = gbs(Right::Put, s, k, t, r, b, sigma);
            assert!(close(p, k * (-r * t).exp(), 1e-9));
        }
        // Worthless underlying and non-positive strike.
        assert_eq!(gbs(Right::Call, 0.0, 100.0, 1.0, 0.05, 0.05, 0.2), 0.0);
        assert!(close(
            gbs(Right::Put, -3.0, 100.0, 1.0, 0.05, 0.05, 0.2),
            100.0 * (-0.05f64).exp(),
            1e-12
        ));
        assert!(close(
            gbs(Right::Call, 100.0, 0.0, 1.0, 0.05, 0.0, 0.2),
            100.0 * (-0.05f64).exp(),
            1e-12
        ));
        assert_eq!(gbs(Right::Put, 100.0, 0.0, 1.0, 0.05, 0.0, 0.2), 0.0);
    }

    #[test]
    fn never_nan_on_extreme_finite_inputs() {
        let xs = [
            -f64::MAX,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            5e-324,
            1e-300,
            1e-8,
            0.5,
            1.0,
            100.0,
            1e8,
            1e300,
            f64::MAX,
        ];
        for right in [Right::Call, Right::Put] {
            for &s in &xs {
                for &k in &xs {
                    for &t in &[-1.0, 0.0, 1e-300, 0.5, 30.0, 1e300] {
                        for &r in &[-1e300, -0.5, 0.0, 0.05, 1e300] {
                            for &b in &[-1e300, -0.5, 0.0, 0.05, 1e300] {
                                for &sigma in &[-1.0, 0.0, 1e-300, 0.2, 1e300] {
                                    let v = gbs(right, s, k, t, r, b, sigma);
                                    assert!(!v.is_nan(), "{right:?} {s} {k} {t} {r} {b} {sigma}");
                                    assert!(v >= 0.0);
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(gbs(Right::Call, f64::NAN, 1.0, 1.0, 0.0, 0.0, 0.2).is_nan());
    }
}
