//! The aggregation kernels: `out[s] = Σ quantity × leg P&L[s]` over an
//! account's holdings, vectorised by hand-blocked loops that the compiler
//! turns into AVX-512, AVX2 or baseline code, chosen at run time.
//!
//! This is the only module of the engine with `unsafe` code (the crate root
//! denies it everywhere else): calling a `#[target_feature]` function, which
//! is sound once the CPU is known to have the feature, and a prefetch hint,
//! which never faults. Every kernel gives the same bits: each scenario's sum
//! is `((0 + q₁·p₁) + q₂·p₂) + …` with every product and sum rounded (no
//! fused multiply-add).

use std::sync::OnceLock;

/// An aggregation kernel: the instruction set its loops are compiled for.
/// All give the same bits; they differ in speed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Baseline x86-64 (SSE2) or the target's baseline: 16 scenarios a pass.
    Portable,
    /// AVX2 (x86-64): 32 scenarios a pass.
    Avx2,
    /// AVX-512F (x86-64): 64 scenarios a pass.
    Avx512,
}

impl Kernel {
    /// Whether this CPU runs the kernel.
    pub fn runs_here(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => false,
        }
    }

    /// The instruction-set level the kernel is built for.
    pub fn isa(self) -> exfee_simd::Isa {
        match self {
            Kernel::Portable => exfee_simd::Isa::Portable,
            Kernel::Avx2 => exfee_simd::Isa::Avx2,
            Kernel::Avx512 => exfee_simd::Isa::Avx512,
        }
    }

    /// Whether the kernel runs here and the `EXFEE_SIMD` cap
    /// (`exfee_simd::cap`) allows it.
    pub fn allowed(self) -> bool {
        self.runs_here() && self.isa() <= exfee_simd::cap()
    }

    /// The widest allowed kernel (checked once): the one [`aggregate`] and
    /// the evaluation use.
    pub fn detected() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            [Kernel::Avx512, Kernel::Avx2]
                .into_iter()
                .find(|k| k.allowed())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// Every allowed kernel, narrowest first (for tests and benches).
    pub fn available() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.allowed())
            .collect()
    }

    /// Lower-case name: `portable`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }
}

/// The account kernel: `out[s] = Σ quantity × leg_pnl[leg × len + s]` over
/// `holdings` (leg index, quantity) in their order, for the `len` scenarios
/// of a block. `leg_pnl` holds each leg's block row contiguously.
///
/// Each scenario's sum is `((0 + q₁·p₁) + q₂·p₂) + …` with every product and
/// sum rounded (no fused multiply-add), so the result is the same bit for
/// bit on every CPU and whichever kernel runs: AVX-512 or AVX2 when the CPU
/// has them (chosen at run time), else the portable build.
///
/// # Examples
///
/// ```
/// let leg_pnl = [1.0, 2.0, /* leg 1: */ 10.0, 20.0];
/// let mut out = [0.0; 2];
/// exfee_engine::aggregate(&[(1, 3.0), (0, -1.0)], &leg_pnl, 2, &mut out);
/// assert_eq!(out, [29.0, 58.0]);
/// ```
///
/// # Panics
///
/// If a leg's row `leg × len .. (leg + 1) × len` is outside `leg_pnl`, or
/// `out` is longer than `len`.
pub fn aggregate(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
    aggregate_with(Kernel::detected(), holdings, leg_pnl, len, out);
}

/// [`aggregate`] with a chosen kernel (one this CPU does not run falls back
/// to [`Kernel::Portable`]; the bits are the same).
///
/// # Panics
///
/// As [`aggregate`].
pub fn aggregate_with(
    kernel: Kernel,
    holdings: &[(usize, f64)],
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    assert!(out.len() <= len, "out is longer than a leg's row");
    let get = |h: usize| holdings[h];
    dispatch(kernel, holdings.len(), &get, leg_pnl, len, out);
}

/// [`aggregate_with`] over holdings given as panel rows (of `len`
/// scenarios) and quantities.
pub(crate) fn aggregate_rows(
    kernel: Kernel,
    rows: &[u32],
    quantities: &[f64],
    panel: &[f64],
    len: usize,
    out: &mut [f64],
) {
    let n = rows.len().min(quantities.len());
    let get = |h: usize| (rows[h] as usize, quantities[h]);
    dispatch(kernel, n, &get, panel, len, out);
}

#[inline]
fn dispatch<G: Fn(usize) -> (usize, f64)>(
    kernel: Kernel,
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    let kernel = if kernel.runs_here() {
        kernel
    } else {
        Kernel::Portable
    };
    match kernel {
        Kernel::Portable => agg_portable(n, get, leg_pnl, len, out),
        // SAFETY: `runs_here` has just checked that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { agg_avx2(n, get, leg_pnl, len, out) },
        // SAFETY: `runs_here` has just checked that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { agg_avx512(n, get, leg_pnl, len, out) },
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2 | Kernel::Avx512 => agg_portable(n, get, leg_pnl, len, out),
    }
}

fn agg_portable<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    agg_body::<16, G>(n, get, leg_pnl, len, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn agg_avx2<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    agg_body::<32, G>(n, get, leg_pnl, len, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn agg_avx512<G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    agg_body::<64, G>(n, get, leg_pnl, len, out);
}

/// Register-blocked Σ: `W` scenarios at a time stay in registers while every
/// holding's `W` P&L are added in, so each P&L is loaded once and each sum
/// stored once. Per scenario the operations and their order are those of
/// the plain loop `out[s] = 0; for h { out[s] += q_h × p_h[s] }`.
#[inline(always)]
fn agg_body<const W: usize, G: Fn(usize) -> (usize, f64)>(
    n: usize,
    get: &G,
    leg_pnl: &[f64],
    len: usize,
    out: &mut [f64],
) {
    let width = out.len();
    let mut col = 0;
    while col + W <= width {
        let mut acc = [0.0f64; W];
        for h in 0..n {
            if PREFETCH > 0 && h + PREFETCH < n {
                let (ahead, _) = get(h + PREFETCH);
                prefetch_row::<W>(leg_pnl, ahead * len + col);
            }
            let (leg, quantity) = get(h);
            let at = leg * len + col;
            let row: &[f64; W] = leg_pnl[at..at + W].try_into().unwrap_or(&[0.0; W]);
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += quantity * p;
            }
        }
        out[col..col + W].copy_from_slice(&acc);
        col += W;
    }
    while col + 8 <= width {
        let mut acc = [0.0f64; 8];
        for h in 0..n {
            let (leg, quantity) = get(h);
            let at = leg * len + col;
            let row: &[f64; 8] = leg_pnl[at..at + 8].try_into().unwrap_or(&[0.0; 8]);
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += quantity * p;
            }
        }
        out[col..col + 8].copy_from_slice(&acc);
        col += 8;
    }
    for (c, o) in out.iter_mut().enumerate().skip(col) {
        let mut acc = 0.0;
        for h in 0..n {
            let (leg, quantity) = get(h);
            acc += quantity * leg_pnl[leg * len + c];
        }
        *o = acc;
    }
}

/// Holdings ahead whose rows are prefetched.
const PREFETCH: usize = 2;

/// Asks for `W` P&L from `at` on to be brought into the cache.
#[inline(always)]
fn prefetch_row<const W: usize>(leg_pnl: &[f64], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = leg_pnl.as_ptr().wrapping_add(at);
        for line in (0..W).step_by(8) {
            // SAFETY: SSE is part of the x86_64 baseline; a prefetch never
            // faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line).cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (leg_pnl, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loop every kernel must match bit for bit.
    fn naive(holdings: &[(usize, f64)], leg_pnl: &[f64], len: usize, out: &mut [f64]) {
        out.fill(0.0);
        for &(leg, quantity) in holdings {
            for (s, acc) in out.iter_mut().enumerate() {
                *acc += quantity * leg_pnl[leg * len + s];
            }
        }
    }

    /// A fixed pseudo-random stream (no RNG crate needed).
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Values of every magnitude and sign, so rounding order matters.
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 10f64.powi((x % 13) as i32 - 6)
        }
    }

    #[test]
    fn every_kernel_matches_the_plain_loop_bit_for_bit() {
        let mut next = stream(7);
        let legs = 37;
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 130, 256, 301] {
            let leg_pnl: Vec<f64> = (0..legs * len).map(|_| next()).collect();
            for count in [0, 1, 2, 5, 20, 75] {
                let holdings: Vec<(usize, f64)> = (0..count)
                    .map(|h| ((h * 11 + len) % legs, next() * 1e3))
                    .collect();
                let mut expected = vec![f64::NAN; len];
                naive(&holdings, &leg_pnl, len, &mut expected);
                let mut outs = Vec::new();
                for kernel in [Kernel::Portable, Kernel::Avx2, Kernel::Avx512] {
                    let mut out = vec![f64::NAN; len];
                    aggregate_with(kernel, &holdings, &leg_pnl, len, &mut out);
                    outs.push((kernel.name(), out));
                }
                let mut out = vec![f64::NAN; len];
                aggregate(&holdings, &leg_pnl, len, &mut out);
                outs.push(("aggregate", out));
                // The same holdings as panel rows and quantities.
                let rows: Vec<u32> = holdings
                    .iter()
                    .map(|&(l, _)| u32::try_from(l).unwrap())
                    .collect();
                let quantities: Vec<f64> = holdings.iter().map(|&(_, q)| q).collect();
                for kernel in Kernel::available() {
                    let mut out = vec![f64::NAN; len];
                    aggregate_rows(kernel, &rows, &quantities, &leg_pnl, len, &mut out);
                    outs.push(("rows", out));
                }
                for (name, out) in outs {
                    let same = out
                        .iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{name}: len {len}, {count} holdings");
                }
            }
        }
    }

    #[test]
    fn a_worked_example_by_hand() {
        // Three legs of 3 scenarios; 2 × leg 2 − 1 × leg 0 + 0.5 × leg 1.
        let leg_pnl = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 20.0, 30.0];
        let holdings = [(2, 2.0), (0, -1.0), (1, 0.5)];
        for kernel in Kernel::available() {
            let mut out = [f64::NAN; 3];
            aggregate_with(kernel, &holdings, &leg_pnl, 3, &mut out);
            assert_eq!(out, [21.0, 41.0, 61.0], "{}", kernel.name());
        }
    }

    #[test]
    fn a_shorter_out_reads_the_first_scenarios_of_each_row() {
        // Rows of 4 scenarios, only the first 2 wanted.
        let leg_pnl = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        let mut out = [0.0; 2];
        aggregate(&[(1, 2.0), (0, -1.0)], &leg_pnl, 4, &mut out);
        assert_eq!(out, [19.0, 38.0]);
    }

    #[test]
    fn no_holdings_sum_to_zero() {
        let mut out = [f64::NAN; 70];
        aggregate(&[], &[], 70, &mut out);
        assert!(out.iter().all(|&o| o == 0.0));
    }

    #[test]
    fn the_detected_kernel_runs_here_and_is_the_widest() {
        let detected = Kernel::detected();
        assert!(detected.runs_here());
        assert_eq!(Kernel::available().last(), Some(&detected));
        assert!(Kernel::available().contains(&Kernel::Portable));
    }
}
