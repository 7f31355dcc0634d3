//! The single-stock fixed scenarios, which move one stock each, evaluated
//! sparsely: in a scenario of stock X only holdings on X move; every other
//! holding keeps its P&L when nothing moves (an option's time decay over the
//! horizon, zero otherwise).

use exfee_scenarios::{ScenarioSet, Shock};
use rayon::prelude::*;

use crate::leg::Leg;
use crate::pnl::{Bounds, Scratch, still_and_own_pnl};
use crate::prepare::{Prepared, PreparedAccount};
use crate::tail::Tail;

/// The single-stock fixed scenarios at the end of a set, which move one
/// stock each and so are evaluated sparsely: only holdings on that stock
/// move (every other holding keeps its P&L when nothing moves, which for an
/// option aged by the horizon is its time decay). Returns where they start and, per stock of the set, its scenarios
/// as (scenario index, own move).
pub(crate) fn sparse_stock_scenarios(set: &ScenarioSet) -> (usize, Vec<Vec<(usize, f64)>>) {
    let fixed = set.fixed();
    let first_fixed = set.len() - fixed.len();
    let tail = fixed
        .iter()
        .rev()
        .take_while(|s| matches!(s.shock, Shock::Stock { .. }))
        .count();
    let start = set.len() - tail;
    let mut by_stock = vec![Vec::new(); set.stocks().len()];
    for (offset, scenario) in fixed[fixed.len() - tail..].iter().enumerate() {
        if let Shock::Stock { index, fraction } = scenario.shock
            && let Some(list) = by_stock.get_mut(index)
        {
            list.push((first_fixed + fixed.len() - tail + offset, fraction));
        }
    }
    (start, by_stock)
}

/// Offers every ready account's P&L in the sparse single-stock scenarios
/// (`by_stock` as [`sparse_stock_scenarios`] returns it) to its tail: each
/// stock-driven leg is priced under each of its stock's own moves, every
/// other leg as when nothing moves (an option still ages by the horizon, so
/// its P&L there is its time decay, not zero).
pub(crate) fn evaluate_sparse(
    prepared: &Prepared,
    legs: &[Leg],
    by_stock: &[Vec<(usize, f64)>],
    bounds: Bounds,
    tails: &mut [Tail],
) {
    let (leg_sparse, leg_still): (Vec<Vec<(usize, f64)>>, Vec<f64>) = legs
        .par_iter()
        .map_init(
            || (Scratch::new(3), Vec::new()),
            |(scratch, pnl), leg| {
                let moves: &[(usize, f64)] = leg
                    .kind
                    .driver()
                    .and_then(|d| d.stock)
                    .and_then(|stock| by_stock.get(stock))
                    .map_or(&[], Vec::as_slice);
                let horizon = prepared.config.horizon_days;
                let own = moves.iter().map(|&(_, own)| own);
                let still = still_and_own_pnl(leg, horizon, own, bounds, scratch, pnl);
                let own = moves.iter().zip(pnl.iter()).map(|(&(s, _), &p)| (s, p));
                (own.collect(), still)
            },
        )
        .unzip();
    let mut all: Vec<usize> = by_stock.iter().flatten().map(|&(s, _)| s).collect();
    all.sort_unstable();
    tails
        .par_iter_mut()
        .zip(prepared.accounts.par_iter())
        .for_each_init(SparseScratch::default, |scratch, (tail, account)| {
            if let PreparedAccount::Ready { holdings, .. } = account {
                offer_sparse(tail, holdings, &leg_sparse, &leg_still, &all, scratch);
            }
        });
}

/// One holding of an account that moves in some sparse scenario: its
/// quantity, its P&L when nothing moves and in its stock's scenarios.
struct Moving<'a> {
    quantity: f64,
    still: f64,
    own: &'a [(usize, f64)],
}

/// Buffers [`offer_sparse`] reuses from one account to the next.
#[derive(Default)]
pub(crate) struct SparseScratch<'a> {
    moving: Vec<Moving<'a>>,
    own: Vec<usize>,
}

/// Offers an account's P&L in the sparse single-stock scenarios. In a
/// scenario of stock X each holding on X has its own-move P&L and every
/// other holding its P&L when nothing moves (`leg_still`: zero for all but
/// options aged by a horizon). Each scenario's sum runs over the holdings in
/// their order, as [`accounts_pnl`](crate::accounts_pnl) sums them; holdings
/// that are zero in every sparse scenario are left out (they add nothing).
pub(crate) fn offer_sparse<'a>(
    tail: &mut Tail,
    holdings: &[(usize, f64)],
    leg_sparse: &'a [Vec<(usize, f64)>],
    leg_still: &[f64],
    all: &[usize],
    scratch: &mut SparseScratch<'a>,
) {
    if all.is_empty() {
        return;
    }
    let moving = &mut scratch.moving;
    moving.clear();
    moving.extend(
        holdings
            .iter()
            .filter(|&&(leg, _)| !leg_sparse[leg].is_empty() || leg_still[leg] != 0.0)
            .map(|&(leg, quantity)| Moving {
                quantity,
                still: leg_still[leg],
                own: &leg_sparse[leg],
            }),
    );
    // The account's P&L in the scenarios of stocks it does not hold.
    let still = moving.iter().fold(0.0, |sum, m| sum + m.quantity * m.still);
    let own = &mut scratch.own;
    own.clear();
    own.extend(moving.iter().flat_map(|m| m.own.iter().map(|&(s, _)| s)));
    own.sort_unstable();
    own.dedup();
    for &scenario in own.iter() {
        let mut sum = 0.0;
        for m in moving.iter() {
            let pnl = m
                .own
                .iter()
                .find(|&&(s, _)| s == scenario)
                .map_or(m.still, |&(_, p)| p);
            sum += m.quantity * pnl;
        }
        tail.offer(sum, scenario);
    }
    // Scenarios of stocks the account does not hold: nothing it holds moves.
    let mut offered = 0;
    for &scenario in all {
        if offered == tail.capacity() {
            break;
        }
        if own.binary_search(&scenario).is_err() {
            tail.offer(still, scenario);
            offered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixed_set;

    /// Leg 0 moves with stock A (scenarios 10 and 11), leg 1 is an option
    /// that decays by 0.5 when nothing moves, leg 2 never moves; scenarios 12
    /// and 13 move a stock the account does not hold.
    fn offered(k: usize) -> Vec<(f64, usize)> {
        let leg_sparse = vec![vec![(10, -3.0), (11, 4.0)], vec![], vec![]];
        let leg_still = vec![0.0, -0.5, 0.0];
        let holdings = [(0, 2.0), (1, 1.0), (2, 5.0)];
        let mut tail = Tail::new(k);
        offer_sparse(
            &mut tail,
            &holdings,
            &leg_sparse,
            &leg_still,
            &[10, 11, 12, 13],
            &mut SparseScratch::default(),
        );
        tail.entries().to_vec()
    }

    #[test]
    fn an_account_moves_with_its_stocks_and_decays_elsewhere() {
        // 10: 2 × −3 + 1 × −0.5 = −6.5; 11: 2 × 4 − 0.5 = 7.5; 12, 13: −0.5.
        assert_eq!(offered(1), vec![(-6.5, 10)]);
        assert_eq!(offered(2), vec![(-6.5, 10), (-0.5, 12)]);
        assert_eq!(
            offered(4),
            vec![(-6.5, 10), (-0.5, 12), (-0.5, 13), (7.5, 11)]
        );
    }

    #[test]
    fn the_single_stock_scenarios_close_the_set_one_stock_each() {
        let set = fixed_set(&["MSFT", "AAPL"]);
        let (start, by_stock) = sparse_stock_scenarios(&set);
        // Two stocks at each single-stock bound (−50 %, +50 %) close the set;
        // stocks are in symbol order.
        assert_eq!(start, set.len() - 4);
        assert_eq!(
            by_stock,
            vec![
                vec![(start, -0.5), (start + 1, 0.5)],
                vec![(start + 2, -0.5), (start + 3, 0.5)],
            ]
        );
        let (start, by_stock) = sparse_stock_scenarios(&fixed_set(&[]));
        assert_eq!(start, fixed_set(&[]).len());
        assert!(by_stock.is_empty());
    }

    #[test]
    fn buffers_reused_from_account_to_account_change_nothing() {
        // Leg 0 on stock A (10, 11), leg 1 on stock B (12, 13), leg 2 decays.
        let leg_sparse = vec![
            vec![(10, -3.0), (11, 4.0)],
            vec![(12, 1.0), (13, -8.0)],
            vec![],
        ];
        let leg_still = vec![0.0, 0.0, -0.5];
        let accounts: [&[(usize, f64)]; 3] = [
            &[(0, 2.0), (1, 1.0), (2, 1.0)],
            &[(1, 0.5)],
            &[(2, 4.0), (0, -1.0)],
        ];
        let all = [10, 11, 12, 13];
        // By hand, k = 1: a: 10 → −6.5, 11 → 7.5, 12 → 0.5, 13 → −8.5;
        // b: 12 → 0.5, 13 → −4, 10 and 11 → 0; c: 10 → 1, 11 → −6, 12 → −2.
        let expected = [(-8.5, 13), (-4.0, 13), (-6.0, 11)];
        let mut shared = SparseScratch::default();
        for (holdings, expected) in accounts.iter().zip(expected) {
            let mut tail = Tail::new(1);
            offer_sparse(
                &mut tail,
                holdings,
                &leg_sparse,
                &leg_still,
                &all,
                &mut shared,
            );
            assert_eq!(tail.entries(), &[expected]);
        }
    }

    #[test]
    fn no_sparse_scenarios_offer_nothing() {
        let mut tail = Tail::new(1);
        offer_sparse(
            &mut tail,
            &[(0, 1.0)],
            &[vec![]],
            &[-1.0],
            &[],
            &mut SparseScratch::default(),
        );
        assert!(tail.entries().is_empty());
    }
}
