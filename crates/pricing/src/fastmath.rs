//! Branch-free `f64` `exp`, `ln` and normal CDF for the batch kernels.
//!
//! Every function is `#[inline(always)]` and made only of arithmetic, compares
//! that feed selects, and integer bit manipulation, so that a loop calling
//! them autovectorises (libm's `exp`/`ln` are opaque calls that do not). The
//! `FMA` parameter picks fused multiply-adds. `f64::mul_add` is correctly
//! rounded everywhere (one instruction with hardware FMA, libm's `fma`
//! otherwise), so the batch kernels always take `true` and give the same bits
//! on every machine; `false` is for the scalar node tables, which every
//! machine computes alike.
//!
//! Accuracy (checked in the tests against `std` and `statrs`):
//! - [`exp`]: a few ulp on `[-708, 709]` (argument clamped to that range);
//! - [`ln`]: absolute error below 4e-16 per unit of `|ln x|`, for positive normal `x`;
//! - [`norm_cdf`]: absolute error below 3e-16 (Hart 1968 / West 2005 rational).

/// `1.5 · 2^52`: adding it rounds a float of magnitude below 2^51 to an integer
/// that then sits in the low mantissa bits.
pub(crate) const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// ln 2 split so that `n · LN2_HI` is exact for `|n| < 2^21` (fdlibm).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
const LOG2_E: f64 = std::f64::consts::LOG2_E;
const EXP_MIN_ARG: f64 = -708.0;
const EXP_MAX_ARG: f64 = 709.0;

/// `a * b + c`, fused when `FMA`.
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `if c { a } else { b }` with both sides already computed (becomes a blend).
#[inline(always)]
pub(crate) fn select(c: bool, a: f64, b: f64) -> f64 {
    if c { a } else { b }
}

/// Horner evaluation, coefficients from the highest degree down.
#[inline(always)]
fn horner<const FMA: bool, const N: usize>(x: f64, coeffs: &[f64; N]) -> f64 {
    let mut acc = 0.0;
    for &c in coeffs {
        acc = madd::<FMA>(acc, x, c);
    }
    acc
}

/// `e^x` for `x` clamped to `[-708, 709]` (so the result is a positive normal
/// number; NaN propagates). Range reduction `x = n ln2 + r`, `|r| <= ln2/2`,
/// then the degree-13 Taylor polynomial (truncation error < 5e-18) and a
/// `2^n` scale built from the exponent bits.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f64) -> f64 {
    const C: [f64; 14] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    let x = select(x < EXP_MIN_ARG, EXP_MIN_ARG, x);
    let x = select(x > EXP_MAX_ARG, EXP_MAX_ARG, x);
    let t = madd::<FMA>(x, LOG2_E, ROUND_MAGIC);
    let n = t - ROUND_MAGIC;
    let r = madd::<FMA>(-n, LN2_HI, x);
    let r = madd::<FMA>(-n, LN2_LO, r);
    let p = horner::<FMA, 14>(r, &C);
    // n + 1023 lies in [1, 2046]: a normal power of two.
    let biased = t
        .to_bits()
        .wrapping_sub(ROUND_MAGIC.to_bits())
        .wrapping_add(1023);
    p * f64::from_bits(biased << 52)
}

/// Natural log of a positive normal `x` (zero, subnormal, negative or infinite
/// input gives a meaningless finite value: callers clamp first). `x = 2^e m`,
/// `m` in `[√½, √2)`, `ln m = 2 atanh(s)`, `s = (m-1)/(m+1)`, `|s| <= 0.172`,
/// by its odd series to `s^21` (truncation error < 3e-19).
#[inline(always)]
pub(crate) fn ln<const FMA: bool>(x: f64) -> f64 {
    // 2 / (2j + 1), j = 10 down to 1.
    const C: [f64; 10] = [
        2.0 / 21.0,
        2.0 / 19.0,
        2.0 / 17.0,
        2.0 / 15.0,
        2.0 / 13.0,
        2.0 / 11.0,
        2.0 / 9.0,
        2.0 / 7.0,
        2.0 / 5.0,
        2.0 / 3.0,
    ];
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let bits = x.to_bits();
    let m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    // The biased exponent as a float, exactly, without an int -> float conversion
    // (AVX2 has none for 64-bit lanes).
    let e = f64::from_bits((bits >> 52) | 0x4330_0000_0000_0000) - (TWO_52 + 1023.0);
    let big = m > std::f64::consts::SQRT_2;
    let m = select(big, 0.5 * m, m);
    let e = select(big, e + 1.0, e);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let ln_m = madd::<FMA>(s * z, horner::<FMA, 10>(z, &C), 2.0 * s);
    madd::<FMA>(e, LN2_HI, madd::<FMA>(e, LN2_LO, ln_m))
}

/// Standard normal CDF with absolute error below 3e-16: Hart (1968) algorithm
/// 5666 as given by West (2005), "Better approximations to cumulative normal
/// functions", `N(-|x|) = e^{-x²/2} P(|x|) / Q(|x|)`. The rational is used on
/// the whole line, with `|x|` clamped at 40: West switches to a continued
/// fraction beyond 7.07, where the tail is below 1e-12, for relative accuracy
/// in the far tail, which prices do not need (the rational's relative error
/// there is about 1e-8).
#[inline(always)]
pub(crate) fn norm_cdf<const FMA: bool>(x: f64) -> f64 {
    const P: [f64; 7] = [
        3.526_249_659_989_11e-2,
        0.700_383_064_443_688,
        6.373_962_203_531_65,
        33.912_866_078_383,
        112.079_291_497_871,
        221.213_596_169_931,
        220.206_867_912_376,
    ];
    const Q: [f64; 8] = [
        8.838_834_764_831_84e-2,
        1.755_667_163_182_64,
        16.064_177_579_207,
        86.780_732_202_946_1,
        296.564_248_779_674,
        637.333_633_378_831,
        793.826_512_519_948,
        440.413_735_824_752,
    ];
    let z = x.abs();
    let z = select(z > 40.0, 40.0, z);
    let g = exp::<FMA>(-0.5 * z * z);
    let tail = g * horner::<FMA, 7>(z, &P) / horner::<FMA, 8>(z, &Q);
    select(x > 0.0, 1.0 - tail, tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::SQRT_2;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs() / f64::EPSILON
    }

    #[test]
    fn exp_matches_std() {
        for fma in [false, true] {
            let mut worst: f64 = 0.0;
            let mut x = -708.0;
            while x <= 709.0 {
                let got = if fma { exp::<true>(x) } else { exp::<false>(x) };
                worst = worst.max(ulps(got, x.exp()));
                x += 0.012_345_6;
            }
            assert!(worst < 4.0, "fma={fma} worst {worst} ulp");
        }
        assert_eq!(exp::<false>(0.0), 1.0);
        assert!(exp::<false>(-1e6) > 0.0 && exp::<false>(1e6).is_finite());
        assert!(exp::<false>(f64::NAN).is_nan());
    }

    #[test]
    fn ln_matches_std() {
        for fma in [false, true] {
            let mut worst: f64 = 0.0;
            let mut x = f64::MIN_POSITIVE;
            while x < 1e308 {
                let (below, above) = (SQRT_2 * (1.0 - 1e-15), SQRT_2 * (1.0 + 1e-15));
                for y in [x, x * 1.234_567, x * below, x * above, x * 1.999_999] {
                    let got = if fma { ln::<true>(y) } else { ln::<false>(y) };
                    let want = y.ln();
                    worst = worst.max((got - want).abs() / want.abs().max(1.0));
                }
                x *= 3.7;
            }
            // Near 1, where the result is small.
            let mut y = 0.5;
            while y < 2.0 {
                let got = if fma { ln::<true>(y) } else { ln::<false>(y) };
                worst = worst.max((got - y.ln()).abs());
                y += 1.0e-4;
            }
            assert!(worst < 4e-16, "fma={fma} worst {worst}");
        }
        assert_eq!(ln::<false>(1.0), 0.0);
    }

    #[test]
    fn norm_cdf_matches_scalar_cody() {
        for fma in [false, true] {
            let mut worst: f64 = 0.0;
            let mut x = -45.0;
            while x <= 45.0 {
                let got = if fma {
                    norm_cdf::<true>(x)
                } else {
                    norm_cdf::<false>(x)
                };
                worst = worst.max((got - crate::normal::norm_cdf(x)).abs());
                x += 0.000_731;
            }
            eprintln!("fast norm_cdf fma={fma}: worst abs error {worst:e}");
            assert!(worst < 3e-16, "fma={fma} worst {worst}");
        }
        assert_eq!(norm_cdf::<false>(f64::INFINITY), 1.0);
        assert!(norm_cdf::<false>(f64::NEG_INFINITY) < 1e-300);
    }
}
