//! The greedy reduction: close the largest contributor to the measure first,
//! and the trimming pass shared by every answer.
//!
//! A step evaluates the scenario losses at the current fractions, takes the
//! scenarios that set the measure (the worst one, or the `k` worst), and
//! ranks the positions by their contribution to the loss there (the loss
//! their remaining part causes: `−(1 − x_i)·Σ_s pnl_is`). The largest
//! positive contributor is closed further by a 1-D search over its fraction:
//! the measure along one fraction is convex (a maximum, or a sum of the `k`
//! largest, of affine functions), so a golden-section search finds its
//! minimum on `[x_i, 1]`, and when that minimum meets the limit a bisection
//! finds the smallest fraction that does. The fraction is then put on the
//! position's grid. When the largest contributor cannot lower the measure
//! (another scenario would take over at once) the next one is tried. When
//! none can alone, the contributors are closed together (each the same share
//! of what is left of it, by the same 1-D search), and failing that every
//! open position alike: that scales every loss down, so it lowers any
//! positive measure, and any limit ≥ 0 is reached. When nothing lowers the
//! measure, or after `max_steps` steps, the method stops short of the limit.

use crate::grid;
use crate::measure::{Book, mean_of_largest};

/// What the greedy method and the trimming pass work on.
pub(crate) struct Search<'a> {
    pub(crate) book: &'a Book<'a>,
    /// 1 for the worst loss, else the tail's `k`.
    pub(crate) k: usize,
    /// Grid steps per whole position.
    pub(crate) per: &'a [f64],
    pub(crate) limit: f64,
    /// Largest magnitude in the problem, for tolerances.
    pub(crate) scale: f64,
}

/// Where the greedy method stopped.
pub(crate) struct GreedyOutcome {
    pub(crate) x: Vec<f64>,
    pub(crate) measure: f64,
    pub(crate) reached: bool,
}

/// Golden-section iterations (0.618^100 ≈ 1e-21 of the interval).
const GOLDEN_STEPS: usize = 100;
/// Bisection iterations at most (each halves the interval).
const BISECTION_STEPS: usize = 200;

impl Search<'_> {
    /// The canonical measure at `x`.
    pub(crate) fn measure(&self, x: &[f64], scratch: &mut Vec<f64>) -> f64 {
        self.book.measure(self.k, x, scratch)
    }

    /// Runs the greedy method from `start` (on the grid).
    pub(crate) fn greedy(&self, start: Vec<f64>, max_steps: usize) -> GreedyOutcome {
        let mut x = start;
        let mut losses = Vec::with_capacity(self.book.m);
        let mut scratch = Vec::with_capacity(self.book.m);
        let progress = 1e-12 * self.scale;
        // losses are updated step by step (O(scenarios) a step) and
        // recomputed canonically whenever they seem to meet the limit
        self.book.losses_into(&x, &mut losses);
        let mut fresh = true;
        for _ in 0..max_steps {
            scratch.clone_from(&losses);
            let current = mean_of_largest(self.k, &mut scratch);
            if current <= self.limit {
                if fresh {
                    return GreedyOutcome {
                        x,
                        measure: current,
                        reached: true,
                    };
                }
                self.book.losses_into(&x, &mut losses);
                fresh = true;
                continue;
            }
            // a move must close a share of the gap to the limit, so that two
            // tied scenarios cannot make the method zigzag a grid step at a
            // time; the last resort (every position alike) needs only progress
            let gain = progress.max(1e-3 * (current - self.limit));
            let ranked = self.ranking(&x, &losses);
            let mut moved = false;
            for &i in &ranked {
                if let Some((t, value)) = self.coordinate_move(i, x[i], &losses, &mut scratch)
                    && value < current - gain
                {
                    let d = t - x[i];
                    for (l, &a) in losses.iter_mut().zip(self.book.rows[i].iter()) {
                        *l += d * a;
                    }
                    x[i] = t;
                    moved = true;
                    break;
                }
            }
            if !moved {
                // stuck (closing any one position alone raises another
                // scenario as much): close the contributors together, and
                // failing that every open position alike (which scales every
                // loss down, so it lowers any positive measure)
                let open: Vec<usize> = (0..x.len()).filter(|&i| x[i] < 1.0).collect();
                for (group, gain) in [(ranked, gain), (open, progress)] {
                    if group.is_empty() {
                        continue;
                    }
                    let (next, delta, value) = self.group_move(&group, &x, &losses, &mut scratch);
                    if value < current - gain {
                        for (l, d) in losses.iter_mut().zip(&delta) {
                            *l += d;
                        }
                        x = next;
                        moved = true;
                        break;
                    }
                }
            }
            if !moved {
                break;
            }
            fresh = false;
        }
        let measure = self.measure(&x, &mut scratch);
        GreedyOutcome {
            reached: measure <= self.limit,
            x,
            measure,
        }
    }

    /// Positions with a positive contribution to the loss in the scenarios
    /// that set the measure, largest first (lower index on a tie).
    fn ranking(&self, x: &[f64], losses: &[f64]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..losses.len()).collect();
        if self.k < order.len() {
            order.select_nth_unstable_by(self.k - 1, |&a, &b| {
                losses[b].total_cmp(&losses[a]).then(a.cmp(&b))
            });
            order.truncate(self.k);
        }
        order.sort_unstable();
        let mut ranked: Vec<(f64, usize)> = self
            .book
            .rows
            .iter()
            .zip(x)
            .enumerate()
            .filter(|&(_, (_, &xi))| xi < 1.0)
            .map(|(i, (row, &xi))| {
                let pnl: f64 = order.iter().map(|&s| row[s]).sum();
                (-(1.0 - xi) * pnl, i)
            })
            .filter(|&(c, _)| c > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().map(|(_, i)| i).collect()
    }

    /// The measure of `losses + step·delta`.
    fn shifted(&self, losses: &[f64], delta: &[f64], step: f64, scratch: &mut Vec<f64>) -> f64 {
        scratch.clear();
        scratch.extend(losses.iter().zip(delta).map(|(&l, &d)| l + step * d));
        mean_of_largest(self.k, scratch)
    }

    /// For `φ(t) = measure(losses + (t − t0)·delta)` on `[t0, 1]` (convex):
    /// the smallest `t` meeting the limit when the minimum does, else the
    /// minimiser (golden section, then bisection).
    fn search(&self, losses: &[f64], delta: &[f64], t0: f64, scratch: &mut Vec<f64>) -> f64 {
        let mut phi = |t: f64| self.shifted(losses, delta, t - t0, scratch);
        let r = (5.0_f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (t0, 1.0_f64);
        let mut c = b - r * (b - a);
        let mut d = a + r * (b - a);
        let (mut fc, mut fd) = (phi(c), phi(d));
        for _ in 0..GOLDEN_STEPS {
            if b - a <= 1e-14 {
                break;
            }
            if fc <= fd {
                b = d;
                d = c;
                fd = fc;
                c = b - r * (b - a);
                fc = phi(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + r * (b - a);
                fd = phi(d);
            }
        }
        let mut t_min = 0.5 * (a + b);
        let mut f_min = phi(t_min);
        let f_one = phi(1.0);
        if f_one <= f_min {
            t_min = 1.0;
            f_min = f_one;
        }
        if f_min > self.limit {
            return t_min;
        }
        // smallest t in (t0, t_min] meeting the limit
        let (mut lo, mut hi) = (t0, t_min);
        for _ in 0..BISECTION_STEPS {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if phi(mid) <= self.limit {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// Closing more of position `i` alone: the grid fraction above `x0`
    /// that is the smallest meeting the limit, else the one with the lowest
    /// measure; with that measure. `None` when no grid point lies above `x0`.
    fn coordinate_move(
        &self,
        i: usize,
        x0: f64,
        losses: &[f64],
        scratch: &mut Vec<f64>,
    ) -> Option<(f64, f64)> {
        let row = self.book.rows[i];
        let t = self.search(losses, row, x0, scratch);
        let per = self.per[i];
        let up = grid::up(t, per);
        let next = grid::at(grid::index(up, per) + 1.0, per);
        let mut best: Option<(f64, f64)> = None;
        for candidate in [grid::down(t, per), up, next] {
            if candidate <= x0 || best.is_some_and(|(c, _)| candidate <= c) {
                continue;
            }
            let value = self.shifted(losses, row, candidate - x0, scratch);
            best = match best {
                None => Some((candidate, value)),
                // the smallest fraction that meets the limit; else the lowest
                Some((c, v)) if v <= self.limit => Some((c, v)),
                Some(_) if value <= self.limit => Some((candidate, value)),
                Some((c, v)) if v <= value => Some((c, v)),
                Some(_) => Some((candidate, value)),
            };
        }
        best
    }

    /// Closing the positions `group` together, each the same share `t` of
    /// what is left of it (`x_i + t·(1 − x_i)`, rounded up to its grid):
    /// the new fractions, the change in losses, and the measure.
    fn group_move(
        &self,
        group: &[usize],
        x: &[f64],
        losses: &[f64],
        scratch: &mut Vec<f64>,
    ) -> (Vec<f64>, Vec<f64>, f64) {
        let mut delta = vec![0.0; losses.len()];
        for &i in group {
            let left = 1.0 - x[i];
            for (d, &a) in delta.iter_mut().zip(self.book.rows[i].iter()) {
                *d += left * a;
            }
        }
        let t = self.search(losses, &delta, 0.0, scratch);
        let mut moved = x.to_vec();
        delta.iter_mut().for_each(|d| *d = 0.0);
        for &i in group {
            moved[i] = grid::up(x[i] + t * (1.0 - x[i]), self.per[i]).max(x[i]);
            let change = moved[i] - x[i];
            for (d, &a) in delta.iter_mut().zip(self.book.rows[i].iter()) {
                *d += change * a;
            }
        }
        let value = self.shifted(losses, &delta, 1.0, scratch);
        (moved, delta, value)
    }

    /// Lowers each closed fraction (costliest position first) to the
    /// smallest grid point that still meets the limit, the others held.
    /// `x` must meet the limit; it still does after (in the canonical
    /// evaluation: candidates are screened on losses updated move by move,
    /// with a margin for rounding, and if the trimmed point failed the
    /// canonical check `x` would be left as it was).
    pub(crate) fn trim(&self, x: &mut [f64], costs: &[f64]) {
        let original = x.to_vec();
        let mut losses = Vec::with_capacity(self.book.m);
        let mut scratch = Vec::with_capacity(self.book.m);
        let level = self.limit - 1e-12 * self.scale;
        let mut order: Vec<usize> = (0..x.len()).filter(|&i| x[i] > 0.0).collect();
        order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
        self.book.losses_into(x, &mut losses);
        for i in order {
            let per = self.per[i];
            let held = x[i];
            let mut feasible = |k: f64| {
                let t = grid::at(k, per);
                (self.shifted(&losses, self.book.rows[i], t - held, &mut scratch) <= level)
                    .then_some(t)
            };
            // feasibility along one fraction is an interval containing `held`:
            // bisect for its lower end on [0, held]
            let mut lowest = held;
            if feasible(0.0).is_some() {
                lowest = 0.0;
            } else {
                let (mut lo, mut hi) = (0.0, grid::index(held, per));
                while hi - lo > 1.0 {
                    let mid = ((lo + hi) * 0.5).floor();
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    match feasible(mid) {
                        Some(t) => {
                            hi = mid;
                            lowest = t;
                        }
                        None => lo = mid,
                    }
                }
            }
            let d = lowest - held;
            if d != 0.0 {
                for (l, &a) in losses.iter_mut().zip(self.book.rows[i].iter()) {
                    *l += d * a;
                }
                x[i] = lowest;
            }
        }
        if self.measure(x, &mut scratch) > self.limit {
            x.copy_from_slice(&original);
        }
    }
}
