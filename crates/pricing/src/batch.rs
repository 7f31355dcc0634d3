//! One contract priced under many (spot, vol) scenarios: the vectorised
//! European, ALO and BAW kernels, selected at run time by CPU feature.

use std::fmt;

use crate::alo::{self, ZETA_INTERVALS, ZETA_STEP};
use crate::baw::{
    BawContract, GRID_INTERVALS, GRID_INV_STEP, GRID_LN_MIN, GRID_SIGMA_MAX, GRID_SIGMA_MIN,
    grid_sigma,
};
use crate::european::{VOL_MAX, VOL_MIN, gbs};
use crate::fastmath::{self, ROUND_MAGIC, select};
use crate::right::Right;

/// The slices given to a batch pricer do not all have the same length.
///
/// Returned by [`price_european_batch`] and
/// [`price_american_batch`](crate::price_american_batch), which
/// then leave `out` untouched.
///
/// # Examples
///
/// ```
/// use exfee_pricing::{LengthMismatch, Right, price_european_batch};
///
/// let mut out = [0.0; 2];
/// let err = price_european_batch(Right::Call, &[100.0; 3], 100.0, 1.0, 0.0, 0.0, &[0.2; 3], &mut out);
/// assert_eq!(err, Err(LengthMismatch { spots: 3, vols: 3, out: 2 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LengthMismatch {
    /// Length of `spots`.
    pub spots: usize,
    /// Length of `vols`.
    pub vols: usize,
    /// Length of `out`.
    pub out: usize,
}

impl fmt::Display for LengthMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch length mismatch: {} spots, {} vols, {} outputs",
            self.spots, self.vols, self.out
        )
    }
}

impl std::error::Error for LengthMismatch {}

pub(crate) fn check_lengths(
    spots: &[f64],
    vols: &[f64],
    out: &[f64],
) -> Result<(), LengthMismatch> {
    if spots.len() == vols.len() && vols.len() == out.len() {
        Ok(())
    } else {
        Err(LengthMismatch {
            spots: spots.len(),
            vols: vols.len(),
            out: out.len(),
        })
    }
}

/// Prices one European contract ([`gbs`] semantics) under many scenarios:
/// `out[i] = gbs(right, spots[i], k, t, r, b, vols[i])` up to the accuracy
/// below.
///
/// This is the engine's hot loop. The kernel is a branch-free loop over
/// polynomial/rational `exp`, `ln` and normal CDF (no libm calls), which the
/// compiler vectorises; the widest available instruction set is chosen at run
/// time: AVX-512F, else AVX2 + FMA on x86_64, else a portable build of the same
/// loop (SSE2 on x86_64, NEON on aarch64).
///
/// # Accuracy
///
/// `|out[i] - gbs(...)| <= 1e-13 · (spot + strike)`, tested on every kernel
/// over moneyness 0.05-20, vol 0-5, maturity 0-30 years, both rights (the
/// measured worst is about 1e-15 · (spot + strike)). The kernel's normal CDF
/// (Hart 1968 / West 2005 rational) is accurate to 2.3e-16 absolute, its `exp`
/// and `ln` to a few ulp.
///
/// Contracts outside the kernel's range (strike outside `[1e-100, 1e100]`,
/// `|r t|` or `|b t|` above 100, non-finite `k`, `t`, `r`, `b`) and scenarios
/// with a spot outside `[1e-150, 1e150]` or a NaN vol are priced with the
/// scalar [`gbs`] instead, so the results keep its domain and limits.
///
/// # Errors
///
/// [`LengthMismatch`] if `spots`, `vols` and `out` differ in length; `out` is
/// then left unchanged.
///
/// # Examples
///
/// ```
/// use exfee_pricing::{Right, gbs, price_european_batch};
///
/// let spots = [90.0, 100.0, 110.0];
/// let vols = [0.3, 0.2, 0.25];
/// let mut out = [0.0; 3];
/// price_european_batch(Right::Put, &spots, 100.0, 0.5, 0.03, 0.01, &vols, &mut out)?;
/// for i in 0..3 {
///     let exact = gbs(Right::Put, spots[i], 100.0, 0.5, 0.03, 0.01, vols[i]);
///     assert!((out[i] - exact).abs() < 1e-10);
/// }
/// # Ok::<(), exfee_pricing::LengthMismatch>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn price_european_batch(
    right: Right,
    spots: &[f64],
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    vols: &[f64],
    out: &mut [f64],
) -> Result<(), LengthMismatch> {
    check_lengths(spots, vols, out)?;
    european_batch_with(Kernel::detect(), right, spots, k, t, r, b, vols, out);
    Ok(())
}

/// Scenario spots outside this range go to the scalar pricer.
const SPOT_MIN: f64 = 1e-150;
const SPOT_MAX: f64 = 1e150;
/// Contracts outside these ranges go to the scalar pricer.
const STRIKE_MIN: f64 = 1e-100;
const STRIKE_MAX: f64 = 1e100;
const CARRY_MAX: f64 = 100.0;

/// Per-contract constants of the European kernel. With the ranges above every
/// intermediate stays finite: `|ln(S/K)| < 580`, `S e^{(b-r)T} < 1e238`.
#[derive(Clone, Copy, Debug)]
struct EuroKernel {
    phi: f64,
    inv_k: f64,
    bt: f64,
    /// `e^{(b-r)T}`.
    carry_df: f64,
    /// `K e^{-rT}`.
    pv_k: f64,
    sqrt_t: f64,
}

impl EuroKernel {
    fn new(right: Right, k: f64, t: f64, r: f64, b: f64) -> Option<Self> {
        if !((STRIKE_MIN..=STRIKE_MAX).contains(&k)
            && t.is_finite()
            && r.is_finite()
            && b.is_finite())
        {
            return None;
        }
        let t = t.max(0.0);
        let (rt, bt) = (r * t, b * t);
        if !(rt.abs() <= CARRY_MAX && bt.abs() <= CARRY_MAX) {
            return None;
        }
        Some(EuroKernel {
            phi: right.sign(),
            inv_k: 1.0 / k,
            bt,
            carry_df: (bt - rt).exp(),
            pv_k: k * (-rt).exp(),
            sqrt_t: t.sqrt(),
        })
    }

    /// Same algebra as [`gbs`]: the larger of PV(F) and PV(K) is factored out so
    /// that the bracket lies in `[-1, 1]`.
    #[inline(always)]
    fn price<const FMA: bool>(&self, s: f64, sigma: f64) -> f64 {
        let s = select(s < SPOT_MIN, SPOT_MIN, s);
        let s = select(s > SPOT_MAX, SPOT_MAX, s);
        let log_moneyness = fastmath::ln::<FMA>(s * self.inv_k);
        self.price_lm::<FMA>(s, log_moneyness, sigma)
    }

    /// [`EuroKernel::price`] for a spot `s` in `[SPOT_MIN, SPOT_MAX]` whose
    /// `ln(s / k)` is already known.
    #[inline(always)]
    fn price_lm<const FMA: bool>(&self, s: f64, log_moneyness: f64, sigma: f64) -> f64 {
        let v = sigma * self.sqrt_t;
        let v = select(v > VOL_MIN, v, VOL_MIN);
        let v = select(v < VOL_MAX, v, VOL_MAX);
        let m = log_moneyness + self.bt;
        let x = m / v;
        let half_v = 0.5 * v;
        let n1 = fastmath::norm_cdf::<FMA>(self.phi * (x + half_v));
        let n2 = fastmath::norm_cdf::<FMA>(self.phi * (x - half_v));
        let e = fastmath::exp::<FMA>(-m.abs());
        let pos = m >= 0.0;
        let bracket = self.phi * select(pos, n1 - e * n2, e * n1 - n2);
        let bracket = select(bracket > 0.0, bracket, 0.0);
        select(pos, s * self.carry_df, self.pv_k) * bracket
    }
}

// The kernel loops index equal-length reslices (no bounds checks, and no
// iterator-adapter calls left out of line when the crate is built without LTO).
#[inline(always)]
fn euro_loop<const FMA: bool>(p: &EuroKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    let n = out.len().min(spots.len()).min(vols.len());
    let (out, spots, vols) = (&mut out[..n], &spots[..n], &vols[..n]);
    for i in 0..n {
        out[i] = p.price::<FMA>(spots[i], vols[i]);
    }
}

/// The portable kernels fuse their multiply-adds too, so a machine without
/// AVX2 + FMA (or a run capped with `EXFEE_SIMD=portable`) prices with the
/// same bits as the AVX2 and AVX-512 kernels: `f64::mul_add` is correctly
/// rounded whether the CPU fuses it or libm's `fma` does (slower there, but
/// the same answer on every machine).
const PORTABLE_FMA: bool = true;

fn euro_portable(p: &EuroKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    euro_loop::<PORTABLE_FMA>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn euro_avx2_fma(p: &EuroKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    euro_loop::<true>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn euro_avx512(p: &EuroKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    euro_loop::<true>(p, spots, vols, out);
}

/// Contracts with a shorter maturity than this (in years) are priced by the
/// exact scalar BAW.
const AMER_T_MIN: f64 = 1e-6;
/// Grid nodes whose boundary is further than this from the strike in log
/// terms are unusable by the kernel (the boundary must stay in its spot range).
const KERNEL_LOG_BOUNDARY_MAX: f64 = 50.0;

/// Per-contract state of the American (BAW) kernel.
#[derive(Clone, Debug)]
pub(crate) struct AmerKernel {
    euro: EuroKernel,
    phi: f64,
    k: f64,
    two_b: f64,
    two_g: f64,
    /// Per grid interval `j`, the cubic `y = c0 + f (c1 + f (c2 + f c3))` in
    /// `f = x - j`, `x = (ln σ - ln 0.005) / step`, through the nodes
    /// `j - 1 ..= j + 2`; NaN for intervals not needed by this batch or
    /// without a usable boundary (those scenarios go to the scalar pricer).
    table: [[f64; 4]; GRID_INTERVALS],
}

/// The grid interval of an in-grid vol, `floor(x)` clamped to the table.
fn grid_interval(sigma: f64) -> usize {
    let x = ((sigma.ln() - GRID_LN_MIN) * GRID_INV_STEP).floor();
    x.clamp(0.0, (GRID_INTERVALS - 1) as f64) as usize
}

/// `y` at grid node `j`, or NaN when the kernel cannot use it.
fn grid_node(contract: &BawContract, j: i32) -> f64 {
    match contract.boundary(grid_sigma(j)) {
        Some((_, y)) if y.abs() <= KERNEL_LOG_BOUNDARY_MAX => y,
        _ => f64::NAN,
    }
}

impl AmerKernel {
    /// `None` when the contract is outside the kernel's range. Tabulates the
    /// intervals of the vols in `vols` that lie on the grid, plus one interval
    /// on each side (so that the kernel's own rounding of `ln σ` never reaches
    /// an interval that was not tabulated).
    fn new(contract: &BawContract, vols: &[f64]) -> Option<Self> {
        if !(contract.premium && contract.t >= AMER_T_MIN) {
            return None;
        }
        let c = contract;
        let euro = EuroKernel::new(c.right, c.k, c.t, c.r, c.b)?;
        let mut table = [[f64::NAN; 4]; GRID_INTERVALS];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in vols {
            let on_grid = (GRID_SIGMA_MIN..=GRID_SIGMA_MAX).contains(&v);
            lo = lo.min(if on_grid { v } else { f64::INFINITY });
            hi = hi.max(if on_grid { v } else { f64::NEG_INFINITY });
        }
        if lo <= hi {
            let first = grid_interval(lo).saturating_sub(1);
            let last = (grid_interval(hi) + 1).min(GRID_INTERVALS - 1);
            // nodes[i] is node j = first + i - 1.
            let nodes: Vec<f64> = (first..=last + 3)
                .map(|j| grid_node(c, j as i32 - 1))
                .collect();
            for (j, w) in (first..=last).zip(nodes.windows(4)) {
                let (p0, p1, p2, p3) = (w[0], w[1], w[2], w[3]);
                // Lagrange cubic through f = -1, 0, 1, 2 in monomial form.
                table[j] = [
                    p1,
                    -p0 / 3.0 - 0.5 * p1 + p2 - p3 / 6.0,
                    0.5 * (p0 + p2) - p1,
                    (p3 - p0) / 6.0 + 0.5 * (p1 - p2),
                ];
            }
        }
        Some(AmerKernel {
            euro,
            phi: c.phi,
            k: c.k,
            two_b: c.two_b,
            two_g: c.two_g,
            table,
        })
    }

    /// BAW price with the interpolated boundary; NaN for scenarios the kernel
    /// does not cover (repriced by the caller).
    #[inline(always)]
    fn price<const FMA: bool>(&self, s: f64, sigma: f64) -> f64 {
        const LAST: f64 = (GRID_INTERVALS - 1) as f64;
        let covered = (SPOT_MIN..=SPOT_MAX).contains(&s)
            && (GRID_SIGMA_MIN..=GRID_SIGMA_MAX).contains(&sigma);
        let s = select(s < SPOT_MIN, SPOT_MIN, s);
        let s = select(s > SPOT_MAX, SPOT_MAX, s);
        let sigma = select(sigma > GRID_SIGMA_MIN, sigma, GRID_SIGMA_MIN);
        let sigma = select(sigma < GRID_SIGMA_MAX, sigma, GRID_SIGMA_MAX);
        let (phi, k) = (self.phi, self.k);

        let log_moneyness = fastmath::ln::<FMA>(s * self.euro.inv_k);
        let euro = self.euro.price_lm::<FMA>(s, log_moneyness, sigma);

        // Boundary y = ln(B/K): cubic on the grid interval of ln σ.
        let x = (fastmath::ln::<FMA>(sigma) - GRID_LN_MIN) * GRID_INV_STEP;
        let x = select(x > 0.0, x, 0.0);
        let nearest = (x + ROUND_MAGIC) - ROUND_MAGIC;
        let cell = select(nearest > x, nearest - 1.0, nearest);
        let cell = select(cell < LAST, cell, LAST);
        let f = x - cell;
        // `cell` is an integer in [0, LAST]: it sits in the low mantissa bits.
        let index = (cell + ROUND_MAGIC).to_bits() as usize & (GRID_INTERVALS - 1);
        let c = &self.table[index];
        let y = c[0] + f * (c[1] + f * (c[2] + f * c[3]));

        // BAW's exponent (as `BawContract::exponent`, branch-free).
        let inv_v2 = 1.0 / (sigma * sigma);
        let u = self.two_b * inv_v2 - 1.0;
        let h = self.two_g * inv_v2;
        let d = (u * u + 4.0 * h).sqrt();
        let q = select(phi * u <= 0.0, 0.5 * (phi * d - u), 2.0 * h / (u + phi * d));

        let boundary = k * fastmath::exp::<FMA>(y);
        let euro_at_boundary = self.euro.price_lm::<FMA>(boundary, y, sigma);
        let a = phi * (boundary - k) - euro_at_boundary;
        let z = log_moneyness - y;
        let premium = a * fastmath::exp::<FMA>(q * z);
        let intrinsic = phi * (s - k);
        let intrinsic = select(intrinsic > 0.0, intrinsic, 0.0);
        let value = select(phi * z >= 0.0, intrinsic, euro + premium);
        let floor = select(euro > intrinsic, euro, intrinsic);
        // NaN (an untabulated interval) propagates to the caller.
        let value = select(value < floor, floor, value);
        select(covered, value, f64::NAN)
    }
}

/// Row length of the ALO premium table (33 nodes, padded so that a masked
/// index never leaves the row).
const ZETA_ROW: usize = 68;

/// Per-contract state of the accurate American kernel (see
/// [`price_american_batch`](crate::price_american_batch)): the boundary at expiry and the premium table of
/// the normalised put at the vol grid's nodes, rows `j + 1` for node `j`.
pub(crate) struct AloKernel<'a> {
    euro: EuroKernel,
    put: bool,
    k: f64,
    inv_sqrt_t: f64,
    log_boundary: [f64; GRID_INTERVALS + 3],
    premium: &'a PremiumTable,
}

/// The ALO kernel's premium rows (71 KiB): NaN where not tabulated.
type PremiumTable = [[f64; ZETA_ROW]; GRID_INTERVALS + 3];

std::thread_local! {
    /// An all-NaN premium table kept between calls on this thread. A fresh
    /// one costs 71 KiB to allocate, fill with NaN and free per call, and
    /// the engine makes tens of thousands of calls a night, many of one
    /// scenario (the sparse single-stock scenarios).
    static SPARE_PREMIUM: std::cell::Cell<Option<Box<PremiumTable>>> =
        const { std::cell::Cell::new(None) };
}

/// A premium table for one call: this thread's spare (all NaN) or a new
/// all-NaN one; on drop, the rows written are set back to NaN and the table
/// becomes the thread's spare again. So a kernel reads exactly what a fresh
/// NaN table with its own rows written holds.
struct PremiumScratch {
    table: Option<Box<PremiumTable>>,
    written: std::ops::Range<usize>,
}

impl PremiumScratch {
    fn take() -> Self {
        PremiumScratch {
            table: SPARE_PREMIUM.with(std::cell::Cell::take),
            written: 0..0,
        }
    }

    /// The table, to write `rows` of (recorded for the reset on drop).
    fn rows(&mut self, rows: std::ops::Range<usize>) -> &mut PremiumTable {
        self.written = rows;
        self.table.get_or_insert_with(|| {
            let rows = vec![[f64::NAN; ZETA_ROW]; GRID_INTERVALS + 3].into_boxed_slice();
            rows.try_into()
                .unwrap_or_else(|_| Box::new([[f64::NAN; ZETA_ROW]; GRID_INTERVALS + 3]))
        })
    }
}

impl Drop for PremiumScratch {
    fn drop(&mut self) {
        if let Some(mut table) = self.table.take() {
            if let Some(rows) = table.get_mut(self.written.clone()) {
                rows.fill([f64::NAN; ZETA_ROW]);
            }
            SPARE_PREMIUM.with(|spare| spare.set(Some(table)));
        }
    }
}

/// Lagrange weights of the nodes 0, 1, 2, 3 at `x`.
#[inline(always)]
fn cubic_weights(x: f64) -> [f64; 4] {
    let (a, b, c, d) = (x, x - 1.0, x - 2.0, x - 3.0);
    [
        -b * c * d * (1.0 / 6.0),
        a * c * d * 0.5,
        -a * b * d * 0.5,
        a * b * c * (1.0 / 6.0),
    ]
}

impl<'a> AloKernel<'a> {
    /// `None` when the contract is outside the kernel's range or the method's
    /// domain (the caller then uses the BAW kernel). Fills the nodes around
    /// the vols in `vols` that lie on the grid from the process-wide cache of
    /// [`alo::node_tables`], in `scratch`'s table.
    fn new(contract: &BawContract, vols: &[f64], scratch: &'a mut PremiumScratch) -> Option<Self> {
        let c = contract;
        if !(c.premium && c.t >= AMER_T_MIN) {
            return None;
        }
        let put = c.right == Right::Put;
        let q = c.r - c.b;
        let (rr, qq) = if put { (c.r, q) } else { (q, c.r) };
        if !alo::alo_contract_domain(rr, qq, c.t) {
            return None;
        }
        let euro = EuroKernel::new(c.right, c.k, c.t, c.r, c.b)?;
        let mut log_boundary = [f64::NAN; GRID_INTERVALS + 3];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in vols {
            let on_grid = (GRID_SIGMA_MIN..=GRID_SIGMA_MAX).contains(&v);
            lo = lo.min(if on_grid { v } else { f64::INFINITY });
            hi = hi.max(if on_grid { v } else { f64::NEG_INFINITY });
        }
        // Interval j uses nodes j - 1 ..= j + 2, rows j ..= j + 3.
        let rows = if lo <= hi {
            let first = grid_interval(lo).saturating_sub(1);
            let last = (grid_interval(hi) + 1).min(GRID_INTERVALS - 1);
            first..last + 4
        } else {
            0..0
        };
        let premium = scratch.rows(rows.clone());
        let sigmas = rows.clone().map(|row| grid_sigma(row as i32 - 1));
        alo::node_tables(rr, qq, c.t, sigmas, |i, table| {
            let row = rows.start + i;
            log_boundary[row] = table.log_boundary;
            premium[row][..table.premium.len()].copy_from_slice(&table.premium);
        });
        Some(AloKernel {
            euro,
            put,
            k: c.k,
            inv_sqrt_t: 1.0 / c.t.sqrt(),
            log_boundary,
            premium,
        })
    }

    /// Price with the tabulated boundary and premium; NaN for scenarios the
    /// kernel does not cover (repriced by the caller).
    #[inline(always)]
    fn price<const FMA: bool>(&self, s: f64, sigma: f64) -> f64 {
        const LAST: f64 = (GRID_INTERVALS - 1) as f64;
        const ZI: f64 = ZETA_INTERVALS as f64;
        let covered = (SPOT_MIN..=SPOT_MAX).contains(&s)
            && (GRID_SIGMA_MIN..=GRID_SIGMA_MAX).contains(&sigma);
        let s = select(s < SPOT_MIN, SPOT_MIN, s);
        let s = select(s > SPOT_MAX, SPOT_MAX, s);
        let sigma = select(sigma > GRID_SIGMA_MIN, sigma, GRID_SIGMA_MIN);
        let sigma = select(sigma < GRID_SIGMA_MAX, sigma, GRID_SIGMA_MAX);
        let k = self.k;

        let log_moneyness = fastmath::ln::<FMA>(s * self.euro.inv_k);
        let euro = self.euro.price_lm::<FMA>(s, log_moneyness, sigma);

        // Vol: the grid interval of ln σ and the weights of its four nodes.
        let x = (fastmath::ln::<FMA>(sigma) - GRID_LN_MIN) * GRID_INV_STEP;
        let x = select(x > 0.0, x, 0.0);
        let nearest = (x + ROUND_MAGIC) - ROUND_MAGIC;
        let cell = select(nearest > x, nearest - 1.0, nearest);
        let cell = select(cell < LAST, cell, LAST);
        let wv = cubic_weights(x - cell + 1.0);
        let row = (cell + ROUND_MAGIC).to_bits() as usize & (GRID_INTERVALS - 1);
        let lb = &self.log_boundary;
        let y = wv[0] * lb[row] + wv[1] * lb[row + 1] + wv[2] * lb[row + 2] + wv[3] * lb[row + 3];

        // Distance from the boundary in the normalised put, in σ√T.
        let lx = select(self.put, log_moneyness, -log_moneyness);
        let zeta = (lx - y) * self.inv_sqrt_t / sigma;
        let zc = zeta * (1.0 / ZETA_STEP);
        let zc = select(zc > 0.0, zc, 0.0);
        let zc = select(zc < ZI, zc, ZI);
        let zn = (zc + ROUND_MAGIC) - ROUND_MAGIC;
        let zcell = select(zn > zc, zn - 1.0, zn);
        let base = zcell - 1.0;
        let base = select(base > 0.0, base, 0.0);
        let base = select(base < ZI - 3.0, base, ZI - 3.0);
        let wz = cubic_weights(zc - base);
        let col = (base + ROUND_MAGIC).to_bits() as usize & 63;
        let mut premium = 0.0;
        for (i, &w) in wv.iter().enumerate() {
            let p = &self.premium[row + i];
            premium +=
                w * (wz[0] * p[col] + wz[1] * p[col + 1] + wz[2] * p[col + 2] + wz[3] * p[col + 3]);
        }
        let scale = select(self.put, k, s);
        let premium = select(zeta >= ZETA_MAX, 0.0, premium);

        let intrinsic = select(self.put, k - s, s - k);
        let intrinsic = select(intrinsic > 0.0, intrinsic, 0.0);
        let value = select(zeta <= 0.0, intrinsic, euro + scale * premium);
        let floor = select(euro > intrinsic, euro, intrinsic);
        // NaN (a node without a table) propagates to the caller.
        let value = select(value < floor, floor, value);
        select(covered, value, f64::NAN)
    }
}

/// `ζ` beyond which the premium is 0.
const ZETA_MAX: f64 = ZETA_STEP * ZETA_INTERVALS as f64;

#[inline(always)]
fn alo_loop<const FMA: bool>(p: &AloKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    let n = out.len().min(spots.len()).min(vols.len());
    let (out, spots, vols) = (&mut out[..n], &spots[..n], &vols[..n]);
    for i in 0..n {
        out[i] = p.price::<FMA>(spots[i], vols[i]);
    }
}

fn alo_portable(p: &AloKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    alo_loop::<PORTABLE_FMA>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn alo_avx2_fma(p: &AloKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    alo_loop::<true>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn alo_avx512(p: &AloKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    alo_loop::<true>(p, spots, vols, out);
}

#[inline(always)]
fn amer_loop<const FMA: bool>(p: &AmerKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    let n = out.len().min(spots.len()).min(vols.len());
    let (out, spots, vols) = (&mut out[..n], &spots[..n], &vols[..n]);
    for i in 0..n {
        out[i] = p.price::<FMA>(spots[i], vols[i]);
    }
}

fn amer_portable(p: &AmerKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    amer_loop::<PORTABLE_FMA>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn amer_avx2_fma(p: &AmerKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    amer_loop::<true>(p, spots, vols, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn amer_avx512(p: &AmerKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
    amer_loop::<true>(p, spots, vols, out);
}

/// A compiled variant of the European kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The widest kernel this CPU runs within the `EXFEE_SIMD` cap
    /// (`exfee_simd::widest`: AVX-512 means AVX-512F, AVX2 and FMA; AVX2
    /// means AVX2 and FMA).
    pub(crate) fn detect() -> Kernel {
        match exfee_simd::widest() {
            #[cfg(target_arch = "x86_64")]
            exfee_simd::Isa::Avx512 => Kernel::Avx512,
            #[cfg(target_arch = "x86_64")]
            exfee_simd::Isa::Avx2 => Kernel::Avx2Fma,
            _ => Kernel::Portable,
        }
    }

    /// Every kernel this CPU can run (for tests and benchmarks).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Kernel> {
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if fma {
                v.push(Kernel::Avx2Fma);
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Kernel::Avx512);
            }
        }
        v
    }

    fn run(self, p: &EuroKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
        match self {
            Kernel::Portable => euro_portable(p, spots, vols, out),
            // SAFETY: `Kernel::detect`/`available` only yield these variants after
            // detecting the features the functions are compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { euro_avx2_fma(p, spots, vols, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { euro_avx512(p, spots, vols, out) },
        }
    }

    fn run_alo(self, p: &AloKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
        match self {
            Kernel::Portable => alo_portable(p, spots, vols, out),
            // SAFETY: as in `run`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { alo_avx2_fma(p, spots, vols, out) },
            // SAFETY: as in `run`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { alo_avx512(p, spots, vols, out) },
        }
    }

    fn run_american(self, p: &AmerKernel, spots: &[f64], vols: &[f64], out: &mut [f64]) {
        match self {
            Kernel::Portable => amer_portable(p, spots, vols, out),
            // SAFETY: as in `run`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { amer_avx2_fma(p, spots, vols, out) },
            // SAFETY: as in `run`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { amer_avx512(p, spots, vols, out) },
        }
    }
}

/// [`price_european_batch`] with a chosen kernel; slices have equal lengths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn european_batch_with(
    kernel: Kernel,
    right: Right,
    spots: &[f64],
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    vols: &[f64],
    out: &mut [f64],
) {
    match EuroKernel::new(right, k, t, r, b) {
        Some(p) => {
            kernel.run(&p, spots, vols, out);
            // Scenarios the kernel clamps are repriced exactly.
            for ((o, &s), &v) in out.iter_mut().zip(spots).zip(vols) {
                if !(SPOT_MIN..=SPOT_MAX).contains(&s) || v.is_nan() {
                    *o = gbs(right, s, k, t, r, b, v);
                }
            }
        }
        None => {
            for ((o, &s), &v) in out.iter_mut().zip(spots).zip(vols) {
                *o = gbs(right, s, k, t, r, b, v);
            }
        }
    }
}

/// [`price_american_batch`](crate::price_american_batch) with a chosen kernel; slices have equal lengths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn american_batch_with(
    kernel: Kernel,
    right: Right,
    spots: &[f64],
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    vols: &[f64],
    out: &mut [f64],
) {
    let contract = BawContract::new(right, k, t, r, b);
    if !contract.premium {
        // max(European, intrinsic), NaN kept.
        european_batch_with(kernel, right, spots, k, t, r, b, vols, out);
        for (o, &s) in out.iter_mut().zip(spots) {
            let intrinsic = right.intrinsic(s.max(0.0), k);
            if *o < intrinsic {
                *o = intrinsic;
            }
        }
        return;
    }
    let mut scratch = PremiumScratch::take();
    if let Some(p) = AloKernel::new(&contract, vols, &mut scratch) {
        kernel.run_alo(&p, spots, vols, out);
        for ((o, &s), &v) in out.iter_mut().zip(spots).zip(vols) {
            if o.is_nan() {
                *o = crate::alo::american_alo(right, s, k, t, r, b, v);
            }
        }
        return;
    }
    match AmerKernel::new(&contract, vols) {
        Some(p) => {
            kernel.run_american(&p, spots, vols, out);
            for ((o, &s), &v) in out.iter_mut().zip(spots).zip(vols) {
                if o.is_nan() {
                    *o = contract.price(s, v);
                }
            }
        }
        None => {
            for ((o, &s), &v) in out.iter_mut().zip(spots).zip(vols) {
                *o = contract.price(s, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price_american_batch;

    /// A grid of scenarios (spot, vol) of awkward length for one contract.
    fn scenarios(k: f64) -> (Vec<f64>, Vec<f64>) {
        let mut spots = Vec::new();
        let mut vols = Vec::new();
        let moneyness = [0.05, 0.3, 0.7, 0.9, 0.97, 1.0, 1.03, 1.1, 1.5, 3.0, 20.0];
        let sigmas = [0.0, 0.001, 0.01, 0.08, 0.2, 0.35, 0.7, 1.5, 5.0];
        for &m in &moneyness {
            for &v in &sigmas {
                spots.push(m * k);
                vols.push(v);
            }
        }
        // 99 so far; 102 is not a multiple of the 4- or 8-lane vector width.
        spots.extend([k * 1.000_001, k * 0.999_999, k]);
        vols.extend([0.25, 0.25, 1e-9]);
        (spots, vols)
    }

    /// The AVX2 (+FMA) and AVX-512 kernels give the same bits (both fuse
    /// the same multiply-adds; only the register width differs), so
    /// `EXFEE_SIMD=avx2` changes no price on an AVX-512 machine.
    #[test]
    fn the_avx2_and_avx512_kernels_give_the_same_bits() {
        let kernels: Vec<Kernel> = Kernel::available()
            .into_iter()
            .filter(|&k| k != Kernel::Portable)
            .collect();
        if kernels.len() < 2 {
            return;
        }
        let vols = american_vols();
        for right in [Right::Call, Right::Put] {
            for &k in &[0.37, 100.0, 25_000.0] {
                let (spots, _) = scenarios(k);
                let n = spots.len().min(vols.len());
                let (spots, vols) = (&spots[..n], &vols[..n]);
                for &t in &[1.0 / 365.0, 0.5, 5.0] {
                    for &(r, b) in &[(0.05, 0.02), (0.03, -0.04), (0.0, 0.0)] {
                        let run = |kernel: Kernel, american: bool| {
                            let mut out = vec![f64::NAN; n];
                            if american {
                                american_batch_with(
                                    kernel, right, spots, k, t, r, b, vols, &mut out,
                                );
                            } else {
                                european_batch_with(
                                    kernel, right, spots, k, t, r, b, vols, &mut out,
                                );
                            }
                            out.iter().map(|x| x.to_bits()).collect::<Vec<u64>>()
                        };
                        for american in [false, true] {
                            assert_eq!(
                                run(kernels[0], american),
                                run(kernels[1], american),
                                "{right:?} k={k} t={t} r={r} b={b} american={american}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every ALO kernel (portable, AVX2 + FMA, AVX-512, as the compiler
    /// vectorises `price`) gives each scenario the bits of the scalar
    /// `AloKernel::price` (NaN where it gives NaN), whatever the batch
    /// length (every length across the vector widths) and the inputs:
    /// spots and vols on and off the grid, at and beyond both ends, zero,
    /// negative, infinite and NaN.
    #[test]
    fn every_alo_kernel_gives_the_scalar_price_bit_for_bit() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut vols = american_vols();
        vols.extend([
            f64::NAN,
            f64::INFINITY,
            -0.2,
            -0.0,
            1e-300,
            f64::MIN_POSITIVE,
        ]);
        let odd_spots = [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            1e300,
            SPOT_MIN,
            SPOT_MAX,
        ];
        let n = 700;
        let mut spots = Vec::with_capacity(n);
        let mut vs = Vec::with_capacity(n);
        for i in 0..n {
            let u = uniform();
            spots.push(if i % 37 == 5 {
                odd_spots[i % odd_spots.len()]
            } else {
                100.0 * (0.02 + 3.0 * u * u)
            });
            vs.push(if i % 3 == 0 {
                vols[i % vols.len()]
            } else {
                0.004 + 1.2 * uniform()
            });
        }
        let mut checked = 0;
        for (right, k, t, r, b) in [
            (Right::Put, 100.0, 0.5, 0.05, 0.01),
            (Right::Call, 100.0, 2.0, 0.03, -0.04),
            (Right::Put, 0.37, 1.0 / 365.0, 0.02, 0.05),
            (Right::Call, 25_000.0, 5.0, 0.1, 0.0),
        ] {
            let contract = BawContract::new(right, k, t, r, b);
            let mut scratch = PremiumScratch::take();
            let Some(p) = AloKernel::new(&contract, &vs, &mut scratch) else {
                continue;
            };
            let scalar: Vec<f64> = (0..n).map(|i| p.price::<true>(spots[i], vs[i])).collect();
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            for kernel in Kernel::available() {
                for len in (0..=260).chain([383, 384, 385, 511, 512, 513, 700]) {
                    for offset in [0, 3] {
                        if offset + len > n {
                            continue;
                        }
                        let mut out = vec![0.5; len];
                        let range = offset..offset + len;
                        kernel.run_alo(&p, &spots[range.clone()], &vs[range.clone()], &mut out);
                        for (i, &o) in out.iter().enumerate() {
                            let want = scalar[offset + i];
                            assert!(
                                same(o, want),
                                "{kernel:?} {right:?} k={k} len={len} at {}: s={} v={}: {o} vs {want}",
                                offset + i,
                                spots[offset + i],
                                vs[offset + i]
                            );
                        }
                    }
                }
            }
            checked += 1;
        }
        assert_eq!(checked, 4, "every contract is in the ALO kernel's domain");
    }

    #[test]
    fn every_kernel_matches_scalar_gbs() {
        let kernels = Kernel::available();
        let mut worst: f64 = 0.0;
        for &kernel in &kernels {
            for right in [Right::Call, Right::Put] {
                for &k in &[0.37, 100.0, 25_000.0] {
                    let (spots, vols) = scenarios(k);
                    assert_ne!(spots.len() % 4, 0);
                    for &t in &[0.0, 1.0 / 365.0, 0.25, 1.0, 5.0, 30.0] {
                        for &(r, b) in &[
                            (0.0, 0.0),
                            (0.05, 0.05),
                            (0.05, 0.0),
                            (0.03, -0.02),
                            (-0.01, 0.04),
                        ] {
                            let mut out = vec![f64::NAN; spots.len()];
                            european_batch_with(kernel, right, &spots, k, t, r, b, &vols, &mut out);
                            for i in 0..spots.len() {
                                let exact = gbs(right, spots[i], k, t, r, b, vols[i]);
                                let err = (out[i] - exact).abs() / (spots[i] + k);
                                worst = worst.max(err);
                                assert!(
                                    err < 1e-13,
                                    "{kernel:?} {right:?} s={} k={k} t={t} r={r} b={b} v={}: {} vs {exact}",
                                    spots[i],
                                    vols[i],
                                    out[i]
                                );
                            }
                        }
                    }
                }
            }
        }
        eprintln!("kernels {kernels:?}: worst |batch - gbs| / (s + k) = {worst:e}");
        // The absolute spec: max error relative to spot.
        assert!(worst < 1e-6);
    }

    #[test]
    fn lengths_that_are_not_multiples_of_the_vector_width() {
        for n in [0, 1, 2, 3, 5, 7, 9, 15, 17, 31, 33, 1001] {
            let spots: Vec<f64> = (0..n).map(|i| 60.0 + i as f64 * 0.173).collect();
            let vols: Vec<f64> = (0..n).map(|i| 0.05 + (i % 13) as f64 * 0.04).collect();
            for &kernel in &Kernel::available() {
                let mut out = vec![f64::NAN; n];
                european_batch_with(
                    kernel,
                    Right::Call,
                    &spots,
                    100.0,
                    0.5,
                    0.02,
                    0.01,
                    &vols,
                    &mut out,
                );
                for i in 0..n {
                    let exact = gbs(Right::Call, spots[i], 100.0, 0.5, 0.02, 0.01, vols[i]);
                    assert!((out[i] - exact).abs() < 1e-12, "{kernel:?} n={n} i={i}");
                }
            }
        }
    }

    #[test]
    fn out_of_range_scenarios_and_contracts_fall_back_to_scalar() {
        let spots = [0.0, -5.0, 1e-200, 1e200, f64::NAN, 100.0, 100.0, 100.0];
        let vols = [0.2, 0.2, 0.2, 0.2, 0.2, f64::NAN, -1.0, f64::MAX];
        for &kernel in &Kernel::available() {
            for right in [Right::Call, Right::Put] {
                for &(k, t, r) in &[
                    (100.0, 1.0, 0.05),
                    (1e-200, 1.0, 0.05),
                    (100.0, 1.0, 500.0),
                    (100.0, -1.0, 0.0),
                ] {
                    let mut out = [0.0; 8];
                    european_batch_with(kernel, right, &spots, k, t, r, 0.0, &vols, &mut out);
                    for i in 0..8 {
                        let exact = gbs(right, spots[i], k, t, r, 0.0, vols[i]);
                        let same = (out[i].is_nan() && exact.is_nan())
                            || (out[i] - exact).abs() <= 1e-12 * (1.0 + exact.abs());
                        assert!(
                            same,
                            "{kernel:?} {right:?} k={k} t={t} r={r} i={i}: {} vs {exact}",
                            out[i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn length_mismatch_leaves_out_untouched() {
        let mut out = [7.0; 3];
        let err = price_european_batch(
            Right::Call,
            &[1.0; 3],
            1.0,
            1.0,
            0.0,
            0.0,
            &[0.2; 4],
            &mut out,
        );
        assert_eq!(
            err,
            Err(LengthMismatch {
                spots: 3,
                vols: 4,
                out: 3
            })
        );
        let err = price_american_batch(
            Right::Put,
            &[1.0; 2],
            1.0,
            1.0,
            0.0,
            0.0,
            &[0.2; 3],
            &mut out,
        );
        assert_eq!(
            err,
            Err(LengthMismatch {
                spots: 2,
                vols: 3,
                out: 3
            })
        );
        assert_eq!(out, [7.0; 3]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "batch length mismatch: 2 spots, 3 vols, 3 outputs"
        );
        assert_eq!(
            price_european_batch(Right::Call, &[], 1.0, 1.0, 0.0, 0.0, &[], &mut []),
            Ok(())
        );
    }

    /// Vols across the grid: nodes, near-nodes, mid-intervals, both ends and
    /// beyond them.
    fn american_vols() -> Vec<f64> {
        let mut vols = vec![
            0.0,
            1e-4,
            0.004_999,
            0.005,
            0.005_000_1,
            4.999_999,
            5.0,
            5.1,
            9.0,
        ];
        for j in [1, 17, 40, 63, 64, 77, 90, 101, 115, 127] {
            let node = crate::baw::grid_sigma(j);
            vols.extend([node, node * (1.0 + 1e-12), node * 1.013, node * 1.027]);
        }
        vols
    }

    #[test]
    fn american_batch_matches_scalar_alo() {
        // The kernel interpolates the boundary and premium of the ALO method
        // between vol nodes and ζ nodes; the scalar `american_alo` solves the
        // boundary at the scenario's own vol.
        let kernels = Kernel::available();
        let moneyness = [0.05, 0.5, 0.8, 0.95, 1.0, 1.04, 1.2, 2.0, 20.0];
        let vols = american_vols();
        let (mut spots_m, mut vols_all) = (Vec::new(), Vec::new());
        for &m in &moneyness {
            for &v in &vols {
                spots_m.push(m);
                vols_all.push(v);
            }
        }
        let mut worst: f64 = 0.0;
        let mut worst_case = String::new();
        for right in [Right::Call, Right::Put] {
            for &k in &[0.37, 25_000.0] {
                let spots: Vec<f64> = spots_m.iter().map(|m| m * k).collect();
                for &t in &[1.0 / 365.0, 0.5, 5.0, 30.0] {
                    for &(r, b) in &[
                        (0.1, 0.0),
                        (0.05, 0.02),
                        (0.03, -0.04),
                        (0.0, 0.03),
                        (-0.01, -0.05),
                    ] {
                        let exact: Vec<f64> = (0..spots.len())
                            .map(|i| {
                                crate::alo::american_alo(right, spots[i], k, t, r, b, vols_all[i])
                            })
                            .collect();
                        for &kernel in &kernels {
                            let mut out = vec![f64::NAN; spots.len()];
                            american_batch_with(
                                kernel, right, &spots, k, t, r, b, &vols_all, &mut out,
                            );
                            for i in 0..spots.len() {
                                let err =
                                    (out[i] - exact[i]).abs() / (2e-4 * exact[i]).max(1e-5 * k);
                                if err > worst {
                                    worst = err;
                                    worst_case = format!(
                                        "{kernel:?} {right:?} s={} k={k} t={t} r={r} b={b} v={}: {} vs {}",
                                        spots[i], vols_all[i], out[i], exact[i]
                                    );
                                }
                                assert!(err <= 1.0, "{worst_case}");
                                let euro = gbs(right, spots[i], k, t, r, b, vols_all[i]);
                                let floor = euro.max(right.intrinsic(spots[i], k));
                                assert!(out[i] >= floor - 1e-13 * (spots[i] + k));
                            }
                        }
                    }
                }
            }
        }
        eprintln!(
            "kernels {kernels:?}: worst |batch - american_alo| / max(2e-4 value, 1e-5 k) = {worst:.3} ({worst_case})"
        );
    }

    #[test]
    fn american_scenario_price_does_not_depend_on_the_batch() {
        // Pseudo-random scenarios; each price must equal, bit for bit, the
        // one-element batch (`american`) and the price in a reordered batch.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 1_003;
        let spots: Vec<f64> = (0..n).map(|_| 60.0 + 80.0 * uniform()).collect();
        let vols: Vec<f64> = (0..n)
            .map(|_| 0.003 + 0.9 * uniform() * uniform())
            .collect();
        for right in [Right::Call, Right::Put] {
            for &(t, r, b) in &[(0.5, 0.05, 0.0), (1.0, 0.08, -0.04), (2.0, 0.03, 0.03)] {
                let mut out = vec![0.0; n];
                price_american_batch(right, &spots, 100.0, t, r, b, &vols, &mut out).unwrap();
                let rev_spots: Vec<f64> = spots.iter().rev().copied().collect();
                let rev_vols: Vec<f64> = vols.iter().rev().copied().collect();
                let mut rev = vec![0.0; n];
                price_american_batch(right, &rev_spots, 100.0, t, r, b, &rev_vols, &mut rev)
                    .unwrap();
                for i in 0..n {
                    let single = crate::american(right, spots[i], 100.0, t, r, b, vols[i]);
                    assert_eq!(out[i].to_bits(), single.to_bits(), "{right:?} t={t} i={i}");
                    assert_eq!(out[i].to_bits(), rev[n - 1 - i].to_bits());
                }
                // All vols equal (a fixed stress): the whole batch, a prefix,
                // and single scenarios agree.
                let same = vec![vols[7]; n];
                let mut whole = vec![0.0; n];
                price_american_batch(right, &spots, 100.0, t, r, b, &same, &mut whole).unwrap();
                let m = n / 3;
                let mut prefix = vec![0.0; m];
                price_american_batch(right, &spots[..m], 100.0, t, r, b, &same[..m], &mut prefix)
                    .unwrap();
                for i in 0..m {
                    assert_eq!(whole[i].to_bits(), prefix[i].to_bits());
                    let single = crate::american(right, spots[i], 100.0, t, r, b, same[i]);
                    assert_eq!(whole[i].to_bits(), single.to_bits());
                }
            }
        }
    }

    #[test]
    fn a_reused_premium_table_prices_as_a_fresh_one() {
        // Each call's premium table is this thread's spare from the call
        // before: every price must equal, bit for bit, the price on a thread
        // that never priced anything, whatever the calls before wrote.
        // Contract b at low vols has nodes outside the method's domain
        // (σ√T < |r − q| T: NaN rows, scalar fallback) in rows that contract
        // a, priced first, fills.
        let spots: Vec<f64> = (0..40).map(|i| 70.0 + 1.5 * f64::from(i)).collect();
        let low: Vec<f64> = (0..40).map(|i| 0.025 + 0.004 * f64::from(i)).collect();
        let high: Vec<f64> = (0..40).map(|i| 0.3 + 0.05 * f64::from(i)).collect();
        let a = (Right::Put, 100.0, 0.25, 0.05, 0.04);
        let b = (Right::Put, 100.0, 2.0, 0.25, 0.25);
        let c = (Right::Call, 90.0, 0.5, 0.02, -0.03);
        let price = |(right, k, t, r, bb): (Right, f64, f64, f64, f64), vols: &[f64]| {
            let mut out = vec![0.0; spots.len()];
            price_american_batch(right, &spots, k, t, r, bb, vols, &mut out).unwrap();
            out.iter().map(|p| p.to_bits()).collect::<Vec<u64>>()
        };
        let calls = [
            (a, &low),
            (b, &low),
            (c, &high),
            (b, &high),
            (a, &low),
            (b, &low),
        ];
        let fresh: Vec<Vec<u64>> = calls
            .iter()
            .map(|&(contract, vols)| {
                std::thread::scope(|s| s.spawn(|| price(contract, vols)).join().unwrap())
            })
            .collect();
        let reused: Vec<Vec<u64>> = std::thread::scope(|s| {
            s.spawn(|| {
                calls
                    .iter()
                    .map(|&(contract, vols)| price(contract, vols))
                    .collect()
            })
            .join()
            .unwrap()
        });
        assert_eq!(fresh, reused);
        // b at low vols is outside the method's domain (NaN rows), a is not.
        let (_, _, t, r, bb) = b;
        assert!(
            low.iter()
                .all(|&v| crate::alo::node_table(r, r - bb, t, v).is_none())
        );
        let (_, _, t, r, bb) = a;
        assert!(
            low.iter()
                .all(|&v| crate::alo::node_table(r, r - bb, t, v).is_some())
        );
    }

    #[test]
    fn american_batch_is_total() {
        let xs = [-1.0, 0.0, 1e-300, 1e-3, 1.0, 100.0, 1e6, 1e300];
        let sig = [-1.0, 0.0, 1e-200, 1e-3, 0.005, 0.3, 5.0, 50.0, 1e300];
        let (mut spots, mut vols) = (Vec::new(), Vec::new());
        for &s in &xs {
            for &v in &sig {
                spots.push(s);
                vols.push(v);
            }
        }
        for &kernel in &Kernel::available() {
            for right in [Right::Call, Right::Put] {
                for &k in &xs {
                    for &t in &[-1.0, 0.0, 1e-7, 0.5, 50.0, 1e300] {
                        for &(r, b) in &[
                            (0.05, -0.2),
                            (1e3, -1e3),
                            (0.0, 0.0),
                            (0.3, 0.1),
                            (0.0, 0.3),
                        ] {
                            let mut out = vec![0.0; spots.len()];
                            american_batch_with(kernel, right, &spots, k, t, r, b, &vols, &mut out);
                            for i in 0..spots.len() {
                                assert!(
                                    out[i] >= 0.0,
                                    "{kernel:?} {right:?} s={} k={k} t={t} r={r} b={b} v={}: {}",
                                    spots[i],
                                    vols[i],
                                    out[i]
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut out = [0.0; 3];
        price_american_batch(
            Right::Put,
            &[f64::NAN, 100.0, 100.0],
            100.0,
            1.0,
            0.05,
            0.0,
            &[0.2, f64::NAN, 0.2],
            &mut out,
        )
        .unwrap();
        assert!(out[0].is_nan() && out[1].is_nan() && out[2] > 0.0);
    }

    /// Throughput check, single-threaded, 16,384 scenarios of one contract:
    /// `cargo test --release -p exfee-pricing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_batch_kernels() {
        use std::time::Instant;
        let n = 16_384;
        // Engine-like scenarios: spot 100 moved by up to +-30 %, vol 0.25 by up to +-40 %.
        let mut state: u64 = 12_345;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let spots: Vec<f64> = (0..n).map(|_| 100.0 * (0.7 + 0.6 * uniform())).collect();
        let vols: Vec<f64> = (0..n).map(|_| 0.25 * (0.6 + 0.8 * uniform())).collect();
        let mut out = vec![0.0; n];
        // Best of `reps` timings of `f` over the batch, in M evaluations/s.
        let mut rate = |f: &mut dyn FnMut(&mut [f64])| {
            let mut best = f64::INFINITY;
            for _ in 0..30 {
                let start = Instant::now();
                f(&mut out);
                std::hint::black_box(&mut out);
                best = best.min(start.elapsed().as_secs_f64());
            }
            n as f64 / best / 1e6
        };
        let (k, t, r, b) = (100.0, 0.5, 0.05, 0.01);
        for &kernel in &Kernel::available() {
            let euro = rate(&mut |o| {
                european_batch_with(kernel, Right::Put, &spots, k, t, r, b, &vols, o)
            });
            let amer = rate(&mut |o| {
                american_batch_with(kernel, Right::Put, &spots, k, t, r, b, &vols, o)
            });
            let fixed = vec![0.3; n];
            let amer_fixed = rate(&mut |o| {
                american_batch_with(kernel, Right::Put, &spots, k, t, r, b, &fixed, o)
            });
            let call = rate(&mut |o| {
                american_batch_with(kernel, Right::Call, &spots, k, t, r, -0.03, &vols, o)
            });
            eprintln!(
                "{kernel:?}: European {euro:.1} M/s, American put {amer:.1} M/s \
                 (one vol: {amer_fixed:.1} M/s), American call b<r {call:.1} M/s"
            );
        }
        // Smaller batches pay the per-call boundary table (about 20 nodes here).
        for len in [64, 256, 1_024, 4_096] {
            let kernel = Kernel::detect();
            let start = Instant::now();
            let mut done = 0;
            while done < n {
                let (s, v) = (&spots[done..done + len], &vols[done..done + len]);
                american_batch_with(kernel, Right::Put, s, k, t, r, b, v, &mut out[..len]);
                std::hint::black_box(&mut out);
                done += len;
            }
            let rate = n as f64 / start.elapsed().as_secs_f64() / 1e6;
            eprintln!("{kernel:?}: American put in batches of {len}: {rate:.1} M/s");
        }
        let m = 2_000;
        let start = Instant::now();
        for i in 0..m {
            std::hint::black_box(gbs(Right::Put, spots[i], k, t, r, b, vols[i]));
        }
        let gbs_rate = m as f64 / start.elapsed().as_secs_f64() / 1e6;
        let start = Instant::now();
        for i in 0..m {
            std::hint::black_box(crate::baw::american_baw(
                Right::Put,
                spots[i],
                k,
                t,
                r,
                b,
                vols[i],
            ));
        }
        let baw_rate = m as f64 / start.elapsed().as_secs_f64() / 1e6;
        let start = Instant::now();
        for i in 0..m {
            std::hint::black_box(crate::bs2002::american_bs2002(
                Right::Put,
                spots[i],
                k,
                t,
                r,
                b,
                vols[i],
            ));
        }
        let bs_rate = m as f64 / start.elapsed().as_secs_f64() / 1e6;
        let start = Instant::now();
        for i in 0..m {
            std::hint::black_box(crate::american(Right::Put, spots[i], k, t, r, b, vols[i]));
        }
        let one_rate = m as f64 / start.elapsed().as_secs_f64() / 1e6;
        eprintln!(
            "scalar: gbs {gbs_rate:.2} M/s, american_baw {baw_rate:.3} M/s, \
             american_bs2002 {bs_rate:.3} M/s, american (1-element batch) {one_rate:.3} M/s"
        );
    }
}
