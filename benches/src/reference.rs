//! A reference for the engine's aggregation, written apart from it: the same
//! sparse × dense sum (accounts' holdings as a compressed-sparse-row matrix
//! of panel rows and quantities, times the dense panel of every leg's P&L
//! over `width` scenarios), reduced to each account's worst P&L, with
//! hand-written AVX2 and AVX-512 intrinsics, fused multiply-add, the
//! reduction fused into the register block (no row of sums is stored), a
//! software prefetch of the holdings ahead, and two loop orders:
//!
//! - [`Order::AccountMajor`]: each account sweeps the panel's columns block
//!   by block (as the engine does);
//! - [`Order::ColumnSlab`]: for a chunk of accounts, one slab of columns at
//!   a time for every account of the chunk, so that the slab of the panel
//!   (rows × slab × 8 bytes) stays in the core's cache while the chunk's
//!   accounts read it.
//!
//! It computes less than the engine (a minimum, not the k worst scenarios
//! with their indices; FMA rounds once where the engine rounds twice), so
//! it bounds from above what the engine's kernel can reach.

/// The instruction set of a reference kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 + FMA: 4 scenarios a register.
    Avx2,
    /// AVX-512F: 8 scenarios a register.
    Avx512,
}

impl Isa {
    /// Whether this CPU runs it.
    pub fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = self;
            false
        }
    }

    /// `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The loop order (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Account by account, each over every column block.
    AccountMajor,
    /// Chunk of accounts by slab of this many columns.
    ColumnSlab(usize),
}

/// The holdings as a compressed-sparse-row matrix: account `a` holds
/// `rows[offsets[a]..offsets[a + 1]]` with those `quantities`.
#[derive(Debug, Clone, Copy)]
pub struct Csr<'a> {
    /// `accounts + 1` offsets into `rows` and `quantities`.
    pub offsets: &'a [usize],
    /// Panel rows.
    pub rows: &'a [u32],
    /// Quantities.
    pub quantities: &'a [f64],
}

/// The plain loop: each account's worst Σ quantity × panel[row × width + s]
/// over the `width` scenarios (`+∞` with no scenario).
pub fn worst_naive(csr: Csr<'_>, panel: &[f64], width: usize, worst: &mut [f64]) {
    for (a, w) in worst.iter_mut().enumerate() {
        let range = csr.offsets[a]..csr.offsets[a + 1];
        *w = (0..width)
            .map(|s| {
                range.clone().fold(0.0, |sum, h| {
                    sum + csr.quantities[h] * panel[csr.rows[h] as usize * width + s]
                })
            })
            .fold(f64::INFINITY, f64::min);
    }
}

/// Each account's worst P&L over the panel, `worst[a]` for account `a` of
/// `accounts` (a range of `csr`'s), with kernel `isa` and loop `order`.
///
/// # Panics
///
/// If `isa` does not run here, or a row of `csr` is outside `panel`.
pub fn worst(
    isa: Isa,
    order: Order,
    csr: Csr<'_>,
    accounts: std::ops::Range<usize>,
    panel: &[f64],
    width: usize,
    worst: &mut [f64],
) {
    assert!(isa.runs_here(), "{} does not run here", isa.name());
    assert_eq!(worst.len(), accounts.len());
    let max_row = csr.rows.iter().copied().max().map_or(0, |r| r as usize + 1);
    assert!(panel.len() >= max_row * width, "a row is outside the panel");
    assert!(csr.offsets.len() > accounts.end && csr.offsets[accounts.end] <= csr.rows.len());
    assert!(csr.quantities.len() >= csr.rows.len());
    #[cfg(target_arch = "x86_64")]
    {
        let slab = match order {
            Order::AccountMajor => width,
            Order::ColumnSlab(slab) => slab.max(1),
        };
        worst.fill(f64::INFINITY);
        let mut from = 0;
        while from < width {
            let to = (from + slab).min(width);
            for (a, w) in accounts.clone().zip(worst.iter_mut()) {
                let (lo, hi) = (csr.offsets[a], csr.offsets[a + 1]);
                // SAFETY: the CPU runs `isa` (asserted above); every row
                // of `csr` is inside `panel` and every holding index
                // inside `rows` and `quantities` (asserted above), so
                // every load of the kernels is in bounds.
                let m = unsafe {
                    match isa {
                        Isa::Avx2 => x86::account_avx2(csr, lo, hi, panel, width, from, to),
                        Isa::Avx512 => x86::account_avx512(csr, lo, hi, panel, width, from, to),
                    }
                };
                *w = w.min(m);
            }
            from = to;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (order, csr, panel, width);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Csr;
    use std::arch::x86_64::*;

    /// Holdings ahead whose rows are prefetched.
    const AHEAD: usize = 4;

    /// The worst of one account's sums over columns `from..to`: blocks of
    /// 8 registers × 4 scenarios, then single registers, then scalars.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; `lo..hi` is inside `csr.rows` and
    /// `csr.quantities`, and every row's `width` values inside `panel`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn account_avx2(
        csr: Csr<'_>,
        lo: usize,
        hi: usize,
        panel: &[f64],
        width: usize,
        from: usize,
        to: usize,
    ) -> f64 {
        const R: usize = 8;
        let base = panel.as_ptr();
        let mut worst = _mm256_set1_pd(f64::INFINITY);
        let mut c = from;
        while c + 4 * R <= to {
            let mut acc = [_mm256_setzero_pd(); R];
            for h in lo..hi {
                // SAFETY: h < hi ≤ rows.len() ≤ quantities.len(); the row
                // `r × width + c .. + 4R` is inside `panel` as c + 4R ≤ to ≤
                // width; a prefetch never faults.
                unsafe {
                    if h + AHEAD < hi {
                        let ahead = *csr.rows.get_unchecked(h + AHEAD) as usize * width + c;
                        _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(ahead).cast());
                        _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(ahead + 16).cast());
                    }
                    let q = _mm256_set1_pd(*csr.quantities.get_unchecked(h));
                    let p = base.add(*csr.rows.get_unchecked(h) as usize * width + c);
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_pd(q, _mm256_loadu_pd(p.add(4 * j)), *a);
                    }
                }
            }
            for a in acc {
                worst = _mm256_min_pd(worst, a);
            }
            c += 4 * R;
        }
        while c + 4 <= to {
            let mut acc = _mm256_setzero_pd();
            for h in lo..hi {
                // SAFETY: as above, with c + 4 ≤ to ≤ width.
                unsafe {
                    let q = _mm256_set1_pd(*csr.quantities.get_unchecked(h));
                    let p = base.add(*csr.rows.get_unchecked(h) as usize * width + c);
                    acc = _mm256_fmadd_pd(q, _mm256_loadu_pd(p), acc);
                }
            }
            worst = _mm256_min_pd(worst, acc);
            c += 4;
        }
        let mut lanes = [0.0; 4];
        // SAFETY: `lanes` holds 4 doubles.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), worst) };
        let mut m = lanes.iter().copied().fold(f64::INFINITY, f64::min);
        for s in c..to {
            let sum = (lo..hi).fold(0.0, |sum, h| {
                sum + csr.quantities[h] * panel[csr.rows[h] as usize * width + s]
            });
            m = m.min(sum);
        }
        m
    }

    /// [`account_avx2`] with AVX-512: blocks of 8 registers × 8 scenarios.
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F; otherwise as [`account_avx2`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn account_avx512(
        csr: Csr<'_>,
        lo: usize,
        hi: usize,
        panel: &[f64],
        width: usize,
        from: usize,
        to: usize,
    ) -> f64 {
        const R: usize = 8;
        let base = panel.as_ptr();
        let mut worst = _mm512_set1_pd(f64::INFINITY);
        let mut c = from;
        while c + 8 * R <= to {
            let mut acc = [_mm512_setzero_pd(); R];
            for h in lo..hi {
                // SAFETY: h < hi ≤ rows.len() ≤ quantities.len(); the row
                // `r × width + c .. + 8R` is inside `panel` as c + 8R ≤ to ≤
                // width; a prefetch never faults.
                unsafe {
                    if h + AHEAD < hi {
                        let ahead = *csr.rows.get_unchecked(h + AHEAD) as usize * width + c;
                        for line in 0..R {
                            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(ahead + 8 * line).cast());
                        }
                    }
                    let q = _mm512_set1_pd(*csr.quantities.get_unchecked(h));
                    let p = base.add(*csr.rows.get_unchecked(h) as usize * width + c);
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_pd(q, _mm512_loadu_pd(p.add(8 * j)), *a);
                    }
                }
            }
            for a in acc {
                worst = _mm512_min_pd(worst, a);
            }
            c += 8 * R;
        }
        while c + 8 <= to {
            let mut acc = _mm512_setzero_pd();
            for h in lo..hi {
                // SAFETY: as above, with c + 8 ≤ to ≤ width.
                unsafe {
                    let q = _mm512_set1_pd(*csr.quantities.get_unchecked(h));
                    let p = base.add(*csr.rows.get_unchecked(h) as usize * width + c);
                    acc = _mm512_fmadd_pd(q, _mm512_loadu_pd(p), acc);
                }
            }
            worst = _mm512_min_pd(worst, acc);
            c += 8;
        }
        let mut m = _mm512_reduce_min_pd(worst);
        for s in c..to {
            let sum = (lo..hi).fold(0.0, |sum, h| {
                sum + csr.quantities[h] * panel[csr.rows[h] as usize * width + s]
            });
            m = m.min(sum);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_and_order_finds_the_plain_loops_worst() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let rows_in_panel = 50;
        for width in [0, 1, 3, 4, 31, 32, 33, 64, 100, 256] {
            let panel: Vec<f64> = (0..rows_in_panel * width).map(|_| next() * 100.0).collect();
            let mut offsets = vec![0];
            let (mut rows, mut quantities) = (Vec::new(), Vec::new());
            for a in 0..40 {
                for h in 0..(a % 7) * 3 {
                    rows.push(u32::try_from((a * 13 + h * 7) % rows_in_panel).unwrap());
                    quantities.push(next() * 10.0);
                }
                offsets.push(rows.len());
            }
            let csr = Csr {
                offsets: &offsets,
                rows: &rows,
                quantities: &quantities,
            };
            let mut expected = vec![0.0; 40];
            worst_naive(csr, &panel, width, &mut expected);
            for isa in [Isa::Avx2, Isa::Avx512]
                .into_iter()
                .filter(|i| i.runs_here())
            {
                for order in [
                    Order::AccountMajor,
                    Order::ColumnSlab(32),
                    Order::ColumnSlab(5),
                ] {
                    let mut got = vec![f64::NAN; 30];
                    worst(isa, order, csr, 10..40, &panel, width, &mut got);
                    for (g, e) in got.iter().zip(&expected[10..]) {
                        // FMA rounds once where the plain loop rounds twice.
                        let close = (g == e) || (g - e).abs() <= 1e-9 * e.abs().max(1.0);
                        assert!(close, "{isa:?} {order:?} width {width}: {g} vs {e}");
                    }
                }
            }
        }
    }
}
