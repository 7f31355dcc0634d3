use crate::error::AdjustError;
use crate::measure::{Measure, check_finite, mean_of_largest};

/// A quantity of one hedge instrument to add to the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Hedge {
    /// Units of the hedge instrument to trade: positive to buy, negative to
    /// sell. The exact answer (not a whole number).
    pub units: f64,
    /// The account's measure before the hedge.
    pub measure_before: f64,
    /// The measure with `units` added.
    pub measure_after: f64,
    /// A whole number of units (an integral `f64`): for [`hedge`], the
    /// smallest in absolute value that still meets the limit (`None` when no
    /// whole number does, i.e. the band of good hedges holds no integer);
    /// for [`best_hedge`], the better of the two whole numbers around
    /// `units`.
    pub whole_units: Option<f64>,
    /// The measure with `whole_units` added.
    pub measure_after_whole: Option<f64>,
}

/// The account's P&L with `h` units of the hedge: `p_s + h·u_s`.
struct Hedged<'a> {
    pnl: &'a [f64],
    unit: &'a [f64],
    k: usize,
}

/// Bisection iterations at most (enough to cross the whole `f64` range).
const BISECTION_STEPS: usize = 2200;
/// Golden-section iterations at most.
const GOLDEN_STEPS: usize = 300;
/// Scenario losses whose crossings [`Hedged::refine`] tries, at most.
const KINK_LINES: usize = 32;

impl Hedged<'_> {
    fn new<'a>(
        pnl: &'a [f64],
        unit: &'a [f64],
        measure: Measure,
    ) -> Result<Hedged<'a>, AdjustError> {
        let k = crate::measure::checked_k(&measure, pnl.len())?;
        if unit.len() != pnl.len() {
            return Err(AdjustError::LengthMismatch {
                what: "hedge unit P&L",
                expected: pnl.len(),
                found: unit.len(),
            });
        }
        check_finite("account P&L", pnl)?;
        check_finite("hedge unit P&L", unit)?;
        Ok(Hedged { pnl, unit, k })
    }

    /// The measure with `h` units (`+∞` if it overflows).
    fn at(&self, h: f64, scratch: &mut Vec<f64>) -> f64 {
        scratch.clear();
        scratch.extend(self.pnl.iter().zip(self.unit).map(|(&p, &u)| -(p + h * u)));
        let value = mean_of_largest(self.k, scratch);
        if value.is_finite() {
            value
        } else {
            f64::INFINITY
        }
    }

    /// For `h = dir·r`, `r ≥ 0`: the slope of the measure as `r → ∞` (the
    /// mean of the `k` largest loss slopes) and the mean loss at `r = 0` of
    /// those `k` scenarios. The measure is at least `mean + slope·r`.
    fn asymptote(&self, dir: f64) -> (f64, f64) {
        let slope = |s: usize| -dir * self.unit[s];
        let mut order: Vec<usize> = (0..self.unit.len()).collect();
        order.sort_by(|&a, &b| slope(b).total_cmp(&slope(a)).then(a.cmp(&b)));
        order.truncate(self.k);
        let k = self.k as f64;
        let mean_slope = order.iter().map(|&s| slope(s)).sum::<f64>() / k;
        let mean_loss = order.iter().map(|&s| -self.pnl[s]).sum::<f64>() / k;
        (mean_slope, mean_loss)
    }

    /// A distance `r` along `dir` beyond which the measure no longer falls;
    /// `Ok(None)` when it rises from `r = 0`; an error when it falls without
    /// bound.
    fn reach(
        &self,
        dir: f64,
        at_zero: f64,
        scratch: &mut Vec<f64>,
    ) -> Result<Option<f64>, AdjustError> {
        let (slope, mean) = self.asymptote(dir);
        if slope > 0.0 {
            // measure(r) ≥ mean + slope·r > measure(0) beyond this r
            let r = (at_zero - mean) / slope;
            return Ok((r > 0.0 && r.is_finite()).then_some(r));
        }
        if slope < 0.0 {
            return Err(AdjustError::UnboundedHedge);
        }
        // flat at infinity: non-increasing, constant past its last kink;
        // double until it stops falling
        let largest = self.unit.iter().fold(0.0_f64, |a, u| a.max(u.abs()));
        if largest == 0.0 {
            return Ok(None);
        }
        let largest_pnl = self.pnl.iter().fold(0.0_f64, |a, p| a.max(p.abs()));
        let mut r = at_zero.abs().max(1.0) / largest;
        let mut before = at_zero;
        for _ in 0..BISECTION_STEPS {
            if !r.is_finite() {
                break;
            }
            let now = self.at(dir * r, scratch);
            // flat up to rounding (which grows with r)
            if now >= before - 1e-12 * (largest_pnl + largest * r) {
                return Ok(Some(r));
            }
            before = now;
            r *= 2.0;
        }
        Ok(None)
    }

    /// The smallest `r` in `[0, hi]` with `measure(dir·r) ≤ level`, given
    /// that `hi` meets it (and the measure along `dir` is convex).
    fn smallest_within(&self, dir: f64, hi: f64, level: f64, scratch: &mut Vec<f64>) -> f64 {
        let (mut lo, mut hi) = (0.0_f64, hi);
        if self.at(0.0, scratch) <= level {
            return 0.0;
        }
        for _ in 0..BISECTION_STEPS {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.at(dir * mid, scratch) <= level {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// The minimum of the measure along `dir` over `[0, r_max]` (convex):
    /// `(r, measure)`.
    fn minimum(&self, dir: f64, r_max: f64, scratch: &mut Vec<f64>) -> (f64, f64) {
        let ratio = (5.0_f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (0.0_f64, r_max);
        let mut c = b - ratio * (b - a);
        let mut d = a + ratio * (b - a);
        let (mut fc, mut fd) = (self.at(dir * c, scratch), self.at(dir * d, scratch));
        for _ in 0..GOLDEN_STEPS {
            if b - a <= 1e-15 * r_max {
                break;
            }
            if fc <= fd {
                b = d;
                d = c;
                fd = fc;
                c = b - ratio * (b - a);
                fc = self.at(dir * c, scratch);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + ratio * (b - a);
                fd = self.at(dir * d, scratch);
            }
        }
        let mut r = 0.5 * (a + b);
        let mut value = self.at(dir * r, scratch);
        let end = self.at(dir * r_max, scratch);
        if end < value {
            (r, value) = (r_max, end);
        }
        self.refine(dir, r, value, r_max, scratch)
    }

    /// Golden section ends near a kink of the measure, not on it: tries the
    /// kinks nearby (where two of the scenario losses close to the `k`-th
    /// largest cross, at most [`KINK_LINES`] of them) and keeps the lowest.
    fn refine(
        &self,
        dir: f64,
        r: f64,
        value: f64,
        r_max: f64,
        scratch: &mut Vec<f64>,
    ) -> (f64, f64) {
        // loss_s(r) = intercept_s + slope_s·r
        let intercept = |s: usize| -self.pnl[s];
        let slope = |s: usize| -dir * self.unit[s];
        let losses: Vec<f64> = (0..self.pnl.len())
            .map(|s| intercept(s) + slope(s) * r)
            .collect();
        let mut sorted = losses.clone();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let kth = sorted[self.k - 1];
        // "close" relative to the problem's magnitudes, not the losses at r
        // (which may all be near 0 at the kink)
        let largest = |v: &[f64]| v.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
        let band = 1e-9 * (largest(self.pnl) + largest(self.unit) * r.abs());
        let near: Vec<usize> = (0..losses.len())
            .filter(|&s| (losses[s] - kth).abs() <= band)
            .take(KINK_LINES)
            .collect();
        let (mut best_r, mut best) = (r, value);
        for (j, &a) in near.iter().enumerate() {
            for &b in &near[j + 1..] {
                let gap = slope(a) - slope(b);
                if gap == 0.0 {
                    continue;
                }
                let kink = (intercept(b) - intercept(a)) / gap;
                if !(kink.is_finite() && (0.0..=r_max).contains(&kink)) {
                    continue;
                }
                let at = self.at(dir * kink, scratch);
                if at < best || (at == best && kink < best_r) {
                    (best_r, best) = (kink, at);
                }
            }
        }
        (best_r, best)
    }

    /// The smallest `r ≤ r_min` whose measure is within a relative 1e-12 of
    /// the minimum `value` found at `r_min` (a flat bottom's near end).
    fn earliest(&self, dir: f64, r_min: f64, value: f64, scratch: &mut Vec<f64>) -> (f64, f64) {
        let slack = 1e-12 * value.abs().max(1.0);
        let r = self.smallest_within(dir, r_min, value + slack, scratch);
        (r, self.at(dir * r, scratch))
    }

    /// A whole number of units near `h`: `h` itself when it is within 1e-9
    /// (relative) of one, else rounded away from zero.
    fn whole_away(h: f64) -> f64 {
        let nearest = h.round();
        if (h - nearest).abs() <= 1e-9 * h.abs().max(1.0) {
            nearest
        } else if h > 0.0 {
            h.ceil()
        } else {
            h.floor()
        }
    }
}

/// The smallest hedge `h` (in absolute value, of either sign) with
/// `measure(pnl_total + h·hedge_unit) ≤ limit`.
///
/// `pnl_total[s]` is the account's P&L in scenario `s`, `hedge_unit[s]` the
/// P&L of one unit of the hedge instrument (one future, one ETF share) in
/// that scenario, both in base currency. The measure is convex in `h`, so
/// the hedges that meet the limit form one interval; the answer is its end
/// nearest 0 (0 when the account already meets the limit).
///
/// - [`Measure::Worst`]: exact. Each scenario asks `−p_s − h·u_s ≤ limit`, a
///   half-line of `h` (or nothing, or everything, when `u_s = 0`); the answer
///   is read off their intersection, then nudged by a few ulps if the float
///   evaluation of the measure there exceeds the limit.
/// - [`Measure::TailAverage`]: a monotone 1-D search. Along each direction
///   the measure's slope at infinity (the mean of the `k` largest loss
///   slopes) bounds where its minimum can be; a golden-section search finds
///   the minimum (then the kinks next to it are tried exactly: where two
///   scenario losses near the `k`-th largest cross) and, when it meets the
///   limit, a bisection from 0 finds the first `h` that does (to the last
///   bit of `f64`).
///
/// `whole_units` is the smallest whole number of units (away from 0) that
/// also meets the limit, checked by evaluation.
///
/// # Errors
///
/// [`AdjustError::NoScenarios`], [`AdjustError::LengthMismatch`],
/// [`AdjustError::NonFinite`] (in either vector or the limit),
/// [`AdjustError::ZeroK`]. A hedge that cannot reach the limit is `Ok(None)`,
/// not an error.
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, hedge};
///
/// // a long stock; the hedge unit is one short future
/// let stock = [-300.0, 200.0];
/// let short_future = [10.0, -10.0];
/// let h = hedge(&stock, &short_future, 100.0, Measure::Worst)?.expect("reachable");
/// assert_eq!(h.units, 20.0);
/// assert_eq!(h.measure_after, 100.0);
/// assert_eq!(h.whole_units, Some(20.0));
/// // no hedge reduces the loss below 50 in both scenarios
/// assert_eq!(hedge(&stock, &short_future, 40.0, Measure::Worst)?, None);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub fn hedge(
    pnl_total: &[f64],
    hedge_unit: &[f64],
    limit: f64,
    measure: Measure,
) -> Result<Option<Hedge>, AdjustError> {
    let hedged = Hedged::new(pnl_total, hedge_unit, measure)?;
    if !limit.is_finite() {
        return Err(AdjustError::NonFinite {
            what: "limit",
            index: 0,
        });
    }
    let mut scratch = Vec::with_capacity(pnl_total.len());
    let before = hedged.at(0.0, &mut scratch);
    let units = if before <= limit {
        Some(0.0)
    } else if measure == Measure::Worst || hedged.k == 1 {
        worst_band(&hedged, limit, &mut scratch)
    } else {
        let mut found = None;
        for dir in [1.0, -1.0] {
            // a measure that falls without bound reaches any limit: search
            // up to where it has fallen below it
            let end = match hedged.reach(dir, before, &mut scratch) {
                Ok(Some(r)) => Some(r),
                Ok(None) => None,
                Err(_) => below(&hedged, dir, limit, &mut scratch),
            };
            let Some(end) = end else { continue };
            let (r, value) = hedged.minimum(dir, end, &mut scratch);
            if value <= limit && hedged.at(dir * r, &mut scratch) <= limit {
                let r = hedged.smallest_within(dir, r, limit, &mut scratch);
                if found.is_none_or(|h: f64| r < h.abs()) {
                    found = Some(dir * r);
                }
            }
        }
        found
    };
    let Some(units) = units else {
        return Ok(None);
    };
    let whole = Hedged::whole_away(units);
    let after_whole = hedged.at(whole, &mut scratch);
    let whole_ok = after_whole <= limit;
    Ok(Some(Hedge {
        units,
        measure_before: before,
        measure_after: hedged.at(units, &mut scratch),
        whole_units: whole_ok.then_some(whole),
        measure_after_whole: whole_ok.then_some(after_whole),
    }))
}

/// Along `dir`, a distance at which the measure is at most `limit`, by
/// doubling (for a measure that falls without bound).
fn below(hedged: &Hedged<'_>, dir: f64, limit: f64, scratch: &mut Vec<f64>) -> Option<f64> {
    let largest = hedged.unit.iter().fold(0.0_f64, |a, u| a.max(u.abs()));
    let mut r = 1.0 / largest;
    for _ in 0..BISECTION_STEPS {
        if !r.is_finite() {
            return None;
        }
        if hedged.at(dir * r, scratch) <= limit {
            return Some(r);
        }
        r *= 2.0;
    }
    None
}

/// The worst-loss answer: the intersection of the scenarios' half-lines.
fn worst_band(hedged: &Hedged<'_>, limit: f64, scratch: &mut Vec<f64>) -> Option<f64> {
    let (lo, hi) = band(hedged.pnl, hedged.unit, limit)?;
    if lo > hi {
        return None;
    }
    let (h, dir) = if lo > 0.0 {
        (lo, 1.0)
    } else if hi < 0.0 {
        (hi, -1.0)
    } else {
        return Some(0.0);
    };
    if !h.is_finite() {
        return None;
    }
    // the band's end, or a few ulps inside it if the evaluation rounds over
    let mut step = h.abs() * f64::EPSILON;
    let mut candidate = h;
    for _ in 0..64 {
        if hedged.at(candidate, scratch) <= limit {
            return Some(candidate);
        }
        candidate = h + dir * step;
        step *= 2.0;
        if !(lo..=hi).contains(&candidate) {
            return None;
        }
    }
    None
}

/// The band of hedges `h` with `−(p_s + h·u_s) ≤ limit` in every scenario
/// (`h·u_s ≥ −(limit + p_s)`): the largest bound from below and the least
/// from above, `None` when a scenario with `u_s = 0` misses the limit
/// whatever `h`. Finite inputs and limit (checked by the callers).
///
/// Taken in eight independent lanes (packed divisions and comparisons):
/// the bounds have no NaN (`need` may overflow to ±∞, `u_s` is finite and
/// nonzero where divided by), so the largest and the least do not depend on
/// the order they are taken in, except for the sign of a zero bound, which
/// [`worst_band`] does not read (it compares the bounds with each other and
/// with 0 only, and answers 0 when 0 is inside the band).
fn band(pnl: &[f64], unit: &[f64], limit: f64) -> Option<(f64, f64)> {
    const LANES: usize = 8;
    let mut lo = [f64::NEG_INFINITY; LANES];
    let mut hi = [f64::INFINITY; LANES];
    let mut blocked = [false; LANES];
    let step = |j: usize, p: f64, u: f64, lo: &mut [f64], hi: &mut [f64], blocked: &mut [bool]| {
        // −(p + h·u) ≤ limit  ⇔  h·u ≥ −(limit + p)
        let need = -(limit + p);
        let bound = need / u;
        if u > 0.0 && bound > lo[j] {
            lo[j] = bound;
        }
        if u < 0.0 && bound < hi[j] {
            hi[j] = bound;
        }
        blocked[j] |= u == 0.0 && need > 0.0;
    };
    let len = pnl.len().min(unit.len());
    let (pnl, unit) = (&pnl[..len], &unit[..len]);
    let mut p_chunks = pnl.chunks_exact(LANES);
    let mut u_chunks = unit.chunks_exact(LANES);
    for (ps, us) in (&mut p_chunks).zip(&mut u_chunks) {
        for j in 0..LANES {
            step(j, ps[j], us[j], &mut lo, &mut hi, &mut blocked);
        }
    }
    for (&p, &u) in p_chunks.remainder().iter().zip(u_chunks.remainder()) {
        step(0, p, u, &mut lo, &mut hi, &mut blocked);
    }
    if blocked.iter().any(|&b| b) {
        return None;
    }
    let low = lo
        .iter()
        .fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    let high = hi
        .iter()
        .fold(f64::INFINITY, |a, &b| if b < a { b } else { a });
    Some((low, high))
}

/// The hedge that minimises the measure (for when the limit cannot be
/// reached, or to show how far a hedge can go).
///
/// The measure is convex in `h`; along each direction its slope at infinity
/// bounds where the minimum can be, and a golden-section search finds it,
/// refined to the nearby kinks as in [`hedge`] (the smallest `|h|` among
/// near-ties, up to a relative 1e-12 of the measure). `whole_units` is whichever of the two whole numbers around
/// `units` gives the lower measure (the smaller in absolute value on a tie).
///
/// # Errors
///
/// As [`hedge`], and [`AdjustError::UnboundedHedge`] when the measure falls
/// without bound as `|h|` grows (the hedge gains in every tail scenario).
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, best_hedge};
///
/// // losses 300 − 10h and 10h − 200 meet at h = 25, both 50
/// let best = best_hedge(&[-300.0, 200.0], &[10.0, -10.0], Measure::Worst)?;
/// assert!((best.units - 25.0).abs() < 1e-9);
/// assert!((best.measure_after - 50.0).abs() < 1e-9);
/// assert_eq!(best.whole_units, Some(25.0));
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub fn best_hedge(
    pnl_total: &[f64],
    hedge_unit: &[f64],
    measure: Measure,
) -> Result<Hedge, AdjustError> {
    let hedged = Hedged::new(pnl_total, hedge_unit, measure)?;
    let mut scratch = Vec::with_capacity(pnl_total.len());
    let before = hedged.at(0.0, &mut scratch);
    let (mut units, mut after) = (0.0_f64, before);
    for dir in [1.0, -1.0] {
        if let Some(end) = hedged.reach(dir, before, &mut scratch)? {
            let (r, value) = hedged.minimum(dir, end, &mut scratch);
            let (r, value) = hedged.earliest(dir, r, value, &mut scratch);
            let (r, value) = hedged.refine(dir, r, value, end, &mut scratch);
            if value < after || (value == after && r < units.abs()) {
                (units, after) = (dir * r, value);
            }
        }
    }
    after = hedged.at(units, &mut scratch);
    let (floor, ceil) = (units.floor(), units.ceil());
    let (f_floor, f_ceil) = (
        hedged.at(floor, &mut scratch),
        hedged.at(ceil, &mut scratch),
    );
    let (whole, f_whole) = if f_floor < f_ceil || (f_floor == f_ceil && floor.abs() <= ceil.abs()) {
        (floor, f_floor)
    } else {
        (ceil, f_ceil)
    };
    let whole_ok = whole.is_finite() && f_whole.is_finite();
    Ok(Hedge {
        units,
        measure_before: before,
        measure_after: after,
        whole_units: whole_ok.then_some(whole),
        measure_after_whole: whole_ok.then_some(f_whole),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The band as the plain loop took it (the oracle).
    fn band_plain(pnl: &[f64], unit: &[f64], limit: f64) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for (&p, &u) in pnl.iter().zip(unit) {
            let need = -(limit + p);
            if u > 0.0 {
                lo = lo.max(need / u);
            } else if u < 0.0 {
                hi = hi.min(need / u);
            } else if need > 0.0 {
                return None;
            }
        }
        Some((lo, hi))
    }

    #[test]
    fn the_band_in_lanes_is_the_plain_loops() {
        // Lengths around the lanes; ties, ±0 in both vectors, u = 0 that
        // blocks (need > 0) or not, 1e308 sums that overflow, subnormals,
        // every bound at every place.
        let pool = [
            0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 1e308, -1e308, 5e-324, -5e-324, 3.0, -7.0, 100.0,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 13).unwrap_or(0)
        };
        for len in 0..=35 {
            for _ in 0..300 {
                let pnl: Vec<f64> = (0..len).map(|_| pool[next()]).collect();
                let unit: Vec<f64> = (0..len).map(|_| pool[next()]).collect();
                for limit in [0.0, -0.0, 1.0, -3.0, 1e308, -1e308] {
                    let want = band_plain(&pnl, &unit, limit);
                    let got = band(&pnl, &unit, limit);
                    match (want, got) {
                        (None, None) => {}
                        (Some((wl, wh)), Some((gl, gh))) => {
                            // equal, and bit for bit unless a zero (whose
                            // sign `worst_band` does not read)
                            assert!(wl == gl && wh == gh, "{pnl:?} {unit:?} {limit}");
                            assert!(wl == 0.0 || wl.to_bits() == gl.to_bits());
                            assert!(wh == 0.0 || wh.to_bits() == gh.to_bits());
                        }
                        _ => panic!("{pnl:?} {unit:?} {limit}: {want:?} against {got:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn whole_away_snaps_float_noise() {
        assert_eq!(Hedged::whole_away(20.000000000000004), 20.0);
        assert_eq!(Hedged::whole_away(20.2), 21.0);
        assert_eq!(Hedged::whole_away(-20.2), -21.0);
        assert_eq!(Hedged::whole_away(0.0), 0.0);
    }
}
