//! The worst-loss loops of the adjustments' re-checks, compiled for the
//! widest instruction set the CPU has ([`exfee_simd::widest`]): AVX-512F,
//! AVX2 or the baseline, chosen at run time. Every build gives the same
//! bits (a maximum does not depend on the order it is taken in, and each
//! scenario's sum is formed in the same order by all of them).
//!
//! This is the only module of the crate with `unsafe` code: calling a
//! `#[target_feature]` function, which is sound once the CPU is known to
//! have the feature.

use exfee_engine::Moving;
use exfee_model::total_order_key;
use exfee_simd::Isa;

/// [`f64::total_cmp`]'s order as integers: `order_key(a) < order_key(b)`
/// exactly when `a.total_cmp(&b)` is `Less` ([`total_order_key`] of its bits).
pub(crate) fn order_key(value: f64) -> i64 {
    total_order_key(value.to_bits().cast_signed())
}

/// The scenarios a worst-loss scan reads: the first `prefix` of them in
/// place (in vector lanes), then each of `extra` (ascending, each at least
/// `prefix`). A scan of an account's vectors can skip the scenarios where
/// every vector it reads holds the same value as in one it keeps: the
/// largest loss, the least and the sign rules of a zero maximum depend on
/// the values that occur, not on how often, so they come out bit for bit
/// as from every scenario ([`Scan::still`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Scan {
    prefix: usize,
    extra: Vec<usize>,
    /// The one of `extra` that stands for the scenarios skipped.
    still: Option<usize>,
}

impl Scan {
    /// Every scenario.
    pub(super) fn all() -> Self {
        Scan {
            prefix: usize::MAX,
            extra: Vec::new(),
            still: None,
        }
    }

    /// The scenarios of a set of `len` that decide a worst loss formed
    /// from vectors that are still where each of `moving` says its
    /// holdings are ([`Moving`]): every scenario where one of them may
    /// move, and the first of those where none does (in all of which
    /// every such vector holds one value).
    pub(super) fn still(moving: &[&Moving], len: usize) -> Self {
        Scan::still_keeping(moving, len, 1)
    }

    /// [`Scan::still`] keeping the first `keep` (at least one) of the
    /// scenarios where nothing moves: those that can be among the `keep`
    /// worst of a still run when a tie goes to the lower index.
    pub(super) fn still_keeping(moving: &[&Moving], len: usize, keep: usize) -> Self {
        let prefix = moving.iter().map(|m| m.dense_end).max().unwrap_or(len);
        if prefix >= len {
            return Scan::all();
        }
        let mut extra: Vec<usize> = moving
            .iter()
            .flat_map(|m| m.sparse.iter().copied())
            .filter(|&s| prefix <= s && s < len)
            .collect();
        extra.sort_unstable();
        extra.dedup();
        // The first `keep` scenarios from `prefix` on that no vector moves in.
        let mut stills = Vec::with_capacity(keep.max(1));
        let mut listed = extra.iter().peekable();
        let mut s = prefix;
        while stills.len() < keep.max(1) && s < len {
            if listed.next_if_eq(&&s).is_none() {
                stills.push(s);
            }
            s += 1;
        }
        let still = stills.first().copied();
        extra.extend(stills);
        extra.sort_unstable();
        Scan {
            prefix,
            extra,
            still,
        }
    }

    /// Whether `values` holds one value, bit for bit, in every scenario
    /// the scan skips (from the prefix on, not among the extra ones): then
    /// a loss formed from it loses nothing to the scan.
    pub(super) fn is_still(&self, values: &[f64]) -> bool {
        let Some(want) = self.still.and_then(|s| values.get(s)) else {
            // nothing skipped below `values.len()`
            return true;
        };
        let want = want.to_bits();
        // (no early exit: a branch-free pass the compiler puts in lanes)
        let same = |run: &[f64]| {
            run.iter()
                .fold(true, |same, v| same & (v.to_bits() == want))
        };
        // the runs between the extra scenarios, each compared whole
        let mut from = self.prefix.min(values.len());
        for &s in &self.extra {
            let to = s.min(values.len());
            if !same(&values[from.min(to)..to]) {
                return false;
            }
            from = s.saturating_add(1);
        }
        same(values.get(from..).unwrap_or(&[]))
    }

    /// How many of `len` scenarios the scan reads.
    #[cfg(test)]
    pub(super) fn reads(&self, len: usize) -> usize {
        let (prefix, extra) = self.within(len);
        prefix + extra.len()
    }

    /// The scenarios read of vectors of `len`: the prefix's length and the
    /// extra scenarios below `len`.
    pub(super) fn within(&self, len: usize) -> (usize, &[usize]) {
        let prefix = self.prefix.min(len);
        let end = self.extra.partition_point(|&s| s < len);
        (prefix, &self.extra[..end])
    }
}

/// The largest of `loss(a[s], b[s])` over `s` (the shorter slice's length)
/// under [`f64::total_cmp`] — the value `max_by(f64::total_cmp)` of those
/// losses gives, which is what the worst scenario measure takes — NaN when
/// empty.
///
/// The numeric maximum first, in independent lanes of plain comparisons
/// (packed `max` instructions), with a lane sum of `loss × 0` that turns
/// NaN if any loss is NaN or infinite. When it stays finite and the
/// maximum is not zero, that maximum is the total-order one bit for bit:
/// without NaN the two orders differ only between −0 and +0, and a nonzero
/// number has one representation. Otherwise (a zero maximum, a NaN or an
/// infinity) the losses are ranked again by their total-order keys.
///
/// Only the scenarios of `scan` are read.
pub(super) fn largest_loss(
    scan: &Scan,
    a: &[f64],
    b: &[f64],
    loss: impl Fn(f64, f64) -> f64,
) -> f64 {
    largest_loss_on(exfee_simd::widest(), scan, a, b, loss)
}

/// [`largest_loss`] with the loops built for `isa` (narrowed to what this
/// CPU has): the tests compare the builds.
fn largest_loss_on(
    isa: Isa,
    scan: &Scan,
    a: &[f64],
    b: &[f64],
    loss: impl Fn(f64, f64) -> f64,
) -> f64 {
    let (len, extra) = scan.within(a.len().min(b.len()));
    if len == 0 && extra.is_empty() {
        return f64::NAN;
    }
    let (head_a, head_b) = (&a[..len], &b[..len]);
    let (mut best, mut poisoned) = match isa {
        _ if len == 0 => (f64::NEG_INFINITY, 0.0),
        // SAFETY: `on_cpu` has just checked that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if Isa::Avx512.on_cpu() => unsafe { max_avx512(head_a, head_b, &loss) },
        // SAFETY: `on_cpu` has just checked that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 if Isa::Avx2.on_cpu() => unsafe { max_avx2(head_a, head_b, &loss) },
        _ => max_lanes::<8>(head_a, head_b, &loss),
    };
    for &s in extra {
        let value = loss(a[s], b[s]);
        best = if value > best { value } else { best };
        poisoned += value * 0.0;
    }
    if poisoned == 0.0 && best != 0.0 {
        return best;
    }
    let key = |x: f64, y: f64| total_order_key(loss(x, y).to_bits().cast_signed());
    let head = head_a.iter().zip(head_b).map(|(&x, &y)| key(x, y)).max();
    let tail = extra.iter().map(|&s| key(a[s], b[s])).max();
    head.max(tail).map_or(f64::NAN, |k| {
        f64::from_bits(total_order_key(k).cast_unsigned())
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_avx2(a: &[f64], b: &[f64], loss: &impl Fn(f64, f64) -> f64) -> (f64, f64) {
    max_lanes::<16>(a, b, loss)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn max_avx512(a: &[f64], b: &[f64], loss: &impl Fn(f64, f64) -> f64) -> (f64, f64) {
    max_lanes::<32>(a, b, loss)
}

/// (numeric maximum of `loss(a[s], b[s])`, sum of `loss × 0`) in `W`
/// independent lanes; `a` and `b` of one length.
#[inline(always)]
fn max_lanes<const W: usize>(a: &[f64], b: &[f64], loss: &impl Fn(f64, f64) -> f64) -> (f64, f64) {
    let mut lanes = [f64::NEG_INFINITY; W];
    let mut poison = [0.0_f64; W];
    let mut xs = a.chunks_exact(W);
    let mut ys = b.chunks_exact(W);
    for (x, y) in (&mut xs).zip(&mut ys) {
        for j in 0..W {
            let value = loss(x[j], y[j]);
            lanes[j] = if value > lanes[j] { value } else { lanes[j] };
            poison[j] += value * 0.0;
        }
    }
    let mut best = f64::NEG_INFINITY;
    let mut poisoned = 0.0;
    for (&x, &y) in xs.remainder().iter().zip(ys.remainder()) {
        let value = loss(x, y);
        best = if value > best { value } else { best };
        poisoned += value * 0.0;
    }
    for j in 0..W {
        best = if lanes[j] > best { lanes[j] } else { best };
        poisoned += poison[j];
    }
    (best, poisoned)
}

/// The largest of `loss(a[s], b[s], c[s])` over `s` (the shortest slice's
/// length), a scenario that holds it and the least loss, when every loss is
/// finite: then the largest is [`largest_loss`]'s value bit for bit unless
/// it is zero (a nonzero number has one representation; a zero maximum may
/// be `+0` or `−0` in total order, which the caller takes from the keyed
/// path). `None` when there is no scenario, or a loss is NaN or infinite.
///
/// The adjustments' bounded searches learn a witness and the range of each
/// trial they price in full (see `adjustments::Envelope`).
///
/// Only the scenarios of `scan` are read.
pub(super) fn largest_loss_where(
    scan: &Scan,
    a: &[f64],
    b: &[f64],
    c: &[f64],
    loss: impl Fn(f64, f64, f64) -> f64,
) -> Option<(f64, usize, f64)> {
    largest_loss_where_on(exfee_simd::widest(), scan, a, b, c, loss)
}

fn largest_loss_where_on(
    isa: Isa,
    scan: &Scan,
    a: &[f64],
    b: &[f64],
    c: &[f64],
    loss: impl Fn(f64, f64, f64) -> f64,
) -> Option<(f64, usize, f64)> {
    let (len, extra) = scan.within(a.len().min(b.len()).min(c.len()));
    if len == 0 && extra.is_empty() {
        return None;
    }
    let (ha, hb, hc) = (&a[..len], &b[..len], &c[..len]);
    let (mut best, mut at, mut least, mut poisoned) = match isa {
        _ if len == 0 => (f64::NEG_INFINITY, 0, f64::INFINITY, 0.0),
        // SAFETY: `on_cpu` has just checked that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if Isa::Avx512.on_cpu() => unsafe { where_avx512(ha, hb, hc, &loss) },
        // SAFETY: `on_cpu` has just checked that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 if Isa::Avx2.on_cpu() => unsafe { where_avx2(ha, hb, hc, &loss) },
        _ => where_lanes::<8>(ha, hb, hc, &loss),
    };
    for &s in extra {
        let value = loss(a[s], b[s], c[s]);
        if value > best {
            (best, at) = (value, s);
        }
        least = if value < least { value } else { least };
        poisoned += value * 0.0;
    }
    (poisoned == 0.0).then_some((best, at, least))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn where_avx2(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    loss: &impl Fn(f64, f64, f64) -> f64,
) -> (f64, usize, f64, f64) {
    where_lanes::<16>(a, b, c, loss)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn where_avx512(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    loss: &impl Fn(f64, f64, f64) -> f64,
) -> (f64, usize, f64, f64) {
    where_lanes::<32>(a, b, c, loss)
}

/// (numeric maximum, a scenario holding it, numeric minimum, sum of
/// `loss × 0`) in `W` independent lanes, each lane keeping the block where
/// its maximum was last raised; `a`, `b` and `c` of one nonzero length.
#[inline(always)]
// The block number is kept as a `u64` counter, the lanes' element type.
#[allow(clippy::explicit_counter_loop)]
fn where_lanes<const W: usize>(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    loss: &impl Fn(f64, f64, f64) -> f64,
) -> (f64, usize, f64, f64) {
    let mut lanes = [f64::NEG_INFINITY; W];
    let mut lows = [f64::INFINITY; W];
    let mut blocks = [0_u64; W];
    let mut poison = [0.0_f64; W];
    let mut xs = a.chunks_exact(W);
    let mut ys = b.chunks_exact(W);
    let mut zs = c.chunks_exact(W);
    let mut block = 0_u64;
    for ((x, y), z) in (&mut xs).zip(&mut ys).zip(&mut zs) {
        for j in 0..W {
            let value = loss(x[j], y[j], z[j]);
            let raise = value > lanes[j];
            lanes[j] = if raise { value } else { lanes[j] };
            blocks[j] = if raise { block } else { blocks[j] };
            lows[j] = if value < lows[j] { value } else { lows[j] };
            poison[j] += value * 0.0;
        }
        block += 1;
    }
    let full = a.len() - xs.remainder().len();
    let mut best = f64::NEG_INFINITY;
    let mut least = f64::INFINITY;
    let mut at = 0_usize;
    let mut poisoned = 0.0;
    for (offset, ((&x, &y), &z)) in xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .zip(zs.remainder())
        .enumerate()
    {
        let value = loss(x, y, z);
        if value > best {
            (best, at) = (value, full + offset);
        }
        least = if value < least { value } else { least };
        poisoned += value * 0.0;
    }
    for j in 0..W {
        if lanes[j] > best {
            let lane_block = usize::try_from(blocks[j]).unwrap_or(usize::MAX);
            (best, at) = (lanes[j], lane_block.saturating_mul(W).saturating_add(j));
        }
        least = if lows[j] < least { lows[j] } else { least };
        poisoned += poison[j];
    }
    (best, at, least, poisoned)
}

/// Scenarios summed at a time by [`largest_negated_sum`] (a block of sums
/// stays in the first-level cache while every term is added to it).
const BLOCK: usize = 256;

/// The largest loss of the portfolio whose P&L in scenario `s` is
/// `Σ weight × row[s]` over `terms`, summed in the order of `terms` from
/// `0.0` (`((0 + w₁·r₁[s]) + w₂·r₂[s]) + …`, every product and sum rounded),
/// the loss being its negation: [`largest_loss`] of those losses over
/// scenarios `0..len`, bit for bit, without a vector of every scenario's
/// P&L. `None` when a row is shorter than `len`, or when the maximum is
/// zero or a loss is NaN or infinite (then the caller ranks the losses by
/// their total-order keys). Only the scenarios of `scan` are read.
pub(super) fn largest_negated_sum(scan: &Scan, len: usize, terms: &[(f64, &[f64])]) -> Option<f64> {
    largest_negated_sum_on(exfee_simd::widest(), scan, len, terms)
}

fn largest_negated_sum_on(
    isa: Isa,
    scan: &Scan,
    len: usize,
    terms: &[(f64, &[f64])],
) -> Option<f64> {
    if len == 0 || terms.iter().any(|(_, row)| row.len() < len) {
        return None;
    }
    let (head, extra) = scan.within(len);
    let (mut best, mut poisoned) = match isa {
        _ if head == 0 => (f64::NEG_INFINITY, 0.0),
        // SAFETY: `on_cpu` has just checked that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if Isa::Avx512.on_cpu() => unsafe { sum_max_avx512(head, terms) },
        // SAFETY: `on_cpu` has just checked that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 if Isa::Avx2.on_cpu() => unsafe { sum_max_avx2(head, terms) },
        _ => sum_max::<8>(head, terms),
    };
    for &s in extra {
        // summed in the order of `terms` from 0.0, as the blocks sum
        let sum = terms
            .iter()
            .fold(0.0, |sum, &(weight, row)| sum + weight * row[s]);
        let value = -sum;
        best = if value > best { value } else { best };
        poisoned += value * 0.0;
    }
    (poisoned == 0.0 && best != 0.0).then_some(best)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_max_avx2(len: usize, terms: &[(f64, &[f64])]) -> (f64, f64) {
    sum_max::<16>(len, terms)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum_max_avx512(len: usize, terms: &[(f64, &[f64])]) -> (f64, f64) {
    sum_max::<32>(len, terms)
}

/// (numeric maximum of the negated sums, sum of `loss × 0`) over `0..len`,
/// a block of [`BLOCK`] scenarios at a time, the maximum in `W` lanes.
#[inline(always)]
fn sum_max<const W: usize>(len: usize, terms: &[(f64, &[f64])]) -> (f64, f64) {
    let mut sums = [0.0_f64; BLOCK];
    let mut lanes = [f64::NEG_INFINITY; W];
    let mut poison = [0.0_f64; W];
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let sums = &mut sums[..end - start];
        sums.fill(0.0);
        for &(weight, row) in terms {
            for (sum, &value) in sums.iter_mut().zip(&row[start..end]) {
                *sum += weight * value;
            }
        }
        let mut chunks = sums.chunks_exact(W);
        for chunk in &mut chunks {
            for j in 0..W {
                let value = -chunk[j];
                lanes[j] = if value > lanes[j] { value } else { lanes[j] };
                poison[j] += value * 0.0;
            }
        }
        for (j, &sum) in chunks.remainder().iter().enumerate() {
            let value = -sum;
            lanes[j] = if value > lanes[j] { value } else { lanes[j] };
            poison[j] += value * 0.0;
        }
        start = end;
    }
    let mut best = f64::NEG_INFINITY;
    let mut poisoned = 0.0;
    for j in 0..W {
        best = if lanes[j] > best { lanes[j] } else { best };
        poisoned += poison[j];
    }
    (best, poisoned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISAS: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// `(s × step mod modulo) + offset` for each scenario `s < len`: the
    /// lanes tests' deterministic, unsorted values.
    fn sawtooth(len: usize, step: usize, modulo: usize, offset: f64) -> Vec<f64> {
        (0..len)
            .map(|s| f64::from(u32::try_from(s * step % modulo).unwrap()) + offset)
            .collect()
    }

    fn neg_nan() -> f64 {
        f64::from_bits(f64::NAN.to_bits() | (1 << 63))
    }

    #[test]
    fn the_largest_loss_is_total_cmps_maximum_bit_for_bit() {
        let all = Scan::all();
        // Oracle: the losses formed one by one, then `max_by(total_cmp)`;
        // for every length around the lanes of every build, the largest at
        // every place, with signed zeros, infinities, subnormals and NaNs of
        // both signs (total_cmp ranks +NaN above +inf and -NaN below -inf).
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            neg_nan(),
            f64::MIN_POSITIVE / 4.0,
            -f64::MIN_POSITIVE / 4.0,
            1e300,
            -1e300,
        ];
        let loss = |t: f64, p: f64| -(t - 0.37 * p);
        for len in (0..40).chain([63, 64, 65, 97]) {
            for special in 0..=specials.len() {
                for at in 0..len.max(1) {
                    let total: Vec<f64> = sawtooth(len, 7919, 23, -11.5);
                    let mut pnl: Vec<f64> = sawtooth(len, 104_729, 31, -15.25);
                    if let (Some(&x), Some(p)) = (specials.get(special), pnl.get_mut(at)) {
                        *p = x;
                    }
                    let want = total
                        .iter()
                        .zip(&pnl)
                        .map(|(&t, &p)| loss(t, p))
                        .max_by(f64::total_cmp)
                        .unwrap_or(f64::NAN);
                    for isa in ISAS {
                        let got = largest_loss_on(isa, &all, &total, &pnl, loss);
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{isa:?} len {len} special {special} at {at}"
                        );
                    }
                }
            }
        }
        for isa in ISAS {
            // the shorter slice decides the length
            assert_eq!(
                largest_loss_on(isa, &all, &[1.0, -5.0], &[0.0], |t, _| -t),
                -1.0
            );
            // a largest loss of zero: +0 above -0, whatever their order; -0
            // when it is the only zero; all -inf
            let same = |x: f64, _: f64| x;
            let zeros = [-0.0, -1.0, 0.0, -2.0, -0.0, -3.0, -4.0, -5.0, -6.0];
            assert_eq!(
                largest_loss_on(isa, &all, &zeros, &zeros, same).to_bits(),
                0.0_f64.to_bits()
            );
            let negative_zero = [-1.0, -0.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0];
            let got = largest_loss_on(isa, &all, &negative_zero, &negative_zero, same);
            assert_eq!(got.to_bits(), (-0.0_f64).to_bits());
            let all_minus_inf = [f64::NEG_INFINITY; 41];
            assert_eq!(
                largest_loss_on(isa, &all, &all_minus_inf, &all_minus_inf, same),
                f64::NEG_INFINITY
            );
        }
    }

    #[test]
    fn the_largest_loss_where_is_total_cmps_maximum_and_holds_it() {
        let all = Scan::all();
        // Oracle: the losses formed one by one, `max_by(total_cmp)`; the
        // fast path answers exactly when every loss is finite and the
        // maximum is not zero, with a scenario whose loss is that maximum.
        // Lengths around every build's lanes, the maximum at every place,
        // ties of the maximum, specials.
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            neg_nan(),
            f64::MIN_POSITIVE / 4.0,
            1e300,
            -1e300,
        ];
        let loss = |t: f64, u: f64, m: f64| -(t - 0.37 * (3.0 * (u - m)));
        for len in (0..40).chain([63, 64, 65, 97]) {
            for special in 0..=specials.len() + 1 {
                for at in 0..len.max(1) {
                    let mut total: Vec<f64> = sawtooth(len, 7919, 23, -11.5);
                    let mut unit: Vec<f64> = sawtooth(len, 104_729, 31, -15.25);
                    let mut kept: Vec<f64> = (0..len)
                        .map(|s| f64::from(u32::try_from(s % 3).unwrap()) * 0.5)
                        .collect();
                    if let (Some(&x), Some(u)) = (specials.get(special), unit.get_mut(at)) {
                        *u = x;
                    }
                    if special == specials.len() && len > 0 {
                        // an exact tie of the largest loss at `at` and at
                        // the end
                        unit[len - 1] = 1e6;
                        unit[at] = 1e6;
                        total[at] = total[len - 1];
                        kept[at] = kept[len - 1];
                    }
                    let losses: Vec<f64> =
                        (0..len).map(|s| loss(total[s], unit[s], kept[s])).collect();
                    let finite = losses.iter().all(|l| l.is_finite());
                    let want = losses
                        .iter()
                        .copied()
                        .max_by(f64::total_cmp)
                        .filter(|_| finite);
                    let least = losses.iter().copied().min_by(f64::total_cmp);
                    for isa in ISAS {
                        let got = largest_loss_where_on(isa, &all, &total, &unit, &kept, loss);
                        let what = format!("{isa:?} len {len} special {special} at {at}");
                        assert_eq!(got.is_some(), want.is_some(), "{what}");
                        let (Some((best, s, low)), Some(want), Some(least)) = (got, want, least)
                        else {
                            continue;
                        };
                        // the same number (bit for bit unless zero), held by s
                        assert_eq!(best, want, "{what}");
                        if want != 0.0 {
                            assert_eq!(best.to_bits(), want.to_bits(), "{what}");
                        }
                        assert_eq!(losses[s], best, "{what}");
                        assert_eq!(low, least, "{what}");
                    }
                }
            }
        }
        for isa in ISAS {
            // the shortest slice decides the length; no scenario: none
            let got =
                largest_loss_where_on(isa, &all, &[1.0, -5.0], &[0.0], &[0.0, 0.0], |t, _, _| -t);
            assert_eq!(got, Some((-1.0, 0, -1.0)));
            assert_eq!(
                largest_loss_where_on(isa, &all, &[], &[], &[], |t, _, _| t),
                None
            );
        }
    }

    #[test]
    fn the_blocked_sums_give_the_worst_loss_of_the_summed_portfolio() {
        let all = Scan::all();
        // Oracle: the portfolio summed scenario by scenario in term order
        // into a vector, then `max_by(total_cmp)` of its negation. Lengths
        // around the block and the lanes; weights that make the sums round
        // differently if the order changed (1e16 + 1 − 1e16).
        for len in [1, 7, 8, 31, 33, 255, 256, 257, 600, 1031] {
            let rows: Vec<Vec<f64>> = (0..4_u32)
                .map(|h| {
                    (0..len)
                        .map(|s| {
                            let s = f64::from(u32::try_from(s).unwrap());
                            ((s * f64::from(h + 3)).sin() * 1000.0).round() / 8.0 + 0.1
                        })
                        .collect()
                })
                .collect();
            let weights = [1e16, 3.0, -1e16, 0.7];
            let terms: Vec<(f64, &[f64])> = weights
                .iter()
                .zip(&rows)
                .map(|(&w, r)| (w, r.as_slice()))
                .collect();
            let mut portfolio = vec![0.0_f64; len];
            for (w, row) in &terms {
                for (p, &v) in portfolio.iter_mut().zip(row.iter()) {
                    *p += w * v;
                }
            }
            let want = portfolio.iter().map(|p| -p).max_by(f64::total_cmp).unwrap();
            for isa in ISAS {
                let got = largest_negated_sum_on(isa, &all, len, &terms);
                assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{isa:?} {len}");
            }
        }
        for isa in ISAS {
            // a NaN, an infinity or a zero maximum: left to the caller
            let row = [1.0, -2.0, f64::NAN, 4.0];
            assert_eq!(largest_negated_sum_on(isa, &all, 4, &[(1.0, &row)]), None);
            let row = [1.0, f64::NEG_INFINITY, 3.0];
            assert_eq!(largest_negated_sum_on(isa, &all, 3, &[(1.0, &row)]), None);
            let row = [0.0, 2.0, 3.0];
            assert_eq!(largest_negated_sum_on(isa, &all, 3, &[(1.0, &row)]), None);
            // a row shorter than the portfolio, or no scenario
            assert_eq!(largest_negated_sum_on(isa, &all, 4, &[(1.0, &row)]), None);
            assert_eq!(largest_negated_sum_on(isa, &all, 0, &[]), None);
            // no term: every sum is 0, a zero maximum
            assert_eq!(largest_negated_sum_on(isa, &all, 3, &[]), None);
            // a plain case by hand: P&L 1 − 2·[3, −1, 0.5] = [−5, 3, 0]: the
            // worst loss is 5
            let (a, b) = ([1.0, 1.0, 1.0], [3.0, -1.0, 0.5]);
            assert_eq!(
                largest_negated_sum_on(isa, &all, 3, &[(1.0, &a), (-2.0, &b)]),
                Some(5.0)
            );
        }
    }

    #[test]
    fn the_still_scan_reads_the_moving_scenarios_and_the_first_still_one() {
        // By hand: 12 scenarios, the first 5 dense.
        let moving = |sparse: &[usize]| Moving {
            dense_end: 5,
            sparse: sparse.to_vec(),
        };
        let scan = |m: &[&Moving]| {
            let s = Scan::still(m, 12);
            (s.prefix, s.extra, s.still)
        };
        assert_eq!(scan(&[&moving(&[6, 8])]), (5, vec![5, 6, 8], Some(5)));
        assert_eq!(scan(&[&moving(&[5, 6, 8])]), (5, vec![5, 6, 7, 8], Some(7)));
        let every: Vec<usize> = (5..12).collect();
        assert_eq!(scan(&[&moving(&every)]), (5, every.clone(), None));
        // two holdings' (or a hedge's) scenarios together; one beyond the set
        assert_eq!(
            scan(&[&moving(&[6, 8]), &moving(&[5, 9, 30])]),
            (5, vec![5, 6, 7, 8, 9], Some(7))
        );
        // nothing past the dense scenarios, or no word at all: every scenario
        let dense = Moving::everywhere(12);
        assert_eq!(Scan::still(&[&dense], 12), Scan::all());
        assert_eq!(Scan::still(&[], 12), Scan::all());
        // what it skips must hold one value
        let s = Scan::still(&[&moving(&[6, 8])], 12);
        let mut values = [1.0, 2.0, 3.0, 4.0, 5.0, 0.5, 9.0, 0.5, -9.0, 0.5, 0.5, 0.5];
        assert!(s.is_still(&values));
        values[11] = -0.5;
        assert!(!s.is_still(&values));
        assert!(Scan::all().is_still(&values));
        // two zeros are not one value
        let zeros = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -0.0, 1.0, 0.0, 0.0, 0.0];
        assert!(!s.is_still(&zeros));
    }

    #[test]
    fn a_still_scan_gives_the_figures_of_every_scenario() {
        // Oracle: the same functions over every scenario (`Scan::all`,
        // checked against the plain loops above). Vectors of a set of
        // `dense` scenarios and then single-stock ones: in the scenarios the
        // account does not move in every vector holds one value; the moving
        // ones hold anything. Specials in the still values and in a moving
        // scenario (zeros of both signs, NaNs, infinities), and maxima
        // shared by the dense part, a moving scenario and the still ones.
        let specials = [
            None,
            Some(0.0),
            Some(-0.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(1e6),
            Some(-11.5),
        ];
        let loss = |t: f64, u: f64, m: f64| -(t - 0.37 * (3.0 * (u - m)));
        let pair = |t: f64, u: f64| -(t - 0.37 * u);
        let mut compared = 0;
        for (dense, len) in [(0, 5), (3, 40), (37, 100), (64, 134), (5, 5)] {
            for pattern in 0..4 {
                let sparse: Vec<usize> = (dense..len)
                    .filter(|s| pattern > 0 && (s * 7 + pattern) % 5 == 0)
                    .collect();
                let moving = Moving {
                    dense_end: dense,
                    sparse: sparse.clone(),
                };
                let scan = Scan::still(&[&moving], len);
                let all = Scan::all();
                for still in specials {
                    for special in specials {
                        let vector = |step: usize, modulo: usize, offset: f64, still: f64| {
                            let mut v = sawtooth(len, step, modulo, offset);
                            for (s, x) in v.iter_mut().enumerate().skip(dense) {
                                if sparse.binary_search(&s).is_err() {
                                    *x = still;
                                }
                            }
                            v
                        };
                        let s0 = still.unwrap_or(-2.5);
                        let total = vector(7919, 23, -11.5, s0);
                        let mut unit = vector(104_729, 31, -15.25, -s0);
                        let kept = vector(3, 3, 0.5, 0.5);
                        if let (Some(x), Some(&at)) = (special, sparse.first()) {
                            unit[at] = x;
                        }
                        for v in [&total, &unit, &kept] {
                            assert!(scan.is_still(v));
                        }
                        let what = format!(
                            "dense {dense} len {len} pattern {pattern} still {still:?} special {special:?}"
                        );
                        for isa in ISAS {
                            let want = largest_loss_on(isa, &all, &total, &unit, pair);
                            let got = largest_loss_on(isa, &scan, &total, &unit, pair);
                            assert_eq!(got.to_bits(), want.to_bits(), "{isa:?} {what}");
                            let want = largest_loss_where_on(isa, &all, &total, &unit, &kept, loss);
                            let got = largest_loss_where_on(isa, &scan, &total, &unit, &kept, loss);
                            assert_eq!(got.is_some(), want.is_some(), "{isa:?} {what}");
                            if let (Some((best, at, least)), Some((b, _, l))) = (got, want) {
                                assert_eq!(best.to_bits(), b.to_bits(), "{isa:?} {what}");
                                assert_eq!(
                                    loss(total[at], unit[at], kept[at]).to_bits(),
                                    best.to_bits(),
                                    "{isa:?} {what}"
                                );
                                assert_eq!(least, l, "{isa:?} {what}");
                            }
                            let terms: [(f64, &[f64]); 3] =
                                [(1.0, &total), (-0.37, &unit), (1e16, &kept)];
                            let want = largest_negated_sum_on(isa, &all, len, &terms);
                            let got = largest_negated_sum_on(isa, &scan, len, &terms);
                            assert_eq!(
                                got.map(f64::to_bits),
                                want.map(f64::to_bits),
                                "{isa:?} {what}"
                            );
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }
}
