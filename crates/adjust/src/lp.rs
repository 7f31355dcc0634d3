//! The reduction linear program, solved by constraint generation with
//! good_lp's pure-Rust microlp solver.
//!
//! Variables: `x_i ∈ [0, 1]`, the fraction of position `i` closed. The loss
//! in scenario `s` is affine in `x`: `loss_s(x) = base_s + Σ_i pnl_is·x_i`
//! (`base_s` is the loss with nothing closed). Objective: `Σ_i w_i·x_i`.
//!
//! Every method below solves a relaxation (a subset of the constraints), so
//! its optimum costs at most the true one; once the relaxation's solution
//! meets the limit over every scenario it is optimal for the whole set.
//! Until then a round adds constraints the solution violates. Each round
//! adds at least one new constraint out of finitely many, so the methods
//! end; `max_rounds` bounds them.
//!
//! - **Worst loss, scenario rows**: `loss_s(x) ≤ limit` for the active
//!   scenarios, at first those above the limit at `x = 0` (the worst
//!   [`FIRST_ROUND`] of them); a round adds the scenarios above the limit at
//!   the solution, the worst [`PER_ROUND`] first.
//! - **Tail average, subset cuts**: the mean of the `k` largest losses is the
//!   largest mean over all sets of `k` scenarios, so it is at most the limit
//!   iff `(1/k)·Σ_{s∈K} loss_s(x) ≤ limit` for every set `K` of `k`
//!   scenarios. A round adds one such row, for the `k` worst scenarios at the
//!   current solution (Kelley's cutting planes on a polyhedral function). The
//!   LP keeps `n` variables however large `k` is.
//! - **Tail average, Rockafellar–Uryasev** (when the cuts take more than
//!   `max_rounds`): a free `t` and `u_s ≥ 0` with
//!   `t + (1/k)·Σ_s u_s ≤ limit` and `u_s ≥ loss_s(x) − t`, over active
//!   scenarios (at first the worst `k +` [`FIRST_ROUND`] at `x = 0`); a
//!   dropped scenario is a dropped `u_s` (taken as 0), and a round adds the
//!   scenarios whose loss is above `t` at the solution, the worst
//!   `k +` [`PER_ROUND`] first. Fewer rounds than the cuts, larger LPs.

use std::panic::{AssertUnwindSafe, catch_unwind};

use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable, microlp,
    variable,
};

use crate::measure::{Book, mean_of_largest};

/// Scenarios in the first round beyond the tail's `k`.
const FIRST_ROUND: usize = 100;
/// At most this many scenarios (plus the tail's `k`) join in a round.
const PER_ROUND: usize = 100;

/// Why the linear program did not give the answer (and the greedy method
/// did).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpFailure {
    /// The caller asked for the greedy method
    /// ([`ReduceOptions::force_greedy`](crate::ReduceOptions::force_greedy)).
    #[error("the greedy method was asked for")]
    Forced,
    /// The solver found no point meeting the limit.
    #[error("the linear program is infeasible")]
    Infeasible,
    /// The solver failed, with its message.
    #[error("the LP solver failed: {0}")]
    Solver(String),
    /// The solver panicked (caught; the greedy method answered instead).
    #[error("the LP solver panicked")]
    Panicked,
    /// Constraint generation still found violated scenarios after this many
    /// rounds.
    #[error("constraint generation did not converge in {0} rounds")]
    TooManyRounds(usize),
    /// The LP's solution broke the limit once rounded to the grid, and the
    /// greedy method's answer was cheaper than (or there was no) repaired
    /// one.
    #[error("the LP solution broke the limit once rounded, and the greedy answer was cheaper")]
    Rounding,
}

/// The LP's optimum (before rounding) and how many rounds it took.
pub(crate) struct LpSolution {
    pub(crate) x: Vec<f64>,
    pub(crate) rounds: usize,
}

/// What the LP is asked.
#[derive(Clone, Copy)]
pub(crate) struct LpInput<'a> {
    pub(crate) book: &'a Book<'a>,
    /// `loss_s` with nothing closed.
    pub(crate) base: &'a [f64],
    /// Objective weight per position (already normalised).
    pub(crate) weights: &'a [f64],
    /// 1 for the worst loss, else the tail's `k` (at most the scenarios).
    pub(crate) k: usize,
    pub(crate) limit: f64,
    pub(crate) max_rounds: usize,
}

/// Tolerances of one problem, from its largest magnitude.
struct Frame {
    /// The largest magnitude among the P&L, the base losses and the limit:
    /// every number in the LP is divided by it, so coefficients are O(1).
    scale: f64,
    /// What the LP aims at: a little below the limit, so the solver's
    /// tolerance does not overshoot it.
    target: f64,
    /// A solution whose measure is at most this is accepted.
    accept: f64,
    /// Differences below this are noise.
    noise: f64,
}

impl Frame {
    /// The tolerances; `tighten` aims the LP a little below the limit.
    fn new(input: &LpInput<'_>, tighten: bool) -> Self {
        let scale = input
            .book
            .rows
            .iter()
            .flat_map(|row| row.iter())
            .chain(input.base)
            .fold(input.limit.abs(), |acc, v| acc.max(v.abs()));
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let margin = if tighten { 1e-9 * scale } else { 0.0 };
        Frame {
            scale,
            target: input.limit - margin,
            accept: input.limit - 0.5 * margin,
            noise: 1e-12 * scale,
        }
    }
}

/// The losses at `x`, from the LP's affine form.
fn losses_at(input: &LpInput<'_>, x: &[f64], losses: &mut [f64]) {
    losses.copy_from_slice(input.base);
    for (row, &xi) in input.book.rows.iter().zip(x) {
        if xi != 0.0 {
            for (l, &v) in losses.iter_mut().zip(row.iter()) {
                *l += v * xi;
            }
        }
    }
}

/// Minimises `Σ weights_i·x_i` subject to the measure of `loss(x)` being at
/// most `limit` (see the module's documentation for the methods).
///
/// The LP first aims a little below the limit (so the solver's tolerance
/// does not overshoot it); if that is infeasible (the limit is reachable
/// only exactly, e.g. a limit of 0 that needs everything closed) it aims at
/// the limit itself, and rounding repairs any overshoot.
pub(crate) fn solve(input: &LpInput<'_>) -> Result<LpSolution, LpFailure> {
    match solve_in(input, &Frame::new(input, true)) {
        Err(LpFailure::Infeasible) => solve_in(input, &Frame::new(input, false)),
        other => other,
    }
}

fn solve_in(input: &LpInput<'_>, frame: &Frame) -> Result<LpSolution, LpFailure> {
    if input.k == 1 {
        return scenario_rows(input, frame);
    }
    match subset_cuts(input, frame) {
        Err(LpFailure::TooManyRounds(cut_rounds)) => {
            scenario_rows(input, frame).map(|solution| LpSolution {
                rounds: solution.rounds + cut_rounds,
                ..solution
            })
        }
        other => other,
    }
}

/// The tail average by subset cuts.
fn subset_cuts(input: &LpInput<'_>, frame: &Frame) -> Result<LpSolution, LpFailure> {
    let (n, m, k) = (input.book.n(), input.book.m, input.k);
    let inv = 1.0 / frame.scale;
    let mut cuts: Vec<(Vec<f64>, f64)> = Vec::new();
    let mut seen: Vec<Vec<usize>> = Vec::new();
    let mut x = vec![0.0; n];
    let mut losses = vec![0.0; m];
    let mut order: Vec<usize> = Vec::with_capacity(m);
    let rounds = input.max_rounds.max(1);
    for round in 0..=rounds {
        losses_at(input, &x, &mut losses);
        order.clear();
        order.extend(0..m);
        if k < m {
            order.select_nth_unstable_by(k - 1, |&a, &b| {
                losses[b].total_cmp(&losses[a]).then(a.cmp(&b))
            });
            order.truncate(k);
        }
        order.sort_unstable();
        let tail = order.iter().map(|&s| losses[s]).sum::<f64>() / k as f64;
        if round > 0 && tail <= frame.accept {
            return Ok(LpSolution { x, rounds: round });
        }
        if seen.contains(&order) {
            // the same cut again: violated by rounding noise only, the
            // rounding step repairs it
            return Ok(LpSolution { x, rounds: round });
        }
        if round == rounds {
            break;
        }
        // (1/k)·Σ_{s∈K} (base_s + Σ_i pnl_is·x_i) ≤ target, scaled
        let coefficients = input
            .book
            .rows
            .iter()
            .map(|row| order.iter().map(|&s| row[s]).sum::<f64>() / k as f64 * inv)
            .collect();
        let base = order.iter().map(|&s| input.base[s]).sum::<f64>() / k as f64;
        cuts.push((coefficients, (frame.target - base) * inv));
        seen.push(order.clone());
        x = solve_guarded(|| {
            let mut vars = ProblemVariables::new();
            let xs: Vec<Variable> = (0..n)
                .map(|_| vars.add(variable().min(0.0).max(1.0)))
                .collect();
            let mut model = vars.minimise(objective(&xs, input.weights)).using(microlp);
            for (coefficients, rhs) in &cuts {
                let mut row = Expression::with_capacity(n);
                for (&xi, &a) in xs.iter().zip(coefficients) {
                    if a != 0.0 {
                        row.add_mul(a, xi);
                    }
                }
                model.add_constraint(row.leq(*rhs));
            }
            model
                .solve()
                .map(|solution| (xs.iter().map(|&v| solution.value(v)).collect(), None))
        })?
        .0;
    }
    Err(LpFailure::TooManyRounds(rounds))
}

/// `Σ_i w_i·x_i`.
fn objective(x: &[Variable], weights: &[f64]) -> Expression {
    let mut objective = Expression::with_capacity(x.len());
    for (&xi, &w) in x.iter().zip(weights) {
        objective.add_mul(w, xi);
    }
    objective
}

/// Runs an LP build-and-solve, turning errors, panics and non-finite values
/// into [`LpFailure`]s and clamping `x` into `[0, 1]`.
fn solve_guarded<F>(build_and_solve: F) -> Result<(Vec<f64>, Option<f64>), LpFailure>
where
    F: FnOnce() -> Result<(Vec<f64>, Option<f64>), ResolutionError>,
{
    let (x, t) = match catch_unwind(AssertUnwindSafe(build_and_solve)) {
        Err(_) => return Err(LpFailure::Panicked),
        Ok(Err(ResolutionError::Infeasible)) => return Err(LpFailure::Infeasible),
        Ok(Err(other)) => return Err(LpFailure::Solver(other.to_string())),
        Ok(Ok(values)) => values,
    };
    if x.iter().any(|v| !v.is_finite()) || t.is_some_and(|t| !t.is_finite()) {
        return Err(LpFailure::Solver("non-finite solution".into()));
    }
    Ok((x.into_iter().map(|v| v.clamp(0.0, 1.0)).collect(), t))
}

/// The worst loss by scenario rows, or the tail by Rockafellar–Uryasev.
fn scenario_rows(input: &LpInput<'_>, frame: &Frame) -> Result<LpSolution, LpFailure> {
    let m = input.book.m;
    let Frame {
        scale,
        target,
        accept,
        noise,
    } = *frame;
    let mut by_loss: Vec<usize> = (0..m).collect();
    by_loss.sort_by(|&a, &b| input.base[b].total_cmp(&input.base[a]).then(a.cmp(&b)));
    let mut active: Vec<usize> = if input.k == 1 {
        by_loss
            .iter()
            .copied()
            .filter(|&s| input.base[s] > target)
            .take(FIRST_ROUND)
            .collect()
    } else {
        by_loss
            .iter()
            .copied()
            .take(input.k + FIRST_ROUND)
            .collect()
    };
    let mut in_active = vec![false; m];
    for &s in &active {
        in_active[s] = true;
    }

    let mut losses = vec![0.0; m];
    let mut scratch = Vec::with_capacity(m);
    for round in 1..=input.max_rounds.max(1) {
        let (x, t) = solve_subset(input, &active, scale, target)?;
        losses_at(input, &x, &mut losses);
        scratch.clear();
        scratch.extend_from_slice(&losses);
        if mean_of_largest(input.k, &mut scratch) <= accept {
            return Ok(LpSolution { x, rounds: round });
        }
        // worst loss: rows above the target; tail: scenarios above t whose
        // u_s was missing
        let threshold = t.unwrap_or(target) + noise;
        let mut violated: Vec<usize> = (0..m)
            .filter(|&s| !in_active[s] && losses[s] > threshold)
            .collect();
        if violated.is_empty() {
            // violated by rounding noise only: the rounding step repairs it
            return Ok(LpSolution { x, rounds: round });
        }
        violated.sort_by(|&a, &b| losses[b].total_cmp(&losses[a]).then(a.cmp(&b)));
        let take = PER_ROUND + if input.k == 1 { 0 } else { input.k };
        for s in violated.into_iter().take(take) {
            in_active[s] = true;
            active.push(s);
        }
    }
    Err(LpFailure::TooManyRounds(input.max_rounds.max(1)))
}

/// Solves the LP over the scenarios `active`; returns `x` and, for a tail,
/// `t` in money.
fn solve_subset(
    input: &LpInput<'_>,
    active: &[usize],
    scale: f64,
    target: f64,
) -> Result<(Vec<f64>, Option<f64>), LpFailure> {
    let book = input.book;
    let n = book.n();
    let inv = 1.0 / scale;
    solve_guarded(|| {
        let mut vars = ProblemVariables::new();
        let x: Vec<Variable> = (0..n)
            .map(|_| vars.add(variable().min(0.0).max(1.0)))
            .collect();
        // every scaled loss lies in [-(n + 1), n + 1]; so does the optimal t
        let bound = n as f64 + 2.0;
        let t = (input.k > 1).then(|| vars.add(variable().min(-bound).max(bound)));
        let u: Vec<Variable> = if t.is_some() {
            active
                .iter()
                .map(|_| vars.add(variable().min(0.0)))
                .collect()
        } else {
            Vec::new()
        };
        let mut model = vars.minimise(objective(&x, input.weights)).using(microlp);
        for (j, &s) in active.iter().enumerate() {
            let mut row = Expression::with_capacity(n + 2);
            for (&xi, pnl) in x.iter().zip(&book.rows) {
                let a = pnl[s] * inv;
                if a != 0.0 {
                    row.add_mul(a, xi);
                }
            }
            match t {
                // loss_s(x) ≤ target
                None => model.add_constraint(row.leq((target - input.base[s]) * inv)),
                // loss_s(x) − t − u_s ≤ 0
                Some(t) => {
                    row.add_mul(-1.0, t);
                    row.add_mul(-1.0, u[j]);
                    model.add_constraint(row.leq(-input.base[s] * inv))
                }
            };
        }
        if let Some(t) = t {
            // t + (1/k)·Σ u_s ≤ target
            let mut cap = Expression::with_capacity(u.len() + 1);
            cap.add_mul(1.0, t);
            let weight = 1.0 / input.k as f64;
            for &us in &u {
                cap.add_mul(weight, us);
            }
            model.add_constraint(cap.leq(target * inv));
        }
        model.solve().map(|solution| {
            let xs: Vec<f64> = x.iter().map(|&v| solution.value(v)).collect();
            (xs, t.map(|t| solution.value(t) * scale))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario P&L of `n` positions from a seeded LCG: one common factor
    /// and own noise, some positions short.
    fn book_rows(n: usize, m: usize) -> Vec<Vec<f64>> {
        let mut state = 42_u64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let factors: Vec<f64> = (0..m).map(|_| uniform()).collect();
        (0..n)
            .map(|i| {
                let side = if i % 3 == 2 { -1.0 } else { 1.0 };
                factors
                    .iter()
                    .map(|f| side * 1000.0 * (i as f64 + 1.0) * (f + 0.3 * uniform()))
                    .collect()
            })
            .collect()
    }

    fn cost(weights: &[f64], x: &[f64]) -> f64 {
        weights.iter().zip(x).map(|(w, x)| w * x).sum()
    }

    #[test]
    fn both_tail_methods_find_the_same_optimum() {
        let rows = book_rows(6, 400);
        let book = Book::new(&rows).unwrap();
        let mut base = Vec::new();
        book.losses_into(&[0.0; 6], &mut base);
        let k = 12;
        let before = mean_of_largest(k, &mut base.clone());
        let weights = [1.0, 0.5, 0.8, 0.3, 1.0, 0.6];
        for share in [0.6, 0.3] {
            let input = LpInput {
                book: &book,
                base: &base,
                weights: &weights,
                k,
                limit: before * share,
                max_rounds: 200,
            };
            let frame = Frame::new(&input, true);
            let cuts = subset_cuts(&input, &frame).unwrap();
            let ru = scenario_rows(&input, &frame).unwrap();
            let (a, b) = (cost(&weights, &cuts.x), cost(&weights, &ru.x));
            assert!((a - b).abs() <= 1e-7 * a.max(1.0), "cuts {a} vs RU {b}");
            for x in [&cuts.x, &ru.x] {
                let mut losses = vec![0.0; 400];
                losses_at(&input, x, &mut losses);
                assert!(mean_of_largest(k, &mut losses) <= input.limit);
            }
        }
    }

    #[test]
    fn cuts_hand_over_to_ru_when_out_of_rounds() {
        let rows = book_rows(6, 400);
        let book = Book::new(&rows).unwrap();
        let mut base = Vec::new();
        book.losses_into(&[0.0; 6], &mut base);
        let k = 12;
        let before = mean_of_largest(k, &mut base.clone());
        let weights = [1.0; 6];
        let mut input = LpInput {
            book: &book,
            base: &base,
            weights: &weights,
            k,
            limit: before * 0.3,
            max_rounds: 200,
        };
        let frame = Frame::new(&input, true);
        let needed = subset_cuts(&input, &frame).unwrap().rounds;
        let ru = scenario_rows(&input, &frame).unwrap().rounds;
        // this example: 12 cuts, or 2 rounds of the RU LP
        assert!(needed > 5 && ru <= 5, "cuts {needed}, RU {ru}");
        input.max_rounds = 5;
        assert_eq!(
            subset_cuts(&input, &frame).err(),
            Some(LpFailure::TooManyRounds(5))
        );
        let solution = solve(&input).unwrap();
        assert_eq!(solution.rounds, 5 + ru);
        let mut losses = vec![0.0; 400];
        losses_at(&input, &solution.x, &mut losses);
        assert!(mean_of_largest(k, &mut losses) <= input.limit);
    }
}
