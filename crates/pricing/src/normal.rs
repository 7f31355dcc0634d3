//! Scalar univariate and bivariate standard normal distribution functions.

// Coefficient tables are kept digit for digit as published.
#![allow(clippy::excessive_precision)]

use std::f64::consts::PI;

/// `1 / √(2π)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_677_94;

/// Standard normal CDF `N(x)`: W. J. Cody (1969), "Rational Chebyshev
/// approximations for the error function", in the form of R's `pnorm`.
/// Absolute error about 1e-16 and relative error about 1e-15 down to
/// `x = -37.5`, below which `N(x)` underflows and 0 is returned.
///
/// (Not `statrs::function::erf::erfc`: in statrs 0.19 it is only accurate to
/// about 1e-11, e.g. `erfc(1)` is off by 7e-12.)
pub(crate) fn norm_cdf(x: f64) -> f64 {
    const A: [f64; 5] = [
        2.235_252_035_460_683_928_7,
        161.028_231_068_555_878_81,
        1_067.689_485_460_370_958_2,
        18_154.981_253_343_561_249,
        0.065_682_337_918_207_449_113,
    ];
    const B: [f64; 4] = [
        47.202_581_904_688_241_87,
        976.098_551_737_776_693_22,
        10_260.932_208_618_978_205,
        45_507.789_335_026_729_956,
    ];
    const C: [f64; 9] = [
        0.398_941_512_088_134_667_64,
        8.883_149_794_388_375_941_2,
        93.506_656_132_177_855_979,
        597.270_276_394_800_262_26,
        2_494.537_585_290_372_671_1,
        6_848.190_450_536_282_332_6,
        11_602.651_437_647_350_124,
        9_842.714_838_383_978_021_8,
        1.076_557_677_372_019_231_7e-8,
    ];
    const D: [f64; 8] = [
        22.266_688_044_328_115_691,
        235.387_901_782_624_998_61,
        1_519.377_599_407_554_805,
        6_485.558_298_266_760_755,
        18_615.571_640_885_098_091,
        34_900.952_721_145_977_266,
        38_912.003_286_093_271_411,
        19_685.429_676_859_990_727,
    ];
    const P: [f64; 6] = [
        0.215_898_534_057_956_99,
        0.127_401_161_160_247_363_9,
        0.022_235_277_870_649_807,
        0.001_421_619_193_227_893_466,
        2.911_287_495_116_879_2e-5,
        0.023_073_441_764_940_173_03,
    ];
    const Q: [f64; 5] = [
        1.284_260_096_144_911_21,
        0.468_238_212_480_865_118,
        0.065_988_137_868_928_551_5,
        0.003_782_396_332_027_582_44,
        7.297_515_550_839_662_05e-5,
    ];
    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    if y <= 0.674_489_75 {
        let xsq = x * x;
        let mut num = A[4] * xsq;
        let mut den = xsq;
        for i in 0..3 {
            num = (num + A[i]) * xsq;
            den = (den + B[i]) * xsq;
        }
        return 0.5 + x * (num + A[3]) / (den + B[3]);
    }
    let ratio = if y <= 32f64.sqrt() {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        (num + C[7]) / (den + D[7])
    } else if y < 37.5193 {
        let xsq = 1.0 / (x * x);
        let mut num = P[5] * xsq;
        let mut den = xsq;
        for i in 0..4 {
            num = (num + P[i]) * xsq;
            den = (den + Q[i]) * xsq;
        }
        (FRAC_1_SQRT_2PI - xsq * (num + P[4]) / (den + Q[4])) / y
    } else {
        return if x > 0.0 { 1.0 } else { 0.0 };
    };
    // e^{-y²/2} with y² split so that the rounding of y² costs no accuracy.
    let ysq = (y * 16.0).trunc() / 16.0;
    let del = (y - ysq) * (y + ysq);
    let tail = (-0.5 * ysq * ysq).exp() * (-0.5 * del).exp() * ratio;
    if x > 0.0 { 1.0 - tail } else { tail }
}

// Gauss-Legendre abscissae (positive half) and weights for 6, 12 and 20 points,
// as tabulated in Genz's BVNU.
const GL6_W: [f64; 3] = [
    0.171_324_492_379_170_5,
    0.360_761_573_048_138_4,
    0.467_913_934_572_691_0,
];
const GL6_X: [f64; 3] = [
    0.932_469_514_203_152_2,
    0.661_209_386_466_264_7,
    0.238_619_186_083_197_0,
];
const GL12_W: [f64; 6] = [
    0.047_175_336_386_511_77,
    0.106_939_325_995_318_3,
    0.160_078_328_543_346_4,
    0.203_167_426_723_065_9,
    0.233_492_536_538_354_7,
    0.249_147_045_813_402_9,
];
const GL12_X: [f64; 6] = [
    0.981_560_634_246_719_1,
    0.904_117_256_370_475_0,
    0.769_902_674_194_305_0,
    0.587_317_954_286_617_1,
    0.367_831_498_998_180_2,
    0.125_233_408_511_469_2,
];
const GL20_W: [f64; 10] = [
    0.017_614_007_139_152_12,
    0.040_601_429_800_386_94,
    0.062_672_048_334_109_06,
    0.083_276_741_576_704_75,
    0.101_930_119_817_240_4,
    0.118_194_531_961_518_4,
    0.131_688_638_449_176_6,
    0.142_096_109_318_382_1,
    0.149_172_986_472_603_7,
    0.152_753_387_130_725_9,
];
const GL20_X: [f64; 10] = [
    0.993_128_599_185_094_9,
    0.963_971_927_277_913_8,
    0.912_234_428_251_325_9,
    0.839_116_971_822_218_8,
    0.746_331_906_460_150_8,
    0.636_053_680_726_515_0,
    0.510_867_001_950_827_1,
    0.373_706_088_715_419_6,
    0.227_785_851_141_645_1,
    0.076_526_521_133_497_33,
];

/// Arguments beyond this magnitude are clamped: both tails are below 1e-300 there.
const BVN_CLAMP: f64 = 40.0;

/// Cumulative bivariate standard normal `M(a, b; ρ) = P(X <= a, Y <= b)`,
/// `corr(X, Y) = ρ`, for one fixed `|ρ| < 0.925`, with the correlation-only
/// quadrature terms precomputed.
///
/// Genz (2004), "Numerical computation of rectangular bivariate and trivariate
/// normal and t probabilities" (after Drezner & Wesolowsky 1990), `|ρ| < 0.925`
/// branch: `P(X > h, Y > k) = Φ(-h)Φ(-k) + asin(ρ)/(4π) Σ w_i exp((s_i hk - (h²+k²)/2) / (1 - s_i²))`,
/// `s_i = sin(asin(ρ)(1 ± x_i)/2)`, Gauss-Legendre with 6, 12 or 20 points by
/// `|ρ|`. Absolute accuracy about 1e-15.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BvnFixedRho {
    asr_over_4pi: f64,
    len: usize,
    w: [f64; 20],
    sn: [f64; 20],
    /// `1 / (1 - s_i²)`.
    inv: [f64; 20],
}

impl BvnFixedRho {
    /// Requires `|rho| < 0.925` (Genz's other branch is not needed here).
    pub(crate) fn new(rho: f64) -> Self {
        debug_assert!(rho.abs() < 0.925);
        let (w, x): (&[f64], &[f64]) = if rho.abs() < 0.3 {
            (&GL6_W, &GL6_X)
        } else if rho.abs() < 0.75 {
            (&GL12_W, &GL12_X)
        } else {
            (&GL20_W, &GL20_X)
        };
        let asr = rho.asin();
        let mut out = BvnFixedRho {
            asr_over_4pi: asr / (4.0 * PI),
            len: 0,
            w: [0.0; 20],
            sn: [0.0; 20],
            inv: [0.0; 20],
        };
        for (&wi, &xi) in w.iter().zip(x) {
            for sign in [-1.0, 1.0] {
                let sn = (0.5 * asr * (1.0 + sign * xi)).sin();
                let i = out.len;
                out.w[i] = wi;
                out.sn[i] = sn;
                out.inv[i] = 1.0 / (1.0 - sn * sn);
                out.len += 1;
            }
        }
        out
    }

    /// `M(a, b; ρ)` for the `ρ` given to [`BvnFixedRho::new`]; NaN in gives NaN out.
    pub(crate) fn cdf(&self, a: f64, b: f64) -> f64 {
        if a.is_nan() || b.is_nan() {
            return f64::NAN;
        }
        let h = (-a).clamp(-BVN_CLAMP, BVN_CLAMP);
        let k = (-b).clamp(-BVN_CLAMP, BVN_CLAMP);
        self.upper(h, k)
    }

    fn upper(&self, h: f64, k: f64) -> f64 {
        let hk = h * k;
        let hs = 0.5 * (h * h + k * k);
        let mut sum = 0.0;
        for i in 0..self.len.min(20) {
            sum += self.w[i] * ((self.sn[i] * hk - hs) * self.inv[i]).exp();
        }
        (sum * self.asr_over_4pi + norm_cdf(-h) * norm_cdf(-k)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn univariate_reference_values() {
        // Published values of Phi (e.g. Abramowitz & Stegun Table 26.1, Marsaglia 2004).
        let table = [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-1.0, 0.158_655_253_931_457_05),
            (-1.96, 0.024_997_895_148_220_435),
            (3.0, 0.998_650_101_968_369_9),
            (-5.0, 2.866_515_718_791_939e-7),
            (-8.0, 6.220_960_574_271_784e-16),
            (-10.0, 7.619_853_024_160_527e-24),
            (-20.0, 2.753_624_118_606_233_6e-89),
        ];
        for (x, want) in table {
            let got = norm_cdf(x);
            assert!(
                ((got - want) / want).abs() < 2e-15,
                "x={x} {got:e} {want:e}"
            );
        }
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert!(norm_cdf(f64::NAN).is_nan());
        // Symmetry N(x) + N(-x) = 1.
        for i in 0..400 {
            let x = f64::from(i) * 0.025;
            assert!((norm_cdf(x) + norm_cdf(-x) - 1.0).abs() < 2.3e-16);
        }
    }

    #[test]
    fn bivariate_at_origin_matches_closed_form() {
        // Sheppard: M(0, 0; rho) = 1/4 + asin(rho) / (2 pi). Exercises all three rules.
        for rho in [
            -0.92,
            -0.786,
            -0.5,
            -0.1,
            0.0,
            0.2,
            0.5,
            0.786_151_377_757_423_3,
            0.92,
        ] {
            let exact = 0.25 + f64::asin(rho) / (2.0 * PI);
            let got = BvnFixedRho::new(rho).cdf(0.0, 0.0);
            assert!(
                (got - exact).abs() < 1e-15,
                "rho={rho} got={got} exact={exact}"
            );
        }
    }

    #[test]
    fn bivariate_independent_and_marginal_limits() {
        let indep = BvnFixedRho::new(0.0);
        for &(a, b) in &[(-1.0, 0.5), (2.0, -0.3), (-3.0, -2.5), (0.7, 1.9)] {
            assert!((indep.cdf(a, b) - norm_cdf(a) * norm_cdf(b)).abs() < 1e-16);
            // A far-away second limit reduces to the marginal.
            for rho in [-0.9, -0.6, 0.1, 0.6, 0.9] {
                let m = BvnFixedRho::new(rho);
                assert!((m.cdf(a, 50.0) - norm_cdf(a)).abs() < 1e-15);
                assert!((m.cdf(f64::INFINITY, a) - norm_cdf(a)).abs() < 1e-15);
                assert!(m.cdf(a, -50.0) < 1e-300);
            }
        }
        assert!(indep.cdf(f64::NAN, 0.0).is_nan());
    }

    #[test]
    fn bivariate_symmetry_and_reflection() {
        // M(a, b; rho) = M(b, a; rho) and M(a, b; rho) + M(a, -b; -rho) = N(a).
        for &(a, b) in &[(-1.2, 0.4), (0.3, 0.9), (2.1, -1.7), (-4.0, -3.5)] {
            for rho in [-0.9, -0.5, 0.0, 0.4, 0.786, 0.92] {
                let (m, mneg) = (BvnFixedRho::new(rho), BvnFixedRho::new(-rho));
                let v = m.cdf(a, b);
                assert!((v - m.cdf(b, a)).abs() < 1e-15);
                let sum = v + mneg.cdf(a, -b);
                assert!((sum - norm_cdf(a)).abs() < 1e-15, "a={a} b={b} rho={rho}");
            }
        }
    }

    #[test]
    fn bivariate_matches_independent_quadrature() {
        // Reference values from 30-digit adaptive quadrature (mpmath) of
        // M(a, b; rho) = integral_{-inf}^{a} phi(x) N((b - rho x) / sqrt(1 - rho^2)) dx.
        let cases = [
            (0.5, -0.8, 0.6, 0.199_458_389_161_140_345_47),
            (-1.5, 1.0, -0.786, 0.014_986_038_692_234_218_943),
            (1.2, 0.3, 0.9, 0.616_796_071_306_132_347_25),
            (
                -4.0,
                -3.5,
                0.786_151_377_757_423,
                1.230_514_870_337_047_5e-5,
            ),
        ];
        for (a, b, rho, want) in cases {
            let got = BvnFixedRho::new(rho).cdf(a, b);
            assert!((got - want).abs() < 1e-15, "{a} {b} {rho}: {got} {want}");
        }
    }
}
