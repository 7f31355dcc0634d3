//! Φ⁻¹ of many probabilities at once, equal bit for bit to the scalar
//! `−√2 · statrs::function::erf::erfc_inv(2p)` the draws are specified with.
//!
//! statrs evaluates Boost's rational approximations of `erf_inv` with plain
//! Horner steps (`acc · z + c`, one rounding per multiply and per add), IEEE
//! division and square root, and `f64::ln`. Every one of those is exact in
//! SIMD lanes too (no fused multiply-add is ever formed: Rust does not
//! contract `a * b + c`), so the same steps over arrays give the same bits.
//! Only the logarithm has no exact vector form: it is taken with the same
//! scalar `f64::ln`, for the half of the probabilities that need it
//! (p < ¼ or p > ¾). The far tails (p or 1 − p below e⁻⁹ ≈ 1.2 · 10⁻⁴) and
//! anything outside (0, 1) go to statrs itself.

// The coefficients are statrs' literals verbatim (they parse to the same
// f64s as statrs'), so they can be compared with its source line by line.
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

use std::f64::consts::SQRT_2;

use statrs::function::erf::erfc_inv;

// Boost's coefficients as statrs 0.19 carries them (`ERF_INV_IMPL_*`).
const AN: [f64; 8] = [
    -0.000508781949658280665617,
    -0.00836874819741736770379,
    0.0334806625409744615033,
    -0.0126926147662974029034,
    -0.0365637971411762664006,
    0.0219878681111168899165,
    0.00822687874676915743155,
    -0.00538772965071242932965,
];
const AD: [f64; 10] = [
    1.0,
    -0.970005043303290640362,
    -1.56574558234175846809,
    1.56221558398423026363,
    0.662328840472002992063,
    -0.71228902341542847553,
    -0.0527396382340099713954,
    0.0795283687341571680018,
    -0.00233393759374190016776,
    0.000886216390456424707504,
];
const BN: [f64; 9] = [
    -0.202433508355938759655,
    0.105264680699391713268,
    8.37050328343119927838,
    17.6447298408374015486,
    -18.8510648058714251895,
    -44.6382324441786960818,
    17.445385985570866523,
    21.1294655448340526258,
    -3.67192254707729348546,
];
const BD: [f64; 9] = [
    1.0,
    6.24264124854247537712,
    3.9713437953343869095,
    -28.6608180499800029974,
    -20.1432634680485188801,
    48.5609213108739935468,
    10.8268667355460159008,
    -22.6436933413139721736,
    1.72114765761200282724,
];
const CN: [f64; 11] = [
    -0.131102781679951906451,
    -0.163794047193317060787,
    0.117030156341995252019,
    0.387079738972604337464,
    0.337785538912035898924,
    0.142869534408157156766,
    0.0290157910005329060432,
    0.00214558995388805277169,
    -0.679465575181126350155e-6,
    0.285225331782217055858e-7,
    -0.681149956853776992068e-9,
];
const CD: [f64; 8] = [
    1.0,
    3.46625407242567245975,
    5.38168345707006855425,
    4.77846592945843778382,
    2.59301921623620271374,
    0.848854343457902036425,
    0.152264338295331783612,
    0.01105924229346489121,
];

/// statrs' `evaluate::polynomial`: a fold from 0 over the coefficients,
/// highest first, `acc · z + c`.
#[inline(always)]
fn poly<const N: usize>(z: f64, c: &[f64; N]) -> f64 {
    let mut acc = 0.0;
    let mut i = N;
    while i > 0 {
        i -= 1;
        acc = acc * z + c[i];
    }
    acc
}

/// The scalar reference: Φ⁻¹(p) as the draws define it (NaN → 0).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        -SQRT_2 * erfc_inv(2.0 * p)
    }
}

/// Lanes processed together.
const LANES: usize = 64;

/// Replaces every probability of `values` by Φ⁻¹ of it, bit for bit
/// `−√2·statrs::function::erf::erfc_inv(2p)` (and 0 for NaN): AVX-512, AVX2
/// or baseline code chosen at run time (`exfee_simd::widest`); all give the
/// same bits.
pub fn normal_quantiles(values: &mut [f64]) {
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
    quantiles_portable(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantiles_avx2(values: &mut [f64]) {
    quantiles_portable(values);
}

#[inline(always)]
fn quantiles_portable(values: &mut [f64]) {
    for chunk in values.chunks_mut(LANES) {
        quantile_chunk(chunk);
    }
}

/// One chunk of at most [`LANES`] probabilities.
#[inline(always)]
fn quantile_chunk(u: &mut [f64]) {
    let n = u.len();
    let mut q = [0.0f64; LANES];
    let mut sign = [0.0f64; LANES];
    let mut central = [false; LANES];
    let mut usual = [false; LANES];
    // erfc_inv(x), x = 2u: for x > 1 erf_inv_impl(x − 1, 2 − x, −1), else
    // erf_inv_impl(1 − x, x, 1); the central branch (p ≤ ½) in every lane.
    let mut out = [0.0f64; LANES];
    for i in 0..n {
        let x = 2.0 * u[i];
        let above = x > 1.0;
        let p = if above { -1.0 + x } else { 1.0 - x };
        q[i] = if above { 2.0 - x } else { x };
        let s = if above { -1.0 } else { 1.0 };
        sign[i] = s;
        usual[i] = x > 0.0 && x < 2.0;
        central[i] = p <= 0.5;
        let g = p * (p + 10.0);
        let r = poly(p, &AN) / poly(p, &AD);
        let result = g * 0.0891314744949340820313 + g * r;
        out[i] = -SQRT_2 * (s * result);
    }
    // The others, packed: their logarithms (scalar, as statrs), then the
    // two branches below x < 3 in every packed lane.
    // Branch-free packing (`&` of the two flags, not `&&`): whether a draw
    // is central is a coin toss, so a branch here mispredicts half the
    // time (it was a third of this function's time).
    let mut at = [0usize; LANES];
    let mut m = 0;
    for i in 0..n {
        at[m] = i;
        m += usize::from(!central[i] & usual[i]);
    }
    let mut ln_q = [0.0f64; LANES];
    let mut qs = [0.0f64; LANES];
    for k in 0..m {
        qs[k] = q[at[k]];
        ln_q[k] = qs[k].ln();
    }
    let mut packed = [0.0f64; LANES];
    let mut tail = [false; LANES];
    for k in 0..m {
        let q = qs[k];
        // q ≥ ¼.
        let g = (-2.0 * ln_q[k]).sqrt();
        let xs = q - 0.25;
        let r = poly(xs, &BN) / poly(xs, &BD);
        let b = g / (2.249481201171875 + r);
        // q < ¼, x < 3.
        let x = (-ln_q[k]).sqrt();
        let xs = x - 1.125;
        let r = poly(xs, &CN) / poly(xs, &CD);
        let c = 0.807220458984375 * x + r * x;
        tail[k] = q < 0.25 && x >= 3.0;
        packed[k] = if q >= 0.25 { b } else { c };
    }
    for k in 0..m {
        let i = at[k];
        out[i] = -SQRT_2 * (sign[i] * packed[k]);
        if tail[k] {
            out[i] = normal_quantile(u[i]);
        }
    }
    for i in 0..n {
        if !usual[i] {
            out[i] = normal_quantile(u[i]);
        }
    }
    u.copy_from_slice(&out[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn check(values: &[f64]) {
        let mut fast = values.to_vec();
        normal_quantiles(&mut fast);
        let mut portable = values.to_vec();
        quantiles_portable(&mut portable);
        for ((&p, &f), &g) in values.iter().zip(&fast).zip(&portable) {
            let want = -SQRT_2 * erfc_inv(2.0 * p);
            let want = if p.is_nan() { 0.0 } else { want };
            assert_eq!(
                f.to_bits(),
                want.to_bits(),
                "p = {p:e}: {f:e} vs statrs {want:e}"
            );
            assert_eq!(g.to_bits(), want.to_bits(), "portable, p = {p:e}");
        }
    }

    #[test]
    fn equals_statrs_bit_for_bit_on_the_draws_grid() {
        // The draws' own probabilities: ((x >> 11) + ½)·2⁻⁵³ of ChaCha20
        // outputs, 2 million of them, in chunks of every length.
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let values: Vec<f64> = (0..2_000_000)
            .map(|_| ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64))
            .collect();
        for piece in values.chunks(LANES * 3 + 17) {
            check(piece);
        }
    }

    #[test]
    fn equals_statrs_in_the_tails_and_at_the_branch_edges() {
        let mut values = Vec::new();
        // Smallest and largest probabilities of the grid, and log-spaced
        // tails down to 1e-300 on both sides.
        let step = 1.0 / (1u64 << 53) as f64;
        values.extend([0.5 * step, 1.5 * step, 1.0 - 0.5 * step, 1.0 - 1.5 * step]);
        let mut t = 0.5f64;
        while t > 1e-300 {
            values.extend([t, 1.0 - t, t * 1.000_000_1, t * 0.999_999_9]);
            t *= 0.93;
        }
        // Around every branch edge: p = ¼, ¾ (x = ½, 3/2: |p| = ½ of
        // erf_inv), q = ¼ (p = ⅛, ⅞), x = 3 and 6 (q = e⁻⁹, e⁻³⁶).
        for edge in [
            0.25,
            0.75,
            0.125,
            0.875,
            0.5 * (-9.0f64).exp(),
            1.0 - 0.5 * (-9.0f64).exp(),
            0.5 * (-36.0f64).exp(),
            0.5,
        ] {
            let mut x = edge;
            let mut y = edge;
            for _ in 0..200 {
                values.extend([x, y]);
                x = f64::from_bits(x.to_bits() + 1);
                y = f64::from_bits(y.to_bits() - 1);
            }
        }
        // Outside (0, 1), and NaN.
        values.extend([
            0.0,
            1.0,
            -0.0,
            -1.0,
            2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        check(&values);
        // Uniform over (0, 1) in plain f64, not only the draws' grid.
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let uniform: Vec<f64> = (0..200_000)
            .map(|_| rng.next_u64() as f64 * (1.0 / 18_446_744_073_709_551_616.0))
            .collect();
        check(&uniform);
    }

    /// Rate of the vectorised Φ⁻¹ against statrs' scalar one, interleaved
    /// A/B (prints, asserts nothing about time):
    /// `cargo test --release -p exfee-scenarios quantile_rate -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn quantile_rate() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let values: Vec<f64> = (0..1_000_000)
            .map(|_| ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64))
            .collect();
        let (mut scalar, mut vector) = (f64::MAX, f64::MAX);
        let mut sink = 0.0;
        for _ in 0..7 {
            let t = std::time::Instant::now();
            for &p in &values {
                sink += normal_quantile(std::hint::black_box(p));
            }
            scalar = scalar.min(t.elapsed().as_secs_f64());
            let mut work = values.clone();
            let t = std::time::Instant::now();
            normal_quantiles(std::hint::black_box(&mut work));
            vector = vector.min(t.elapsed().as_secs_f64());
            sink += work[7];
        }
        println!(
            "statrs scalar {:.2} ns/value, vectorised {:.2} ns/value: {:.2}x ({sink})",
            scalar * 1e3,
            vector * 1e3,
            scalar / vector
        );
    }
}
