//! Φ⁻¹ of draw version 2: Wichura's algorithm AS 241 (PPND16, Applied
//! Statistics 37 (1988) 477–484, relative accuracy about 10⁻¹⁶), with its
//! own logarithm, written with IEEE basic operations only (+ − × ÷ √, no
//! fused multiply-add, no libm call), so the scalar function
//! [`normal_quantile_v2`] and the vector lanes of [`normal_quantiles_v2`]
//! (baseline, AVX2 and AVX-512 builds, chosen at run time) give the same
//! bits on every machine. Rust never contracts `a * b + c` into a fused
//! multiply-add, and every operation used is correctly rounded, so the same
//! operations in the same order give the same bits in any lane.
//!
//! The definition (`docs/methodology.md`, "Draw versions"): for p in (0, 1),
//! q = p − ½;
//!
//! - |q| ≤ 0.425: r = 0.180625 − q², Φ⁻¹(p) = (q·A(r)) / B(r);
//! - otherwise s = min(p, 1 − p) (1 − p exact), r = √(−ln s) with the
//!   logarithm [`ln`] below; r ≤ 5: t = r − 1.6, v = C(t)/D(t); r > 5:
//!   t = r − 5, v = E(t)/F(t); Φ⁻¹(p) = −v for q < 0, v otherwise;
//!
//! every polynomial by Horner's rule from the highest coefficient
//! (`acc = acc·x + c`), the coefficients AS 241's. p ≤ 0 gives −∞, p ≥ 1
//! gives +∞, NaN gives 0 (as version 1).

// The coefficients are AS 241's and fdlibm's literals verbatim.
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

/// A(r), lowest degree first (AS 241's A0..A7).
const A: [f64; 8] = [
    3.3871328727963666080e0,
    1.3314166789178437745e+2,
    1.9715909503065514427e+3,
    1.3731693765509461125e+4,
    4.5921953931549871457e+4,
    6.7265770927008700853e+4,
    3.3430575583588128105e+4,
    2.5090809287301226727e+3,
];
/// B(r) (B0 = 1).
const B: [f64; 8] = [
    1.0,
    4.2313330701600911252e+1,
    6.8718700749205790830e+2,
    5.3941960214247511077e+3,
    2.1213794301586595867e+4,
    3.9307895800092710610e+4,
    2.8729085735721942674e+4,
    5.2264952788528545610e+3,
];
/// C(t), 1.6 ≤ r ≤ 5.
const C: [f64; 8] = [
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
];
/// D(t) (D0 = 1).
const D: [f64; 8] = [
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
];
/// E(t), r > 5.
const E: [f64; 8] = [
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
];
/// F(t) (F0 = 1).
const F: [f64; 8] = [
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
];

/// Horner's rule from the highest coefficient: `acc = acc·x + c`, starting
/// from acc = c[7].
#[inline(always)]
fn horner(x: f64, c: &[f64; 8]) -> f64 {
    let mut acc = c[7];
    let mut i = 7;
    while i > 0 {
        i -= 1;
        acc = acc * x + c[i];
    }
    acc
}

// The logarithm: fdlibm's `__ieee754_log` (Sun Microsystems, 1993), error
// below 1 ulp, its polynomial and ln 2 split verbatim (bit patterns in the
// comments), always taking its more accurate `hfsq` form.
/// ln 2, high part (trailing zeros: k·LN2_HI is exact for |k| < 2¹¹).
const LN2_HI: f64 = 6.93147180369123816490e-01; // 0x3fe62e42_fee00000
/// ln 2 − LN2_HI.
const LN2_LO: f64 = 1.90821492927058770002e-10; // 0x3dea39ef_35793c76
const LG1: f64 = 6.666666666666735130e-01; // 0x3fe55555_55555593
const LG2: f64 = 3.999999999940941908e-01; // 0x3fd99999_9997fa04
const LG3: f64 = 2.857142874366239149e-01; // 0x3fd24924_94229359
const LG4: f64 = 2.222219843214978396e-01; // 0x3fcc71c5_1d8e78af
const LG5: f64 = 1.818357216161805012e-01; // 0x3fc74664_96cb03de
const LG6: f64 = 1.531383769920937332e-01; // 0x3fc39a09_d078c69f
const LG7: f64 = 1.479819860511658591e-01; // 0x3fc2f112_df3e5244
/// 2⁵⁴: brings a subnormal into the normal range exactly.
const TWO54: f64 = 18_014_398_509_481_984.0;
/// 2⁵² as the bits of a double: `from_bits(TWO52_BITS | e) − 2⁵²` is the
/// integer e < 2⁵² exactly.
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
const TWO52: f64 = 4_503_599_627_370_496.0;

/// ln x for finite x > 0 (normal or subnormal), with integer and IEEE basic
/// operations only: x = 2ᵏ·m, m in [√½, √2) by the bits (a subnormal first
/// scaled by 2⁵⁴), f = m − 1, s = f/(2 + f), z = s², w = z²,
/// R = z·(Lg1 + w·(Lg3 + w·(Lg5 + w·Lg7))) + w·(Lg2 + w·(Lg4 + w·Lg6)),
/// h = f²/2, ln x = k·ln2_hi − ((h − (s·(h + R) + k·ln2_lo)) − f).
/// Other arguments give unspecified values (callers exclude them).
#[inline(always)]
pub(crate) fn ln(x: f64) -> f64 {
    let subnormal = x < f64::MIN_POSITIVE;
    let x = if subnormal { x * TWO54 } else { x };
    let bits = x.to_bits();
    let high = bits >> 32;
    // The top 20 bits of the mantissa; i = 2²⁰ when m ≥ ~√2 (then m / 2).
    let mantissa = high & 0x000f_ffff;
    let i = (mantissa + 0x95f64) & 0x0010_0000;
    let exponent = (high >> 20) + (i >> 20);
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | ((0x3ff0_0000 ^ i) << 32));
    let f = m - 1.0;
    // k = exponent − 1023 (− 54 for a scaled subnormal), exactly.
    let k = f64::from_bits(TWO52_BITS | exponent) - (TWO52 + 1023.0);
    let k = if subnormal { k - 54.0 } else { k };
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let h = 0.5 * f * f;
    k * LN2_HI - ((h - (s * (h + r) + k * LN2_LO)) - f)
}

/// The central branch, |q| ≤ 0.425.
#[inline(always)]
fn central(q: f64) -> f64 {
    let r = 0.180625 - q * q;
    (q * horner(r, &A)) / horner(r, &B)
}

/// The tail value v for r = √(−ln s) ≤ 5 (s = min(p, 1 − p)).
#[inline(always)]
fn tail_near(r: f64) -> f64 {
    let t = r - 1.6;
    horner(t, &C) / horner(t, &D)
}

/// The tail value v for r > 5.
#[inline(always)]
fn tail_far(r: f64) -> f64 {
    let t = r - 5.0;
    horner(t, &E) / horner(t, &F)
}

/// Φ⁻¹(p) of draw version 2 (the module's definition), one value: the
/// reference every vector lane equals bit for bit.
pub fn normal_quantile_v2(p: f64) -> f64 {
    if p.is_nan() {
        return 0.0;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        return central(q);
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let s = if q < 0.0 { p } else { 1.0 - p };
    let r = (-ln(s)).sqrt();
    let v = if r <= 5.0 { tail_near(r) } else { tail_far(r) };
    if q < 0.0 { -v } else { v }
}

/// Lanes processed together.
const LANES: usize = 256;

/// Replaces every probability of `values` by [`normal_quantile_v2`] of it,
/// bit for bit: AVX-512, AVX2 or baseline code chosen at run time
/// (`exfee_simd::widest`); all give the same bits.
pub fn normal_quantiles_v2(values: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        match exfee_simd::widest() {
            exfee_simd::Isa::Avx512 => {
                // SAFETY: `widest` yields AVX-512 only when the CPU has
                // AVX-512F (and the cap allows it).
                unsafe { quantiles_avx512(values) };
                return;
            }
            exfee_simd::Isa::Avx2 => {
                // SAFETY: `widest` yields AVX2 only when the CPU has it.
                unsafe { quantiles_avx2(values) };
                return;
            }
            exfee_simd::Isa::Portable => {}
        }
    }
    quantiles_portable(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantiles_avx512(values: &mut [f64]) {
    // The AVX2 intrinsics beat the compiler's AVX-512 vectorisation of the
    // portable chunk (2.4 against 3.0 ns a value, `as241_rate`); an
    // AVX-512 CPU has AVX2.
    x86::quantiles_avx2(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantiles_avx2(values: &mut [f64]) {
    x86::quantiles_avx2(values);
}

#[inline(always)]
fn quantiles_portable(values: &mut [f64]) {
    for chunk in values.chunks_mut(LANES) {
        quantile_chunk(chunk);
    }
}

/// One chunk of at most [`LANES`] probabilities: the central branch in
/// every lane; the tail lanes (15 % of uniform draws) packed, their
/// logarithm and the r ≤ 5 branch in every packed lane; the rare rest
/// (r > 5, i.e. s < e⁻²⁵ ≈ 1.4·10⁻¹¹, p outside (0, 1), NaN) by the scalar
/// function — the same operations, so the same bits.
#[inline(always)]
fn quantile_chunk(u: &mut [f64]) {
    let n = u.len().min(LANES);
    let u = &mut u[..n];
    let mut out = [0.0f64; LANES];
    let mut tail = [false; LANES];
    for i in 0..n {
        let q = u[i] - 0.5;
        out[i] = central(q);
        // NaN is a "tail" lane, settled below.
        tail[i] = (q.abs() > 0.425) | q.is_nan();
    }
    // Branch-free packing of the tail lanes (`at[m]` is written every
    // time, `m` moves on only for a tail lane).
    let mut at = [0usize; LANES];
    let mut m = 0;
    for (i, &t) in tail[..n].iter().enumerate() {
        at[m] = i;
        m += usize::from(t);
    }
    let mut s = [1.0f64; LANES];
    let mut below = [false; LANES];
    for k in 0..m {
        let p = u[at[k]];
        below[k] = p - 0.5 < 0.0;
        s[k] = if below[k] { p } else { 1.0 - p };
    }
    let mut v = [0.0f64; LANES];
    let mut rare = [false; LANES];
    // Whole vectors of packed lanes (the padding has s = 1: harmless).
    let packed = m.div_ceil(8) * 8;
    for k in 0..packed {
        let r = (-ln(s[k])).sqrt();
        v[k] = tail_near(r);
        rare[k] = (s[k] <= 0.0) | s[k].is_nan() | (r > 5.0);
    }
    for k in 0..m {
        let i = at[k];
        out[i] = if rare[k] {
            normal_quantile_v2(u[i])
        } else if below[k] {
            -v[k]
        } else {
            v[k]
        };
    }
    u.copy_from_slice(&out[..n]);
}

/// The AVX2 build written with the intrinsics (the compiler's own
/// vectorisation of [`quantile_chunk`] left the packing, the sign choice and
/// the write-back scalar): the same IEEE operations in the same order as
/// [`normal_quantile_v2`] (`_mm256_add_pd`, `_sub_pd`, `_mul_pd`, `_div_pd`,
/// `_sqrt_pd` are each correctly rounded, no fused multiply-add; the sign
/// flips are xors of the sign bit, as `-v`; the logarithm's bit work is the
/// same integer operations on 64-bit lanes), so the same bits.
///
/// Per chunk of at most [`LANES`] probabilities: the central branch on four
/// vectors of four lanes in lockstep, stored in place; the tail lanes'
/// probabilities and positions packed on the way (a 16-entry permutation
/// table on each vector's tail mask, no branch); the packed lanes two
/// vectors at a time through the logarithm and the r ≤ 5 rational, written
/// back to their positions; the rare rest (r > 5, s subnormal or ≤ 0, NaN)
/// by the scalar function.
#[cfg(target_arch = "x86_64")]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "lane numbers (< 4) and positions in a chunk (< LANES = 256)"
)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{
        A, B, C, D, LANES, LG1, LG2, LG3, LG4, LG5, LG6, LG7, LN2_HI, LN2_LO, TWO52, TWO52_BITS,
        normal_quantile_v2,
    };

    /// Vectors of four lanes the central branch works on in lockstep: its
    /// two Horner chains are ≈ 60 cycles of latency a vector, so four
    /// vectors' eight chains keep the multipliers and adders busy.
    const CENTRAL_VECTORS: usize = 4;
    /// Vectors of packed tail lanes in lockstep (their chain is longer, but
    /// they are 15 % of the lanes).
    const TAIL_VECTORS: usize = 2;

    /// For a 4-bit lane mask: the `_mm256_permutevar8x32_ps` indices that
    /// move the marked 64-bit lanes to the front, in order.
    const PERM: [[i32; 8]; 16] = {
        let mut table = [[0i32; 8]; 16];
        let mut mask = 0;
        while mask < 16 {
            let mut slot = 0;
            let mut lane = 0;
            while lane < 4 {
                if mask & (1 << lane) != 0 {
                    table[mask][2 * slot] = 2 * lane;
                    table[mask][2 * slot + 1] = 2 * lane + 1;
                    slot += 1;
                }
                lane += 1;
            }
            mask += 1;
        }
        table
    };

    /// For a 4-bit lane mask: the marked lanes' numbers, in order.
    const INDEX: [[u32; 4]; 16] = {
        let mut table = [[0u32; 4]; 16];
        let mut mask = 0;
        while mask < 16 {
            let mut slot = 0;
            let mut lane = 0;
            while lane < 4 {
                if mask & (1 << lane) != 0 {
                    table[mask][slot] = lane as u32;
                    slot += 1;
                }
                lane += 1;
            }
            mask += 1;
        }
        table
    };

    #[target_feature(enable = "avx2")]
    #[inline]
    fn splat(x: f64) -> __m256d {
        _mm256_set1_pd(x)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn int(x: u64) -> __m256i {
        _mm256_set1_epi64x(x.cast_signed())
    }

    /// `f` lane-wise over `V` vectors.
    #[inline(always)]
    fn each<const V: usize>(f: impl FnMut(usize) -> __m256d) -> [__m256d; V] {
        std::array::from_fn(f)
    }

    /// [`super::horner`] of two polynomials `c`, `d` at the same `x`, `V`
    /// vectors in lockstep (each chain the scalar order of operations).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn horner2<const V: usize>(
        x: &[__m256d; V],
        c: &[f64; 8],
        d: &[f64; 8],
    ) -> ([__m256d; V], [__m256d; V]) {
        let mut p = [splat(c[7]); V];
        let mut q = [splat(d[7]); V];
        let mut i = 7;
        while i > 0 {
            i -= 1;
            let (ci, di) = (splat(c[i]), splat(d[i]));
            for v in 0..V {
                p[v] = _mm256_add_pd(_mm256_mul_pd(p[v], x[v]), ci);
                q[v] = _mm256_add_pd(_mm256_mul_pd(q[v], x[v]), di);
            }
        }
        (p, q)
    }

    /// [`super::central`] of `V` vectors.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn central<const V: usize>(q: &[__m256d; V]) -> [__m256d; V] {
        let r = each::<V>(|v| _mm256_sub_pd(splat(0.180625), _mm256_mul_pd(q[v], q[v])));
        let (a, b) = horner2(&r, &A, &B);
        each::<V>(|v| _mm256_div_pd(_mm256_mul_pd(q[v], a[v]), b[v]))
    }

    /// [`super::ln`] of `V` vectors, for normal x > 0 (other lanes give
    /// unspecified values; the caller sends them to the scalar function).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ln<const V: usize>(x: &[__m256d; V]) -> [__m256d; V] {
        let (add, sub, mul) = (_mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd);
        let mut f = [splat(0.0); V];
        let mut k = [splat(0.0); V];
        for v in 0..V {
            let bits = _mm256_castpd_si256(x[v]);
            let high = _mm256_srli_epi64::<32>(bits);
            let mantissa = _mm256_and_si256(high, int(0x000f_ffff));
            let i = _mm256_and_si256(_mm256_add_epi64(mantissa, int(0x95f64)), int(0x0010_0000));
            let exponent =
                _mm256_add_epi64(_mm256_srli_epi64::<20>(high), _mm256_srli_epi64::<20>(i));
            let m = _mm256_castsi256_pd(_mm256_or_si256(
                _mm256_and_si256(bits, int(0x000f_ffff_ffff_ffff)),
                _mm256_slli_epi64::<32>(_mm256_xor_si256(int(0x3ff0_0000), i)),
            ));
            f[v] = sub(m, splat(1.0));
            k[v] = sub(
                _mm256_castsi256_pd(_mm256_or_si256(int(TWO52_BITS), exponent)),
                splat(TWO52 + 1023.0),
            );
        }
        let s = each::<V>(|v| _mm256_div_pd(f[v], add(splat(2.0), f[v])));
        let z = each::<V>(|v| mul(s[v], s[v]));
        let w = each::<V>(|v| mul(z[v], z[v]));
        let t1 = each::<V>(|v| {
            let w = w[v];
            mul(
                w,
                add(splat(LG2), mul(w, add(splat(LG4), mul(w, splat(LG6))))),
            )
        });
        let t2 = each::<V>(|v| {
            let w = w[v];
            mul(
                z[v],
                add(
                    splat(LG1),
                    mul(
                        w,
                        add(splat(LG3), mul(w, add(splat(LG5), mul(w, splat(LG7))))),
                    ),
                ),
            )
        });
        each::<V>(|v| {
            let r = add(t2[v], t1[v]);
            let h = mul(mul(splat(0.5), f[v]), f[v]);
            let inner = add(mul(s[v], add(h, r)), mul(k[v], splat(LN2_LO)));
            sub(mul(k[v], splat(LN2_HI)), sub(sub(h, inner), f[v]))
        })
    }

    /// The tails of `V` vectors of probabilities p: ±v of r = √(−ln s) ≤ 5,
    /// and per vector the mask of the lanes the scalar function must settle
    /// (s not a normal positive number — p outside (0, 1), NaN, s
    /// subnormal — or r > 5).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn tail<const V: usize>(p: &[__m256d; V]) -> ([__m256d; V], [i32; V]) {
        let sign = splat(-0.0);
        let below = each::<V>(|v| {
            let q = _mm256_sub_pd(p[v], splat(0.5));
            _mm256_cmp_pd::<_CMP_LT_OQ>(q, _mm256_setzero_pd())
        });
        let s = each::<V>(|v| _mm256_blendv_pd(_mm256_sub_pd(splat(1.0), p[v]), p[v], below[v]));
        let l = ln(&s);
        let r = each::<V>(|v| _mm256_sqrt_pd(_mm256_xor_pd(l[v], sign)));
        let t = each::<V>(|v| _mm256_sub_pd(r[v], splat(1.6)));
        let (c, d) = horner2(&t, &C, &D);
        let value = each::<V>(|v| {
            let x = _mm256_div_pd(c[v], d[v]);
            _mm256_xor_pd(x, _mm256_and_pd(below[v], sign))
        });
        let rare = std::array::from_fn(|v| {
            _mm256_movemask_pd(_mm256_or_pd(
                _mm256_cmp_pd::<_CMP_NGE_UQ>(s[v], splat(f64::MIN_POSITIVE)),
                _mm256_cmp_pd::<_CMP_NLE_UQ>(r[v], splat(5.0)),
            ))
        });
        (value, rare)
    }

    /// Every probability of `values` replaced by [`normal_quantile_v2`] of
    /// it, bit for bit, in chunks of [`LANES`].
    #[target_feature(enable = "avx2")]
    pub(super) fn quantiles_avx2(values: &mut [f64]) {
        for chunk in values.chunks_mut(LANES) {
            chunk_avx2(chunk);
        }
    }

    /// The tail lanes' probabilities and positions in a chunk, packed.
    struct Packed {
        /// Probabilities (slots past `len` are harmless probabilities,
        /// never written back; room for a whole pass past `len`).
        p: [f64; LANES + 4 * CENTRAL_VECTORS + 4 * TAIL_VECTORS],
        /// Their positions in the chunk.
        at: [u32; LANES + 4 * CENTRAL_VECTORS + 4 * TAIL_VECTORS],
        len: usize,
    }

    impl Packed {
        /// The tail lanes (|p − ½| > 0.425 or NaN) of the four
        /// probabilities `p` at positions `j..j + 4` of the chunk: their p
        /// and positions appended.
        #[target_feature(enable = "avx2")]
        #[inline]
        fn push(&mut self, p: __m256d, j: usize) {
            let q = _mm256_sub_pd(p, splat(0.5));
            let abs = _mm256_castsi256_pd(int(0x7fff_ffff_ffff_ffff));
            // |q| > 0.425 or NaN.
            let far = _mm256_cmp_pd::<_CMP_NLE_UQ>(_mm256_and_pd(q, abs), splat(0.425));
            let mask = _mm256_movemask_pd(far).cast_unsigned() as usize & 15;
            let m = self.len;
            // SAFETY: the table rows are 8 i32s and 4 u32s; m ≤ j < LANES,
            // so m + 4 is within `p` and `at`.
            unsafe {
                let perm = _mm256_loadu_si256(PERM[mask].as_ptr().cast());
                let moved = _mm256_permutevar8x32_ps(_mm256_castpd_ps(p), perm);
                _mm256_storeu_ps(self.p.as_mut_ptr().add(m).cast(), moved);
                let lanes = _mm_loadu_si128(INDEX[mask].as_ptr().cast());
                let lanes = _mm_add_epi32(lanes, _mm_set1_epi32(j as i32));
                _mm_storeu_si128(self.at.as_mut_ptr().add(m).cast(), lanes);
            }
            self.len = m + mask.count_ones() as usize;
        }
    }

    /// `V` vectors of packed tail lanes from slot `k` on: their values
    /// written to their positions in `u`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn settle<const V: usize>(u: &mut [f64], packed: &Packed, k: usize) {
        let p = each::<V>(|v| {
            // SAFETY: k < len ≤ LANES, so k + 4·V is within `packed.p`.
            unsafe { _mm256_loadu_pd(packed.p.as_ptr().add(k + 4 * v)) }
        });
        let (value, rare) = tail(&p);
        let mut out = [[0.0f64; 4]; V];
        for v in 0..V {
            // SAFETY: a 4-element array.
            unsafe { _mm256_storeu_pd(out[v].as_mut_ptr(), value[v]) };
        }
        let count = (packed.len - k).min(4 * V);
        for l in 0..count {
            let i = packed.at[k + l] as usize;
            u[i] = if rare[l / 4] & (1 << (l % 4)) != 0 {
                normal_quantile_v2(packed.p[k + l])
            } else {
                out[l / 4][l % 4]
            };
        }
    }

    /// One chunk of at most [`LANES`] probabilities.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn chunk_avx2(u: &mut [f64]) {
        const W: usize = 4 * CENTRAL_VECTORS;
        let n = u.len().min(LANES);
        let mut packed = Packed {
            p: [0.25; LANES + 4 * CENTRAL_VECTORS + 4 * TAIL_VECTORS],
            at: [0; LANES + 4 * CENTRAL_VECTORS + 4 * TAIL_VECTORS],
            len: 0,
        };
        let half = splat(0.5);
        let mut j = 0;
        // Whole groups of CENTRAL_VECTORS vectors.
        while j + W <= n {
            let p = each::<CENTRAL_VECTORS>(|v| {
                // SAFETY: j + W ≤ n = u.len().
                unsafe { _mm256_loadu_pd(u.as_ptr().add(j + 4 * v)) }
            });
            let x = central(&each::<CENTRAL_VECTORS>(|v| _mm256_sub_pd(p[v], half)));
            for v in 0..CENTRAL_VECTORS {
                packed.push(p[v], j + 4 * v);
                // SAFETY: as the load above.
                unsafe { _mm256_storeu_pd(u.as_mut_ptr().add(j + 4 * v), x[v]) };
            }
            j += W;
        }
        // The rest, one vector at a time; the last, partial one padded
        // with ½ (central, dropped).
        while j < n {
            let mut rest = [0.5f64; 4];
            let len = (n - j).min(4);
            rest[..len].copy_from_slice(&u[j..j + len]);
            // SAFETY: a 4-element array.
            let p = unsafe { _mm256_loadu_pd(rest.as_ptr()) };
            let [x] = central(&[_mm256_sub_pd(p, half)]);
            packed.push(p, j);
            // SAFETY: a 4-element array.
            unsafe { _mm256_storeu_pd(rest.as_mut_ptr(), x) };
            u[j..j + len].copy_from_slice(&rest[..len]);
            j += 4;
        }
        let mut k = 0;
        while k < packed.len {
            settle::<TAIL_VECTORS>(u, &packed, k);
            k += 4 * TAIL_VECTORS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use statrs::function::erf::erfc_inv;
    use std::f64::consts::SQRT_2;

    /// The bits of every build this CPU runs (baseline, and AVX2 / AVX-512
    /// where present) equal the scalar function's, whatever `EXFEE_SIMD`.
    fn check_lanes(values: &[f64]) {
        let want: Vec<u64> = values
            .iter()
            .map(|&p| normal_quantile_v2(p).to_bits())
            .collect();
        let mut builds: Vec<(&str, Vec<f64>)> = Vec::new();
        let mut portable = values.to_vec();
        quantiles_portable(&mut portable);
        builds.push(("portable", portable));
        let mut dispatched = values.to_vec();
        normal_quantiles_v2(&mut dispatched);
        builds.push(("dispatched", dispatched));
        #[cfg(target_arch = "x86_64")]
        {
            if exfee_simd::Isa::Avx2.on_cpu() {
                let mut avx2 = values.to_vec();
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { quantiles_avx2(&mut avx2) };
                builds.push(("avx2", avx2));
            }
            if exfee_simd::Isa::Avx512.on_cpu() {
                let mut avx512 = values.to_vec();
                // SAFETY: the CPU has AVX-512F (checked just above).
                unsafe { quantiles_avx512(&mut avx512) };
                builds.push(("avx512", avx512));
            }
        }
        for (name, got) in &builds {
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), *w, "{name}: p = {:e}", values[k]);
            }
        }
    }

    /// The draws' probabilities ((x >> 11) + ½)·2⁻⁵³ of ChaCha20 outputs.
    fn grid(seed: u8, count: usize) -> Vec<f64> {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        (0..count)
            .map(|_| ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64))
            .collect()
    }

    /// Probabilities down to 1e-300 on both sides, the branch edges, the
    /// grid's extremes, subnormals and the values outside (0, 1).
    fn hard_values() -> Vec<f64> {
        let mut values = Vec::new();
        let step = 1.0 / (1u64 << 53) as f64;
        values.extend([0.5 * step, 1.5 * step, 1.0 - 0.5 * step, 1.0 - 1.5 * step]);
        let mut t = 0.5f64;
        while t > 1e-300 {
            values.extend([t, 1.0 - t, t * 1.000_000_1, t * 0.999_999_9]);
            t *= 0.93;
        }
        // |q| = 0.425 (p = 0.075, 0.925), r = 5 (s = e⁻²⁵), ½.
        for edge in [0.075, 0.925, (-25.0f64).exp(), 1.0 - (-25.0f64).exp(), 0.5] {
            let mut x = edge;
            let mut y = edge;
            for _ in 0..200 {
                values.extend([x, y]);
                x = f64::from_bits(x.to_bits() + 1);
                y = f64::from_bits(y.to_bits() - 1);
            }
        }
        values.extend([
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0,
            5e-324,
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        values
    }

    #[test]
    fn every_lane_equals_the_scalar_function_bit_for_bit() {
        // Millions of the draws' own probabilities, in pieces of every
        // length (every lane position, every remainder of a chunk).
        let values = grid(11, 2_000_000);
        let mut start = 0;
        let mut len = 1;
        while start < values.len() {
            let end = (start + len).min(values.len());
            check_lanes(&values[start..end]);
            start = end;
            len = len % (3 * LANES + 5) + 1;
        }
        // The hard values, shuffled among ordinary ones at every offset.
        let hard = hard_values();
        check_lanes(&hard);
        let ordinary = grid(12, 4 * LANES);
        for offset in 0..LANES {
            let mut mixed = ordinary[..offset].to_vec();
            mixed.extend(&hard);
            mixed.extend(&ordinary[offset..]);
            check_lanes(&mixed);
        }
        // Uniform over (0, 1) in plain f64, not only the draws' grid.
        let mut rng = ChaCha20Rng::from_seed([13; 32]);
        let uniform: Vec<f64> = (0..500_000)
            .map(|_| rng.next_u64() as f64 * (1.0 / 18_446_744_073_709_551_616.0))
            .collect();
        check_lanes(&uniform);
    }

    #[test]
    fn edges() {
        assert_eq!(normal_quantile_v2(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile_v2(-0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile_v2(-3.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile_v2(1.0), f64::INFINITY);
        assert_eq!(normal_quantile_v2(7.0), f64::INFINITY);
        assert_eq!(normal_quantile_v2(f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(normal_quantile_v2(f64::INFINITY), f64::INFINITY);
        assert_eq!(normal_quantile_v2(f64::NAN).to_bits(), 0.0f64.to_bits());
        // q = 0 exactly: 0·A/B = +0.
        assert_eq!(normal_quantile_v2(0.5).to_bits(), 0.0f64.to_bits());
        // Textbook points: Φ⁻¹(0.975) = 1.959963984540054,
        // Φ⁻¹(0.999) = 3.090232306167814, Φ⁻¹(10⁻¹⁰) = −6.361340902404056.
        for (p, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.025, -1.959_963_984_540_054),
            (0.999, 3.090_232_306_167_814),
            (1e-10, -6.361_340_902_404_056),
        ] {
            let got = normal_quantile_v2(p);
            assert!((got - z).abs() <= 4e-15 * z.abs(), "p = {p}: {got} vs {z}");
        }
        // Symmetry: Φ⁻¹(1 − s) = −Φ⁻¹(s) whenever 1 − s is exact.
        for s in [0.0078125, 0.046875, 0.0625, 0.3125, 2f64.powi(-20)] {
            assert_eq!(normal_quantile_v2(1.0 - s), -normal_quantile_v2(s));
        }
    }

    #[test]
    fn the_logarithm_is_within_one_ulp_of_std() {
        let ulp = |x: f64| {
            let a = x.abs();
            f64::from_bits(a.to_bits() + 1) - a
        };
        let mut values = grid(14, 300_000);
        let mut t = 1.0f64;
        while t > 1e-320 {
            values.extend([t, t * 1.37, t * 0.71, t * 1.41]);
            t *= 0.77;
        }
        values.extend([5e-324, f64::MIN_POSITIVE, 1.0, 2.0, 0.5, f64::MAX, 1e300]);
        for x in values {
            let (got, want) = (ln(x), x.ln());
            if want == 0.0 {
                assert_eq!(got, 0.0, "ln({x:e})");
            } else {
                assert!(
                    (got - want).abs() <= ulp(want),
                    "ln({x:e}) = {got:e}, std {want:e}"
                );
            }
        }
        // Exact powers of two: k·ln 2 split into an exact product and a
        // small correction.
        assert_eq!(ln(1.0), 0.0);
        assert!((ln(2f64.powi(-100)) + 100.0 * std::f64::consts::LN_2).abs() < 2e-14);
    }

    /// Φ⁻¹ against an independent reference: mpmath at 60 digits
    /// (`testdata/normal-quantile-mpmath.py`), 945 probabilities from 10⁻³⁰⁰
    /// to 1 − 2⁻⁵⁴ on both sides, the branch edges and 300 uniform ones
    /// (measured worst: 6.0·10⁻¹⁶; statrs on the same table: 4.4·10⁻¹⁶).
    #[test]
    fn agrees_with_mpmath_to_1e_15_relative() {
        let table = include_str!("testdata/normal-quantile-mpmath.csv");
        let mut rows = 0;
        let mut worst = (0.0f64, 0.0f64);
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let (p, x) = line.split_once(',').unwrap();
            let (p, want): (f64, f64) = (p.parse().unwrap(), x.parse().unwrap());
            let got = normal_quantile_v2(p);
            let gap = (got - want).abs() / want.abs();
            if gap > worst.0 {
                worst = (gap, p);
            }
            rows += 1;
        }
        assert_eq!(rows, 945);
        assert!(
            worst.0 <= 1e-15,
            "worst relative error {:e} at p = {:e}",
            worst.0,
            worst.1
        );
    }

    /// Against statrs' Boost-based `erfc_inv` (version 1's Φ⁻¹) over a dense
    /// grid: the draws' own probabilities and every factor 0.999 from ½
    /// down to 10⁻³⁰⁰ on both sides.
    #[test]
    fn agrees_with_statrs_to_2e_15_relative() {
        let mut values = grid(15, 400_000);
        values.extend(hard_values().into_iter().filter(|p| *p > 0.0 && *p < 1.0));
        let mut t = 0.5f64;
        while t > 1e-300 {
            values.push(t);
            if 1.0 - t < 1.0 {
                values.push(1.0 - t);
            }
            t *= 0.999;
        }
        let mut worst = 0.0f64;
        for p in values {
            let x = normal_quantile_v2(p);
            assert!(x.is_finite(), "p = {p:e}");
            assert_eq!(x < 0.0, p < 0.5, "sign, p = {p:e}");
            let reference = -SQRT_2 * erfc_inv(2.0 * p);
            worst = worst.max((x - reference).abs() / reference.abs().max(1e-300));
        }
        assert!(worst <= 2e-15, "worst relative gap to statrs {worst:e}");
    }

    /// The draws' grid under both versions: at most a few units in the last
    /// place apart (version 2 is a different formula for the same Φ⁻¹).
    #[test]
    fn version_2_is_version_1_to_a_few_ulps() {
        for p in grid(16, 200_000) {
            let v1 = -SQRT_2 * erfc_inv(2.0 * p);
            let v2 = normal_quantile_v2(p);
            assert!((v1 - v2).abs() <= 2e-15 * v1.abs().max(1e-16), "p = {p:e}");
        }
    }

    /// Rate of version 2's vector Φ⁻¹ against version 1's and against the
    /// scalar functions, and (AVX2 CPUs) the AVX2 intrinsics against the
    /// compiler's own AVX2 vectorisation of the portable chunk (the build
    /// before them), interleaved A/B (prints, asserts nothing about time):
    /// `cargo test --release -p exfee-scenarios as241_rate -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn as241_rate() {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn compiled_avx2(values: &mut [f64]) {
            quantiles_portable(values);
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn compiled_avx512(values: &mut [f64]) {
            quantiles_portable(values);
        }
        /// Seconds `quantiles` takes over a copy of `values`, and one of its
        /// results (summed into the sink, so the work is kept).
        fn timed(values: &[f64], quantiles: impl FnOnce(&mut [f64])) -> (f64, f64) {
            let mut work = values.to_vec();
            let t = std::time::Instant::now();
            quantiles(std::hint::black_box(&mut work));
            (t.elapsed().as_secs_f64(), work[7])
        }
        let values = grid(3, 1_000_000);
        let mut best = [f64::MAX; 7];
        let mut sink = 0.0;
        let mut keep = |slot: usize, (seconds, value): (f64, f64)| {
            best[slot] = best[slot].min(seconds);
            sink += value;
        };
        for _ in 0..9 {
            keep(
                0,
                timed(&values, |work| {
                    for p in work.iter_mut() {
                        *p = -SQRT_2 * erfc_inv(2.0 * *p);
                    }
                }),
            );
            keep(
                1,
                timed(&values, |work| {
                    for p in work.iter_mut() {
                        *p = normal_quantile_v2(*p);
                    }
                }),
            );
            keep(2, timed(&values, crate::normal_quantiles));
            keep(3, timed(&values, normal_quantiles_v2));
            #[cfg(target_arch = "x86_64")]
            if exfee_simd::Isa::Avx2.on_cpu() {
                // SAFETY: the CPU has AVX2 (checked just above).
                keep(4, timed(&values, |w| unsafe { quantiles_avx2(w) }));
                // SAFETY: as above.
                keep(5, timed(&values, |w| unsafe { compiled_avx2(w) }));
            }
            #[cfg(target_arch = "x86_64")]
            if exfee_simd::Isa::Avx512.on_cpu() {
                // SAFETY: the CPU has AVX-512F (checked just above).
                keep(6, timed(&values, |w| unsafe { compiled_avx512(w) }));
            }
        }
        let ns = best.map(|b| b * 1e3);
        println!(
            "{}: scalar statrs {:.2} ns/value, scalar AS 241 {:.2}, vector v1 {:.2}, vector v2 {:.2} \
             ({:.2}x v1); AVX2 intrinsics {:.2}, compiler-vectorised AVX2 {:.2} ({:.2}x), \
             AVX-512 {:.2} ({:.2}x) ({sink})",
            exfee_simd::widest().name(),
            ns[0],
            ns[1],
            ns[2],
            ns[3],
            ns[2] / ns[3],
            ns[4],
            ns[5],
            ns[5] / ns[4],
            ns[6],
            ns[6] / ns[4]
        );
    }
}
