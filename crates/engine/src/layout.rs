//! How the evaluation lays its work out: block and panel sizes within the
//! memory budget, the panel row of each leg, the distinct option contracts
//! priced once per block, and the accounts' holdings as panel rows (the
//! sparse side of the aggregation).

use std::ops::Range;
use std::time::Instant;

use exfee_scenarios::MoveBlock;
use rayon::prelude::*;

use crate::kernel::{Kernel, aggregate_rows};
use crate::leg::{Leg, LegDriver, LegKind, OptionLeg};
use crate::pnl::{
    Bounds, Scratch, driver_move, option_pnl, price_leg_cols, price_moved_leg, reprice,
};
use crate::prepare::{Prepared, PreparedAccount};
use crate::result::EvalStats;
use crate::tail::Tail;

/// Scenarios per block at most: beyond this the per-call cost of the
/// American pricer (its boundary grid) is amortised.
pub(crate) const MAX_BLOCK: usize = 2048;
/// Scenarios per panel at most: the legs' P&L over a panel (legs × 256 × 8
/// bytes, 120 MiB for 60,000 legs, much less for the popular legs most
/// holdings are on) stays in the last-level cache while every account that
/// holds a leg reads it.
pub(crate) const MAX_PANEL: usize = 256;

/// Block and panel lengths.
pub(crate) struct Sizes {
    pub(crate) block: usize,
    pub(crate) panel: usize,
}

impl Sizes {
    /// Within the memory budget the contracts' prices over a block
    /// (contracts × block × 8 bytes) and the legs' P&L over a panel (legs ×
    /// panel × 8 bytes) each take at most half; a block holds at least 64
    /// scenarios and a panel at least 8, whatever the budget.
    pub(crate) fn new(budget: usize, contracts: usize, legs: usize, dense: usize) -> Self {
        let half = budget / 2;
        let block = (half / (8 * contracts.max(1))).clamp(64, MAX_BLOCK);
        let block = block.min(dense.max(1));
        let panel = (half / (8 * legs.max(1))).clamp(8, MAX_PANEL);
        let panel = panel.min(block);
        Sizes { block, panel }
    }
}

/// Where each leg's P&L goes in a panel, and the distinct option contracts.
///
/// Rows are ordered by how many accounts hold the leg, most first, so that
/// the P&L most holdings read are packed together in the cache. Contracts
/// are the distinct (option terms, driver) of the option legs, European ones
/// first.
pub(crate) struct Layout {
    /// Panel row of each leg.
    pub(crate) row_of: Vec<usize>,
    /// What each row holds.
    rows: Vec<RowSource>,
    /// The leg whose terms each contract uses.
    pub(crate) contracts: Vec<usize>,
    /// Index of the first American contract.
    pub(crate) american_from: usize,
    /// Option legs: European, American.
    pub(crate) option_legs: [usize; 2],
    /// The distinct drivers of the legs priced from their driver's move
    /// (`RowSource::Driven`), each moved once per panel.
    drivers: Vec<LegDriver>,
}

/// How a row of a panel is computed.
#[derive(Clone, Copy)]
enum RowSource {
    /// Priced from the block's moves (cash: from its currency's).
    Leg(usize),
    /// Priced from driver `driver`'s move (of [`Layout::drivers`]), shared
    /// by every leg with the same driver.
    Driven { leg: usize, driver: usize },
    /// An option leg: its contract's price over the block, converted.
    Option { leg: usize, contract: usize },
}

/// What an option's model price under a scenario depends on (bit patterns),
/// so that legs with equal keys share one model price per scenario.
#[derive(PartialEq, Eq, Hash)]
struct ContractKey {
    factor: usize,
    stock: Option<usize>,
    american: bool,
    call: bool,
    bits: [u64; 7],
}

/// What a driver's move depends on (bit patterns): legs with equal keys
/// share one move per scenario.
#[derive(PartialEq, Eq, Hash)]
struct DriverKey {
    factor: usize,
    stock: Option<usize>,
    beta: u64,
}

impl DriverKey {
    fn of(driver: &LegDriver) -> Self {
        DriverKey {
            factor: driver.factor,
            stock: driver.stock,
            beta: driver.beta.to_bits(),
        }
    }
}

impl ContractKey {
    fn of(option: &OptionLeg) -> Self {
        let d = &option.driver;
        ContractKey {
            factor: d.factor,
            stock: d.stock,
            american: option.american,
            call: matches!(option.right, exfee_pricing::Right::Call),
            bits: [
                d.beta.to_bits(),
                option.strike.to_bits(),
                option.t.to_bits(),
                option.rate.to_bits(),
                option.carry.to_bits(),
                option.spot.to_bits(),
                option.vol.to_bits(),
            ],
        }
    }
}

impl Layout {
    pub(crate) fn new(prepared: &Prepared, legs: &[Leg]) -> Self {
        // Contracts, European first, each in order of first leg.
        let mut keys: std::collections::HashMap<ContractKey, usize> =
            std::collections::HashMap::new();
        let mut by_kind: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        // (kind, index within the kind) of each option leg's contract.
        let mut contract_of: Vec<Option<(usize, usize)>> = vec![None; legs.len()];
        let mut option_legs = [0; 2];
        for (index, leg) in legs.iter().enumerate() {
            if let LegKind::Option(option) = &leg.kind {
                let kind = usize::from(option.american);
                option_legs[kind] += 1;
                let next = by_kind[kind].len();
                let at = *keys.entry(ContractKey::of(option)).or_insert(next);
                if at == next {
                    by_kind[kind].push(index);
                }
                contract_of[index] = Some((kind, at));
            }
        }
        let american_from = by_kind[0].len();
        let [mut contracts, american] = by_kind;
        contracts.extend(american);

        let order = rows_by_popularity(prepared, legs.len());
        let mut row_of = vec![0; legs.len()];
        let mut driver_keys: std::collections::HashMap<DriverKey, usize> =
            std::collections::HashMap::new();
        let mut drivers = Vec::new();
        let rows = order
            .iter()
            .enumerate()
            .map(|(row, &leg)| {
                row_of[leg] = row;
                match (contract_of[leg], legs[leg].kind.driver()) {
                    (Some((kind, at)), _) => RowSource::Option {
                        leg,
                        contract: if kind == 1 { american_from + at } else { at },
                    },
                    (None, Some(driver)) => {
                        let next = drivers.len();
                        let at = *driver_keys.entry(DriverKey::of(driver)).or_insert(next);
                        if at == next {
                            drivers.push(driver.clone());
                        }
                        RowSource::Driven { leg, driver: at }
                    }
                    (None, None) => RowSource::Leg(leg),
                }
            })
            .collect();
        Layout {
            row_of,
            rows,
            contracts,
            american_from,
            option_legs,
            drivers,
        }
    }

    /// Prices every contract over `block` into `prices` (one row of the
    /// block's length per contract).
    pub(crate) fn price_contracts(
        &self,
        legs: &[Leg],
        block: &MoveBlock,
        bounds: Bounds,
        prices: &mut [f64],
        stats: &mut EvalStats,
    ) {
        let len = block.len();
        let (european, american) = prices.split_at_mut(self.american_from * len);
        let (european_legs, american_legs) = self.contracts.split_at(self.american_from);
        for (rows, contracts, time) in [
            (european, european_legs, &mut stats.european_pricing),
            (american, american_legs, &mut stats.american_pricing),
        ] {
            let t = Instant::now();
            rows.par_chunks_mut(len)
                .zip(contracts.par_iter())
                .for_each_init(
                    || Scratch::new(len),
                    |scratch, (out, &leg)| {
                        if let LegKind::Option(option) = &legs[leg].kind {
                            driver_move(&option.driver, block, 0..len, bounds.lo, bounds.hi, out);
                            reprice(
                                option,
                                block.vol(),
                                bounds.vol_floor,
                                (&mut scratch.spots, &mut scratch.vols),
                                out,
                            );
                        }
                    },
                );
            *time += t.elapsed();
        }
    }

    /// Every leg's P&L over scenarios `cols` of the block into `panel` (one
    /// row of `cols.len()` per leg, in layout order). `moves` is scratch for
    /// the distinct drivers' moves over the panel (resized here).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill_panel(
        &self,
        legs: &[Leg],
        block: &MoveBlock,
        prices: &[f64],
        cols: Range<usize>,
        bounds: Bounds,
        moves: &mut Vec<f64>,
        panel: &mut [f64],
    ) {
        let (len, width) = (block.len(), cols.len());
        // Each distinct driver's move once, then every leg on it from there:
        // the same values `price_leg_cols` computes per leg.
        moves.resize(self.drivers.len() * width, 0.0);
        let moves = &mut moves[..self.drivers.len() * width];
        moves
            .par_chunks_mut(width)
            .zip(self.drivers.par_iter())
            .with_min_len(64)
            .for_each(|(out, driver)| {
                driver_move(driver, block, cols.clone(), bounds.lo, bounds.hi, out);
            });
        let moves = &*moves;
        panel
            .par_chunks_mut(width)
            .zip(self.rows.par_iter())
            .with_min_len(64)
            .for_each_init(
                || Scratch::new(width),
                |scratch, (out, &source)| match source {
                    RowSource::Leg(leg) => {
                        price_leg_cols(&legs[leg], block, cols.clone(), bounds, scratch, out);
                    }
                    RowSource::Driven { leg, driver } => {
                        let moves = &moves[driver * width..(driver + 1) * width];
                        price_moved_leg(
                            &legs[leg],
                            moves,
                            block,
                            cols.clone(),
                            bounds,
                            scratch,
                            out,
                        );
                    }
                    RowSource::Option { leg, contract } => {
                        let leg = &legs[leg];
                        let LegKind::Option(option) = &leg.kind else {
                            return;
                        };
                        let model = &prices[contract * len..(contract + 1) * len][cols.clone()];
                        scratch.zeros.resize(width, 0.0);
                        let fx: &[f64] = match leg.fx {
                            Some(i) => &block.currency(i)[cols.clone()],
                            None => &scratch.zeros[..width],
                        };
                        for ((o, &p), &f) in out.iter_mut().zip(model).zip(fx) {
                            *o = option_pnl(leg.rate, option, p, f);
                        }
                    }
                },
            );
    }
}

/// The legs in panel-row order: most held first (by how many ready accounts
/// hold them), ties in leg order, so that the P&L most holdings read are
/// packed together in the cache.
fn rows_by_popularity(prepared: &Prepared, legs: usize) -> Vec<usize> {
    let mut holders = vec![0u32; legs];
    for account in &prepared.accounts {
        if let PreparedAccount::Ready { holdings, .. } = account {
            for &(leg, _) in holdings {
                holders[leg] = holders[leg].saturating_add(1);
            }
        }
    }
    let mut order: Vec<usize> = (0..legs).collect();
    order.sort_by_key(|&leg| (std::cmp::Reverse(holders[leg]), leg));
    order
}

/// Every ready account's holdings as panel rows and quantities, flat, in
/// each account's summing order: the sparse side of the aggregation
/// Σ quantity × leg P&L, a compressed-sparse-row matrix of accounts × panel
/// rows.
#[derive(Debug, Clone)]
pub struct Book {
    ready: Vec<bool>,
    offsets: Vec<usize>,
    rows: Vec<u32>,
    quantities: Vec<f64>,
    row_count: usize,
}

impl Book {
    /// The batch's holdings with its legs in the evaluation's panel-row
    /// order (most held first).
    pub fn new(prepared: &Prepared) -> Self {
        let legs = prepared.legs.len();
        let mut row_of = vec![0; legs];
        for (row, leg) in rows_by_popularity(prepared, legs).into_iter().enumerate() {
            row_of[leg] = row;
        }
        Book::with_rows(prepared, &row_of)
    }

    /// The batch's holdings with leg `l` at panel row `row_of[l]`.
    pub(crate) fn with_rows(prepared: &Prepared, row_of: &[usize]) -> Self {
        let mut book = Book {
            ready: Vec::with_capacity(prepared.accounts.len()),
            offsets: Vec::with_capacity(prepared.accounts.len() + 1),
            rows: Vec::with_capacity(prepared.holding_count()),
            quantities: Vec::with_capacity(prepared.holding_count()),
            row_count: row_of.len(),
        };
        book.offsets.push(0);
        for account in &prepared.accounts {
            if let PreparedAccount::Ready { holdings, .. } = account {
                book.ready.push(true);
                for &(leg, quantity) in holdings {
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "fewer than 2^32 legs: a panel of them would not fit in memory"
                    )]
                    book.rows.push(row_of[leg] as u32);
                    book.quantities.push(quantity);
                }
            } else {
                book.ready.push(false);
            }
            book.offsets.push(book.rows.len());
        }
        book
    }

    /// Number of accounts (ready or not).
    pub fn account_count(&self) -> usize {
        self.ready.len()
    }

    /// Number of panel rows (legs).
    pub fn row_count(&self) -> usize {
        self.row_count
    }

    /// Whether the account is evaluated (a failed one holds nothing).
    pub fn is_ready(&self, account: usize) -> bool {
        self.ready[account]
    }

    /// Where each account's holdings start and end in [`Book::holdings`]'s
    /// flat arrays: `account_count() + 1` offsets.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// One account's holdings: panel rows and quantities, in summing order.
    pub fn holdings(&self, account: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[account]..self.offsets[account + 1];
        (&self.rows[range.clone()], &self.quantities[range])
    }
}

/// One panel's aggregation, as the evaluation runs it: every ready
/// account's P&L over the panel's `width` scenarios (Σ quantity × row P&L,
/// `panel` holding each row's `width` P&L contiguously), offered to its
/// tail as scenarios `first ..`; accounts split between rayon's threads.
///
/// # Panics
///
/// If `tails` is shorter than the book's accounts or `panel` than its rows.
pub fn aggregate_panel(
    book: &Book,
    kernel: Kernel,
    panel: &[f64],
    width: usize,
    first: usize,
    tails: &mut [Tail],
) {
    assert!(tails.len() >= book.account_count(), "a tail per account");
    assert!(
        panel.len() >= book.row_count() * width,
        "a panel row per leg"
    );
    tails
        .par_iter_mut()
        .enumerate()
        .with_min_len(64)
        .for_each_init(
            || vec![0.0; width],
            |scratch, (account, tail)| {
                if book.ready.get(account) == Some(&true) {
                    let (rows, quantities) = book.holdings(account);
                    scratch.resize(width, 0.0);
                    aggregate_rows(kernel, rows, quantities, panel, width, scratch);
                    tail.offer_block(scratch, first);
                }
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{failed, leg, prepared, put, ready};

    fn option(american: bool, strike: f64) -> LegKind {
        LegKind::Option(Box::new(put(american, strike, 0.0)))
    }

    /// Four legs; leg 2 held by three accounts, leg 0 by two, leg 3 by one,
    /// leg 1 by none; account 1 failed.
    fn four(legs: Vec<Leg>) -> Prepared {
        let accounts = vec![
            ready(&[(2, 1.0), (0, 2.0)]),
            failed(),
            ready(&[(3, -1.0), (2, 4.0)]),
            ready(&[(0, 0.5), (2, 3.0)]),
        ];
        prepared(accounts, legs, &[])
    }

    #[test]
    fn rows_go_most_held_first_and_the_book_follows_them() {
        let p = four((0..4).map(|_| leg(LegKind::Cash, 1.0)).collect());
        // Holders: leg 2 → 3, leg 0 → 2, leg 3 → 1, leg 1 → 0.
        assert_eq!(rows_by_popularity(&p, 4), vec![2, 0, 3, 1]);
        let book = Book::new(&p);
        assert_eq!(book.account_count(), 4);
        assert_eq!(book.row_count(), 4);
        assert_eq!(book.offsets(), &[0, 2, 2, 4, 6]);
        assert!(book.is_ready(0) && !book.is_ready(1));
        // Leg 2 is row 0, leg 0 row 1, leg 3 row 2; holding order is kept.
        assert_eq!(book.holdings(0), (&[0u32, 1][..], &[1.0, 2.0][..]));
        assert_eq!(book.holdings(1), (&[][..], &[][..]));
        assert_eq!(book.holdings(2), (&[2u32, 0][..], &[-1.0, 4.0][..]));
    }

    #[test]
    fn a_panel_aggregates_every_ready_account_into_its_tail() {
        let p = four((0..4).map(|_| leg(LegKind::Cash, 1.0)).collect());
        let book = Book::new(&p);
        // Rows (legs 2, 0, 3, 1) over 2 scenarios.
        let panel = [1.0, -1.0, 10.0, 20.0, 100.0, 0.0, 7.0, 7.0];
        let mut tails = vec![Tail::new(2); 4];
        for kernel in Kernel::available() {
            tails.iter_mut().for_each(|t| *t = Tail::new(2));
            aggregate_panel(&book, kernel, &panel, 2, 50, &mut tails);
            // a: 1 × row 0 + 2 × row 1 = [21, 39]; c: −row 2 + 4 × row 0 =
            // [−96, −4]; d: 0.5 × row 1 + 3 × row 0 = [8, 7].
            assert_eq!(tails[0].entries(), &[(21.0, 50), (39.0, 51)]);
            assert!(tails[1].entries().is_empty());
            assert_eq!(tails[2].entries(), &[(-96.0, 50), (-4.0, 51)]);
            assert_eq!(tails[3].entries(), &[(7.0, 51), (8.0, 50)]);
        }
    }

    #[test]
    fn equal_option_terms_share_one_contract_european_first() {
        let legs = vec![
            leg(option(true, 100.0), 1.0),
            leg(option(false, 100.0), 1.0),
            leg(option(true, 100.0), 1.0),
            leg(LegKind::Cash, 1.0),
            leg(option(false, 90.0), 1.0),
        ];
        let p = four(legs.clone());
        let layout = Layout::new(&p, &legs);
        // European contracts: leg 1, leg 4; American: leg 0 (shared by 2).
        assert_eq!(layout.contracts, vec![1, 4, 0]);
        assert_eq!(layout.american_from, 2);
        assert_eq!(layout.option_legs, [2, 2]);
        assert_eq!(layout.row_of, vec![1, 3, 0, 2, 4]);
    }

    #[test]
    fn legs_sharing_a_driver_get_the_panel_rows_each_leg_priced_alone_gives() {
        use crate::testkit::{driver, fixed_set};
        let on = |beta: f64, stock: Option<usize>| LegDriver {
            beta,
            ..driver(stock)
        };
        let legs = vec![
            leg(
                LegKind::Linear {
                    value: 50.0,
                    driver: on(1.0, Some(0)),
                },
                1.0,
            ),
            leg(
                LegKind::Linear {
                    value: 20.0,
                    driver: on(1.0, Some(0)),
                },
                0.8,
            ),
            leg(
                LegKind::Future {
                    notional: -1000.0,
                    driver: on(1.3, None),
                },
                1.0,
            ),
            leg(
                LegKind::Linear {
                    value: 10.0,
                    driver: on(1.3, None),
                },
                1.1,
            ),
            leg(
                LegKind::Linear {
                    value: 7.0,
                    driver: on(1.0, Some(1)),
                },
                1.0,
            ),
            leg(
                LegKind::Linear {
                    value: 5.0,
                    driver: on(0.5, Some(0)),
                },
                1.0,
            ),
            leg(LegKind::Cash, 1.25),
            leg(
                LegKind::Option(Box::new(put(
                    true,
                    100.0,
                    exfee_pricing::american(
                        exfee_pricing::Right::Put,
                        100.0,
                        100.0,
                        0.5,
                        0.03,
                        0.01,
                        0.2,
                    ),
                ))),
                1.0,
            ),
        ];
        let holdings: Vec<(usize, f64)> = (0..legs.len()).map(|l| (l, 1.0)).collect();
        let p = prepared(vec![ready(&holdings)], legs.clone(), &["A", "B"]);
        let layout = Layout::new(&p, &legs);
        // Four distinct drivers among the six driven legs.
        assert_eq!(layout.drivers.len(), 4);
        let set = fixed_set(&["A", "B"]);
        let mut block = MoveBlock::default();
        set.fill(0..set.len(), &mut block);
        let len = block.len();
        let bounds = Bounds {
            lo: -0.5,
            hi: 0.5,
            vol_floor: 0.01,
        };
        let mut prices = vec![0.0; layout.contracts.len() * len];
        layout.price_contracts(
            &legs,
            &block,
            bounds,
            &mut prices,
            &mut EvalStats::default(),
        );
        let mut moves = Vec::new();
        for cols in [0..len, 1..len - 1] {
            let width = cols.len();
            let mut panel = vec![f64::NAN; legs.len() * width];
            layout.fill_panel(
                &legs,
                &block,
                &prices,
                cols.clone(),
                bounds,
                &mut moves,
                &mut panel,
            );
            for (l, leg) in legs.iter().enumerate() {
                let mut alone = vec![0.0; width];
                let mut scratch = Scratch::new(width);
                price_leg_cols(leg, &block, cols.clone(), bounds, &mut scratch, &mut alone);
                let row = &panel[layout.row_of[l] * width..(layout.row_of[l] + 1) * width];
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(row), bits(&alone), "leg {l} over {cols:?}");
            }
        }
    }

    #[test]
    fn blocks_and_panels_stay_within_their_bounds() {
        let sizes = Sizes::new(512 << 20, 7_000, 60_000, 10_154);
        assert_eq!((sizes.block, sizes.panel), (MAX_BLOCK, MAX_PANEL));
        // A tiny budget still makes progress.
        let sizes = Sizes::new(1, 7_000, 60_000, 10_154);
        assert_eq!((sizes.block, sizes.panel), (64, 8));
        // Never more than the dense scenarios, a panel never beyond its block.
        let sizes = Sizes::new(512 << 20, 0, 10, 5);
        assert_eq!((sizes.block, sizes.panel), (5, 5));
        // 1 MiB: half / (8 × 100 contracts) = 655 scenarios a block; half /
        // (8 × 1,000 legs) = 65 a panel.
        let sizes = Sizes::new(1 << 20, 100, 1_000, 10_000);
        assert_eq!((sizes.block, sizes.panel), (655, 65));
    }
}
