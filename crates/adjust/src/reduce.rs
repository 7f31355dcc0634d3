use crate::error::AdjustError;
use crate::greedy::Search;
use crate::grid;
use crate::lp::{self, LpFailure, LpInput, LpSolution};
use crate::measure::{Book, Measure, check_finite};

/// The finest grid: fractions stay exact multiples of the step in `f64`.
const MIN_STEP: f64 = 1e-12;

/// Tuning of [`reduce_positions`].
///
/// # Examples
///
/// ```
/// use exfee_adjust::ReduceOptions;
///
/// let options = ReduceOptions { force_greedy: true, ..ReduceOptions::default() };
/// assert_eq!(options.precision, 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReduceOptions {
    /// Skip the linear program and answer with the greedy method (for
    /// tests and comparisons). Default `false`.
    pub force_greedy: bool,
    /// Rounds of constraint generation (LP solves) before a method gives up:
    /// the tail's subset cuts then hand over to the Rockafellar–Uryasev LP,
    /// and the worst loss's rows (or that LP) to the greedy method. Default
    /// 200; the worst loss typically needs 1 to 3 rounds, the tail's cuts
    /// tens.
    pub max_rounds: usize,
    /// Steps of the greedy method (each closes more of one position) before
    /// it gives up. Default 1,000.
    pub max_greedy_steps: usize,
    /// The grid of a position without a lot: fractions are multiples of it
    /// (or 1). In `[1e-12, 1]`; default `1e-6`.
    pub precision: f64,
}

impl Default for ReduceOptions {
    fn default() -> Self {
        ReduceOptions {
            force_greedy: false,
            max_rounds: 200,
            max_greedy_steps: 1000,
            precision: 1e-6,
        }
    }
}

/// A reduction to compute: which positions may be closed, at what cost, down
/// to what limit.
///
/// `pnl[i][s]` is the P&L of the whole position `i` (its current quantity) in
/// scenario `s`, in base currency. Closing the fraction `x_i ∈ [0, 1]` of
/// position `i` (never opening or flipping it) makes the account's P&L in
/// scenario `s` equal to `Σ_i (1 − x_i)·pnl[i][s]`; closing at mark keeps the
/// NLV. `costs[i] ≥ 0` is the cost of closing all of position `i` (its
/// absolute market value, or its number of contracts: the caller chooses).
///
/// `limit` is the measure to reach: NLV + threshold to remove the fee, or
/// whatever intermediate level halves it. The answer meets `measure ≤ limit`
/// in this crate's evaluation ([`measure_after_reduction`]); a caller that
/// re-checks by revaluing the adjusted portfolio (whose P&L differs in the
/// last bits) and rounds to cents should pass a limit a cent or so below the
/// level it needs.
///
/// `lots[i]`, when given, is the fraction of position `i` one tradable unit
/// is (`1 / |quantity|` for shares or contracts): position `i`'s fraction is
/// then a whole number of units (`k · lot`, or all of it), so
/// `fraction × quantity` is a whole number up to rounding. A lot of 0 means
/// any fraction (on the [`ReduceOptions::precision`] grid); a lot above 1
/// (less than one unit held) means all or nothing; a lot below 1e-12 is
/// read as 1e-12.
///
/// [`measure_after_reduction`]: crate::measure_after_reduction
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, ReductionProblem, reduce_positions};
///
/// let pnl = [vec![-100.0, 50.0, 0.0], vec![-20.0, -80.0, 30.0]];
/// let costs = [1000.0, 500.0];
/// let remove = ReductionProblem::new(&pnl, &costs, 50.0, Measure::Worst);
/// let halve = remove.with_limit(85.0);
/// assert!(reduce_positions(&halve)?.cost < reduce_positions(&remove)?.cost);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
#[derive(Debug)]
pub struct ReductionProblem<'a, P> {
    /// Per-position scenario P&L: one vector per position, one value per
    /// scenario.
    pub pnl: &'a [P],
    /// Cost of closing all of each position.
    pub costs: &'a [f64],
    /// The measure to reach (at most).
    pub limit: f64,
    /// The risk measure.
    pub measure: Measure,
    /// Fraction of each position one tradable unit is; `None` for any
    /// fraction.
    pub lots: Option<&'a [f64]>,
    /// Tuning.
    pub options: ReduceOptions,
}

impl<P> Clone for ReductionProblem<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for ReductionProblem<'_, P> {}

impl<'a, P: AsRef<[f64]>> ReductionProblem<'a, P> {
    /// A problem with no lots and the default options.
    pub fn new(pnl: &'a [P], costs: &'a [f64], limit: f64, measure: Measure) -> Self {
        ReductionProblem {
            pnl,
            costs,
            limit,
            measure,
            lots: None,
            options: ReduceOptions::default(),
        }
    }

    /// The same problem with another limit (e.g. the one that halves the
    /// fee).
    #[must_use]
    pub fn with_limit(self, limit: f64) -> Self {
        ReductionProblem { limit, ..self }
    }

    /// The same problem with lots (see the type's documentation).
    #[must_use]
    pub fn with_lots(self, lots: &'a [f64]) -> Self {
        ReductionProblem {
            lots: Some(lots),
            ..self
        }
    }

    /// The same problem with other options.
    #[must_use]
    pub fn with_options(self, options: ReduceOptions) -> Self {
        ReductionProblem { options, ..self }
    }
}

/// Which method gave a [`Reduction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The linear program (minimum cost, up to rounding to the grid).
    LinearProgram,
    /// The greedy fallback (largest contributor first; not minimum cost).
    Greedy,
}

/// A reduction that brings the measure down to the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    /// Fraction of each position to close, in `[0, 1]`, on the position's
    /// grid (its lot, or the precision).
    pub fractions: Vec<f64>,
    /// Which method gave the answer.
    pub method: Method,
    /// The measure before the reduction.
    pub measure_before: f64,
    /// The measure after it (this crate's estimate from the scenario P&L;
    /// at most the limit).
    pub measure_after: f64,
    /// `Σ_i costs[i] · fractions[i]`.
    pub cost: f64,
    /// Rounds of constraint generation the LP took (0 when it did not run
    /// or nothing needed closing).
    pub lp_rounds: usize,
    /// Why the LP did not give the answer, when [`Method::Greedy`] did.
    pub lp_failure: Option<LpFailure>,
}

/// The cheapest reduction of positions that brings the measure down to
/// `problem.limit`.
///
/// **Linear program.** Minimise `Σ_i cost_i·x_i` over `x ∈ [0, 1]ⁿ` subject
/// to the measure of the reduced P&L being at most the limit: for the worst
/// loss one row per scenario; for the tail average one row per set of `k`
/// scenarios (the mean of the `k` largest losses is the largest mean over
/// such sets), or, when those take too many rounds, the
/// Rockafellar–Uryasev rows (`t + (1/k)·Σ_s u_s ≤ limit`,
/// `u_s ≥ loss_s − t`, `u_s ≥ 0`). All are solved by constraint generation
/// (only the rows that matter enter the LP; it stops once its solution meets
/// the limit in every scenario, which makes it optimal), with good_lp's
/// pure-Rust microlp solver. 20 positions × 20,000 scenarios take tens of
/// milliseconds (release build). Costs are normalised and a tie-break of
/// `1e-6` (relative to the largest cost) is added to every weight, so among
/// equally cheap answers the one closing least is preferred (and free
/// positions are not closed for nothing). The LP aims 1e-9 (relative) below
/// the limit so the solver's tolerance does not overshoot it.
///
/// **Rounding.** Fractions are put on each position's grid (lot, or
/// [`ReduceOptions::precision`]), rounded up and to nearest; the cheaper that
/// still meets the limit wins. If neither does (many scenarios binding at
/// once, coarse lots), the cheaper of two repairs: the LP again, aimed below
/// the limit by the most one grid step per position can move a loss, rounded
/// to nearest; and the rounded-up point completed by greedy steps. If the
/// greedy method from scratch is cheaper still, it answers
/// ([`LpFailure::Rounding`]). Last, each fraction, costliest position first,
/// is lowered to the smallest grid point that still meets the limit. With
/// lots this is a rounded LP, not an integer program's optimum. The answer
/// always meets the limit as evaluated by
/// [`measure_after_reduction`](crate::measure_after_reduction).
///
/// **Greedy fallback.** When the LP fails (solver error or panic,
/// infeasible, too many rounds, see [`LpFailure`]) or
/// [`ReduceOptions::force_greedy`] is set, the largest contributor to the
/// loss in the scenarios that set the measure is closed first, by exactly the
/// fraction a 1-D search finds, until the limit is met; when no single
/// position can lower the measure, the contributors are closed together, and
/// failing that every open position alike (see [`Method`] and
/// [`Reduction::lp_failure`]). It is not minimum cost, and with a negative
/// limit it may stop short where the LP would not.
///
/// With everything closed every loss is 0, so any limit ≥ 0 can be reached.
///
/// # Errors
///
/// [`AdjustError::NoPositions`], [`AdjustError::NoScenarios`],
/// [`AdjustError::PositionLength`], [`AdjustError::LengthMismatch`],
/// [`AdjustError::NonFinitePnl`], [`AdjustError::NonFinite`],
/// [`AdjustError::Overflow`], [`AdjustError::NegativeCost`],
/// [`AdjustError::NegativeLot`], [`AdjustError::InvalidPrecision`],
/// [`AdjustError::ZeroK`] for bad input; [`AdjustError::Unreachable`] when
/// neither method reaches the limit (a negative limit below what closing
/// can reach).
///
/// # Examples
///
/// ```
/// use exfee_adjust::{Measure, Method, ReductionProblem, reduce_positions};
///
/// // scenario losses now: 120, 30, -30
/// let pnl = [vec![-100.0, 50.0, 0.0], vec![-20.0, -80.0, 30.0]];
/// let costs = [1000.0, 500.0];
/// let r = reduce_positions(&ReductionProblem::new(&pnl, &costs, 50.0, Measure::Worst))?;
/// assert_eq!(r.method, Method::LinearProgram);
/// assert!((r.fractions[0] - 2.0 / 3.0).abs() < 1e-6 && (r.fractions[1] - 1.0 / 6.0).abs() < 1e-6);
/// assert!((r.cost - 750.0).abs() < 1e-3 && r.measure_after <= 50.0);
/// # Ok::<(), exfee_adjust::AdjustError>(())
/// ```
pub fn reduce_positions<P: AsRef<[f64]>>(
    problem: &ReductionProblem<'_, P>,
) -> Result<Reduction, AdjustError> {
    let book = Book::new(problem.pnl)?;
    let (n, m) = (book.n(), book.m);
    let k = crate::measure::checked_k(&problem.measure, m)?;
    let per = checked_grid(problem, n)?;
    let (costs, limit, options) = (problem.costs, problem.limit, problem.options);

    let mut scratch = Vec::with_capacity(m);
    let none = vec![0.0; n];
    book.losses_into(&none, &mut scratch);
    let base = scratch.clone();
    let measure_before = book.measure(k, &none, &mut scratch);
    let scale = book
        .rows
        .iter()
        .flat_map(|row| row.iter())
        .chain(&base)
        .fold(limit.abs(), |acc, v| acc.max(v.abs()));
    let search = Search {
        book: &book,
        k,
        per: &per,
        limit,
        scale: if scale > 0.0 { scale } else { 1.0 },
    };
    let answer = |fractions: Vec<f64>,
                  method: Method,
                  lp_rounds: usize,
                  lp_failure: Option<LpFailure>,
                  scratch: &mut Vec<f64>| {
        Reduction {
            measure_after: search.measure(&fractions, scratch),
            cost: cost_of(costs, &fractions),
            fractions,
            method,
            measure_before,
            lp_rounds,
            lp_failure,
        }
    };

    let forced = options.force_greedy.then_some(LpFailure::Forced);
    if measure_before <= limit {
        let method = if forced.is_some() {
            Method::Greedy
        } else {
            Method::LinearProgram
        };
        return Ok(answer(none, method, 0, forced, &mut scratch));
    }

    // the LP's answer once on the grid (with its rounds), unless it failed
    let (failure, from_lp): (LpFailure, Option<(Vec<f64>, usize)>) = match forced {
        Some(forced) => (forced, None),
        None => {
            let weights = lp_weights(costs);
            let input = LpInput {
                book: &book,
                base: &base,
                weights: &weights,
                k,
                limit,
                max_rounds: options.max_rounds,
            };
            match lp::solve(&input) {
                Err(failure) => (failure, None),
                Ok(solution) => {
                    if let Some(fractions) = round(&search, &solution.x, costs, &mut scratch) {
                        return Ok(answer(
                            fractions,
                            Method::LinearProgram,
                            solution.rounds,
                            None,
                            &mut scratch,
                        ));
                    }
                    let repaired = repair(&search, &input, &solution, costs, options, &mut scratch);
                    (LpFailure::Rounding, repaired)
                }
            }
        }
    };

    let outcome = search.greedy(none, options.max_greedy_steps);
    let greedy = outcome.reached.then(|| {
        let mut fractions = outcome.x;
        search.trim(&mut fractions, costs);
        fractions
    });
    match (from_lp, greedy) {
        (Some((lp, rounds)), greedy)
            if greedy
                .as_ref()
                .is_none_or(|g| cost_of(costs, &lp) <= cost_of(costs, g)) =>
        {
            Ok(answer(
                lp,
                Method::LinearProgram,
                rounds,
                None,
                &mut scratch,
            ))
        }
        (_, Some(greedy)) => Ok(answer(
            greedy,
            Method::Greedy,
            0,
            Some(failure),
            &mut scratch,
        )),
        (_, None) => Err(AdjustError::Unreachable {
            limit,
            lowest: outcome.measure,
        }),
    }
}

/// Checks the costs, the limit, the precision and the lots of `problem`
/// (`n` positions), in that order, and gives each position's grid: the
/// number of grid steps in a whole position (its lot, or the precision).
fn checked_grid<P: AsRef<[f64]>>(
    problem: &ReductionProblem<'_, P>,
    n: usize,
) -> Result<Vec<f64>, AdjustError> {
    let costs = problem.costs;
    if costs.len() != n {
        return Err(AdjustError::LengthMismatch {
            what: "costs",
            expected: n,
            found: costs.len(),
        });
    }
    check_finite("cost", costs)?;
    if let Some(position) = costs.iter().position(|&c| c < 0.0) {
        return Err(AdjustError::NegativeCost { position });
    }
    if !problem.limit.is_finite() {
        return Err(AdjustError::NonFinite {
            what: "limit",
            index: 0,
        });
    }
    let precision = problem.options.precision;
    if !(MIN_STEP..=1.0).contains(&precision) {
        return Err(AdjustError::InvalidPrecision(precision));
    }
    let Some(lots) = problem.lots else {
        return Ok(vec![grid::per(precision); n]);
    };
    if lots.len() != n {
        return Err(AdjustError::LengthMismatch {
            what: "lots",
            expected: n,
            found: lots.len(),
        });
    }
    check_finite("lot", lots)?;
    if let Some(position) = lots.iter().position(|&l| l < 0.0) {
        return Err(AdjustError::NegativeLot { position });
    }
    Ok(lots
        .iter()
        .map(|&lot| {
            if lot > 0.0 {
                grid::per(lot.clamp(MIN_STEP, 1.0))
            } else {
                grid::per(precision)
            }
        })
        .collect())
}

/// The LP's objective weights: costs over the largest cost plus a 1e-6
/// tie-break (so among equally cheap answers the one closing least wins),
/// or all 1 when every cost is 0.
fn lp_weights(costs: &[f64]) -> Vec<f64> {
    let max_cost = costs.iter().copied().fold(0.0, f64::max);
    costs
        .iter()
        .map(|&c| {
            if max_cost > 0.0 {
                c / max_cost + 1e-6
            } else {
                1.0
            }
        })
        .collect()
}

/// `Σ costs_i · x_i`.
fn cost_of(costs: &[f64], x: &[f64]) -> f64 {
    costs.iter().zip(x).map(|(c, x)| c * x).sum()
}

/// Puts the LP's fractions on the grid, rounded up or to nearest, the
/// cheaper that meets the limit, then trimmed; `None` if neither meets it.
fn round(
    search: &Search<'_>,
    x: &[f64],
    costs: &[f64],
    scratch: &mut Vec<f64>,
) -> Option<Vec<f64>> {
    let mut best: Option<Vec<f64>> = None;
    for candidate in [
        on_grid(search, x, grid::nearest),
        on_grid(search, x, grid::up),
    ] {
        if search.measure(&candidate, scratch) <= search.limit
            && best
                .as_ref()
                .is_none_or(|b| cost_of(costs, &candidate) < cost_of(costs, b))
        {
            best = Some(candidate);
        }
    }
    let mut fractions = best?;
    search.trim(&mut fractions, costs);
    Some(fractions)
}

/// `x` put on each position's grid by `snap`.
fn on_grid(search: &Search<'_>, x: &[f64], snap: fn(f64, f64) -> f64) -> Vec<f64> {
    x.iter()
        .zip(search.per)
        .map(|(&v, &p)| snap(v, p))
        .collect()
}

/// When rounding the LP's answer broke the limit (many scenarios binding at
/// once, or coarse lots): the cheaper, once trimmed, of (a) the LP again,
/// aimed below the limit by the most that moving every fraction by one grid
/// step can change a loss, rounded to nearest (which then cannot break the
/// limit), and (b) the rounded-up answer repaired by greedy steps. `None`
/// when neither meets the limit.
fn repair(
    search: &Search<'_>,
    input: &LpInput<'_>,
    solution: &LpSolution,
    costs: &[f64],
    options: ReduceOptions,
    scratch: &mut Vec<f64>,
) -> Option<(Vec<f64>, usize)> {
    let book = search.book;
    let mut reach = vec![0.0; book.m];
    for (row, &per) in book.rows.iter().zip(search.per) {
        for (r, &v) in reach.iter_mut().zip(row.iter()) {
            *r += v.abs() / per;
        }
    }
    let margin = reach.iter().copied().fold(0.0, f64::max) + 1e-12 * search.scale;
    let mut found: Vec<(Vec<f64>, usize)> = Vec::new();
    let safe = LpInput {
        limit: input.limit - margin,
        ..*input
    };
    if let Ok(safe) = lp::solve(&safe) {
        let mut x = on_grid(search, &safe.x, grid::nearest);
        if search.measure(&x, scratch) <= search.limit {
            search.trim(&mut x, costs);
            found.push((x, solution.rounds + safe.rounds));
        }
    }
    let repaired = search.greedy(
        on_grid(search, &solution.x, grid::up),
        options.max_greedy_steps,
    );
    if repaired.reached {
        let mut x = repaired.x;
        search.trim(&mut x, costs);
        found.push((x, solution.rounds));
    }
    found
        .into_iter()
        .min_by(|a, b| cost_of(costs, &a.0).total_cmp(&cost_of(costs, &b.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNL: [[f64; 2]; 3] = [[-10.0, 5.0], [-4.0, 1.0], [2.0, -3.0]];

    #[test]
    fn the_grid_is_the_lot_or_else_the_precision() {
        let costs = [1.0, 2.0, 3.0];
        let lots = [0.25, 0.0, 1.0 / 3.0];
        let problem = ReductionProblem::new(&PNL, &costs, 1.0, Measure::Worst).with_lots(&lots);
        // 4 quarter lots, no lot: 1/1e-6 steps, 3 thirds (whole, not 2.999…)
        assert_eq!(checked_grid(&problem, 3), Ok(vec![4.0, 1e6, 3.0]));
        let plain = ReductionProblem::new(&PNL, &costs, 1.0, Measure::Worst);
        assert_eq!(checked_grid(&plain, 3), Ok(vec![1e6; 3]));
    }

    #[test]
    fn the_checks_come_in_order() {
        let base = ReductionProblem::new(&PNL, &[1.0, 2.0, 3.0], 1.0, Measure::Worst);
        let with_costs = |costs| ReductionProblem { costs, ..base };
        assert_eq!(
            checked_grid(&with_costs(&[1.0, 2.0]), 3),
            Err(AdjustError::LengthMismatch {
                what: "costs",
                expected: 3,
                found: 2
            })
        );
        // a negative cost after a non-finite one: the non-finite one first
        assert_eq!(
            checked_grid(&with_costs(&[1.0, f64::NAN, -1.0]), 3),
            Err(AdjustError::NonFinite {
                what: "cost",
                index: 1
            })
        );
        assert_eq!(
            checked_grid(&with_costs(&[1.0, -2.0, 3.0]), 3),
            Err(AdjustError::NegativeCost { position: 1 })
        );
        let infinite = ReductionProblem {
            limit: f64::INFINITY,
            ..base
        };
        assert!(matches!(
            checked_grid(&infinite, 3),
            Err(AdjustError::NonFinite { what: "limit", .. })
        ));
        let coarse = ReductionProblem {
            options: ReduceOptions {
                precision: 2.0,
                ..ReduceOptions::default()
            },
            ..base
        };
        assert_eq!(
            checked_grid(&coarse, 3),
            Err(AdjustError::InvalidPrecision(2.0))
        );
        assert_eq!(
            checked_grid(&base.with_lots(&[0.5, -0.5, 0.5]), 3),
            Err(AdjustError::NegativeLot { position: 1 })
        );
        assert!(matches!(
            checked_grid(&base.with_lots(&[0.5]), 3),
            Err(AdjustError::LengthMismatch { what: "lots", .. })
        ));
    }

    #[test]
    fn lp_weights_are_relative_costs_with_a_tie_break() {
        assert_eq!(lp_weights(&[4.0, 2.0, 0.0]), [1.0 + 1e-6, 0.5 + 1e-6, 1e-6]);
        assert_eq!(lp_weights(&[0.0, 0.0]), [1.0, 1.0]);
    }
}
