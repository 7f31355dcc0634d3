use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use exfee_model::{Bounds, FactorTable, FxTable};
use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use crate::draw::Draws;
use crate::{
    DEFAULT_EQUITY_VOL_NAME, FixedScenario, ScenarioError, ScenarioSpec, Shock, format_move,
};

/// A single stock of the batch: a symbol with a move of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleStock {
    /// The stock's symbol.
    pub symbol: String,
    /// Annualised own volatility (used by Monte Carlo draws: the own move
    /// scales with it relative to `single_stock.default_idio_vol`).
    pub idio_vol: f64,
}

/// Minimum number of scenarios a rayon task draws.
const PARALLEL_MIN_SCENARIOS: usize = 32;

/// The moves of a block of consecutive scenarios, variable-major: all the
/// block's moves of one variable are contiguous, so the revaluer's inner
/// loops run over scenarios with unit stride.
#[derive(Debug, Clone, Default)]
pub struct MoveBlock {
    start: usize,
    len: usize,
    factors: Vec<f64>,
    currencies: Vec<f64>,
    stocks: Vec<f64>,
    vol: Vec<f64>,
    /// Where each single stock's column is in `stocks` when the block holds
    /// only chosen stocks ([`ScenarioSet::fill_selected`]); empty when it
    /// holds every stock in set order. `usize::MAX`: not held.
    stock_slots: Vec<usize>,
    /// The stocks given a slot in `stock_slots` by the last selected fill:
    /// only their entries are set back to `usize::MAX` by the next one (a
    /// report fills its worst scenarios one at a time for a few stocks of
    /// thousands, and marking every stock "not held" each time was most
    /// of the fill).
    slotted: Vec<usize>,
    /// Scenario-major scratch of the draws (never read by callers).
    scratch: Vec<f64>,
}

impl MoveBlock {
    /// Index of the block's first scenario.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Number of scenarios in the block.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the block holds no scenario.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves of primary factor `index` over the block.
    pub fn factor(&self, index: usize) -> &[f64] {
        &self.factors[index * self.len..(index + 1) * self.len]
    }

    /// Moves of currency `index` (FX-table order) against any base.
    pub fn currency(&self, index: usize) -> &[f64] {
        &self.currencies[index * self.len..(index + 1) * self.len]
    }

    /// Own moves of single stock `index` (before adding its factor move).
    ///
    /// # Panics
    ///
    /// For a block filled by [`ScenarioSet::fill_selected`], when stock
    /// `index` was not among the stocks asked for (a caller's bug: it must
    /// ask for every stock it reads).
    pub fn stock(&self, index: usize) -> &[f64] {
        let slot = if self.stock_slots.is_empty() {
            index
        } else {
            let slot = self.stock_slots[index];
            assert!(slot != usize::MAX, "stock {index} was not filled");
            slot
        };
        &self.stocks[slot * self.len..(slot + 1) * self.len]
    }

    /// Moves of the equity-volatility factor over the block: relative
    /// changes of implied volatility (σ' = σ·(1 + move)). Zero in every
    /// fixed scenario but the two equity-volatility ones.
    pub fn vol(&self) -> &[f64] {
        &self.vol[..self.len]
    }

    fn reset(&mut self, range: &Range<usize>, factors: usize, currencies: usize, stocks: usize) {
        self.start = range.start;
        self.len = range.len();
        for (buffer, count) in [
            (&mut self.factors, factors),
            (&mut self.currencies, currencies),
            (&mut self.stocks, stocks),
            (&mut self.vol, 1),
        ] {
            buffer.clear();
            buffer.resize(count * self.len, 0.0);
        }
    }
}

/// The moves of every draw of a set that the set keeps
/// ([`ScenarioSet::kept_draws`]): read in place, over draw indices.
#[derive(Debug, Clone)]
pub struct KeptDraws<'a> {
    common: &'a MoveBlock,
    /// Per single stock of the set, its own moves when asked for.
    stocks: Vec<Option<&'a [f64]>>,
}

impl<'a> KeptDraws<'a> {
    /// Number of draws.
    pub fn len(&self) -> usize {
        self.common.len
    }

    /// Whether the set has no draw.
    pub fn is_empty(&self) -> bool {
        self.common.len == 0
    }

    /// Moves of primary factor `index` in every draw.
    pub fn factor(&self, index: usize) -> &'a [f64] {
        let common: &'a MoveBlock = self.common;
        common.factor(index)
    }

    /// Moves of currency `index` (FX-table order) in every draw.
    pub fn currency(&self, index: usize) -> &'a [f64] {
        let common: &'a MoveBlock = self.common;
        common.currency(index)
    }

    /// Moves of the equity-volatility factor in every draw.
    pub fn vol(&self) -> &'a [f64] {
        let common: &'a MoveBlock = self.common;
        common.vol()
    }

    /// Own moves of single stock `index` in every draw.
    ///
    /// # Panics
    ///
    /// When stock `index` was not among the stocks asked for (a caller's
    /// bug, as for [`MoveBlock::stock`]).
    pub fn stock(&self, index: usize) -> &'a [f64] {
        match self.stocks.get(index) {
            Some(Some(column)) => column,
            _ => panic!("stock {index} was not kept"),
        }
    }
}

/// A set of scenarios over the primary factors of a factor table, the
/// currencies of an FX table, the equity-volatility factor and the single
/// stocks of a batch.
///
/// Two kinds of set:
/// - the fixed stress set ([`ScenarioSet::fixed_stress`]): named scenarios,
///   one move each;
/// - the Monte Carlo set ([`ScenarioSet::monte_carlo`]): unnamed draws at
///   indices `0..draw_count()`, then (when the configuration includes them)
///   the fixed stress scenarios. A draw's index, and its moves, never depend
///   on which single stocks the batch holds.
///
/// Moves are generated on demand by [`ScenarioSet::fill`], never held for
/// the whole set.
///
/// # Examples
///
/// ```
/// use exfee_model::{Bounds, Decimal, FactorTable, FxTable, PrimaryFactor};
/// use exfee_scenarios::{MoveBlock, ScenarioSet};
///
/// let pct = |p: i64| Decimal::from(p);
/// let table = FactorTable::new(vec![
///     PrimaryFactor { name: "Equity".into(), representative: "S&P 500".into(), symbol: "SPX".into(),
///                     bounds: Bounds::new("Equity", pct(-30), pct(20)).unwrap() },
///     PrimaryFactor { name: "Individual Stocks".into(), representative: String::new(), symbol: String::new(),
///                     bounds: Bounds::new("stocks", pct(-50), pct(50)).unwrap() },
/// ]).unwrap();
/// let set = ScenarioSet::fixed_stress(table, FxTable::new(vec![]).unwrap(), vec![]);
/// assert_eq!(set.len(), 2);
/// assert_eq!(set.name(0), Some("Equity@-30%"));
/// let mut block = MoveBlock::default();
/// set.fill(0..2, &mut block);
/// assert_eq!(block.factor(0), &[-0.30, 0.20]);
/// assert_eq!(block.vol(), &[0.0, 0.0]);
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioSet {
    factor_table: FactorTable,
    fx_table: FxTable,
    stocks: Vec<SingleStock>,
    fixed: Vec<FixedScenario>,
    draws: Option<Arc<Draws>>,
    equity_vol_name: String,
    kept: Arc<Kept>,
}

/// Bytes of single stocks' own moves a set keeps for
/// [`ScenarioSet::fill_selected`] (beyond it, columns are drawn again on
/// each call rather than kept).
const KEPT_STOCK_BYTES: usize = 1 << 30;

/// Draws kept once made, for callers that read the same scenarios many
/// times over (reports, what-if): every draw's factor, currency and
/// equity-volatility moves (small: variables × draws), and the own moves of
/// the single stocks asked for, each drawn once, within
/// [`KEPT_STOCK_BYTES`]. Values are the draws themselves (each depends on
/// its index only), so keeping them changes no number.
#[derive(Debug, Default)]
struct Kept {
    common: OnceLock<MoveBlock>,
    stocks: Vec<OnceLock<Vec<f64>>>,
    stock_bytes: AtomicUsize,
}

impl Kept {
    fn new(stocks: usize) -> Arc<Self> {
        Arc::new(Kept {
            common: OnceLock::new(),
            stocks: (0..stocks).map(|_| OnceLock::new()).collect(),
            stock_bytes: AtomicUsize::new(0),
        })
    }
}

/// Bytes of the draws' factor, currency and volatility moves a
/// [`CommonKeeper`] collects (beyond, nothing is kept from the fills and
/// [`ScenarioSet::kept_draws`] draws them when first asked, as before).
const KEPT_COMMON_BYTES: usize = 64 << 20;

/// The draws' factor, currency and equity-volatility moves, collected from
/// the blocks an evaluation fills with [`ScenarioSet::fill`] in scenario
/// order and kept in the set once every draw went by
/// ([`CommonKeeper::keep`]): [`ScenarioSet::kept_draws`] then reads them
/// rather than drawing every draw again. The values are the same (a fill
/// draws each draw's moves from its index alone), copied rather than drawn
/// twice. Made by [`ScenarioSet::common_keeper`].
#[derive(Debug)]
pub struct CommonKeeper<'s> {
    set: &'s ScenarioSet,
    /// Draws `..next` of every column, laid out as `kept_draws` keeps them.
    all: MoveBlock,
    /// The draw the next block must start at; `None` once a block did not
    /// follow on (nothing is then kept).
    next: Option<usize>,
}

impl CommonKeeper<'_> {
    /// Takes the factor, currency and volatility moves of `block`'s draws:
    /// a block [`ScenarioSet::fill`] wrote for this set, starting where the
    /// last block taken ended (the first at scenario 0). A block that does
    /// not (another start, another set's shape) stops the keeper: it then
    /// keeps nothing.
    pub fn take(&mut self, block: &MoveBlock) {
        let Some(next) = self.next else {
            return;
        };
        let (len, count) = (block.len, self.all.len);
        let set = self.set;
        let shaped = block.factors.len() == set.factor_table.factors().len() * len
            && block.currencies.len() == set.fx_table.currencies().len() * len
            && block.vol.len() == len;
        if block.start != next || !shaped {
            self.next = None;
            return;
        }
        // The block's draws (its fixed scenarios, if any, come after them).
        let draws = count.saturating_sub(next).min(len);
        for (from, to) in [
            (&block.factors, &mut self.all.factors),
            (&block.currencies, &mut self.all.currencies),
            (&block.vol, &mut self.all.vol),
        ] {
            for (column, kept) in from
                .chunks_exact(len.max(1))
                .zip(to.chunks_exact_mut(count))
            {
                kept[next..next + draws].copy_from_slice(&column[..draws]);
            }
        }
        self.next = Some(next + draws);
    }

    /// Keeps the moves taken in the set when they cover every draw (unless
    /// the set has them already).
    pub fn keep(self) {
        if self.next == Some(self.all.len) {
            // `Err`: kept already (drawn by a reader meanwhile), the same values.
            self.set.kept.common.set(self.all).ok();
        }
    }
}

/// Sorted by symbol (ties by volatility, so the result does not depend on
/// input order), one per symbol.
fn sorted_stocks(mut stocks: Vec<SingleStock>) -> Vec<SingleStock> {
    stocks.sort_by(|a, b| {
        a.symbol
            .cmp(&b.symbol)
            .then(a.idio_vol.total_cmp(&b.idio_vol))
    });
    stocks.dedup_by(|a, b| a.symbol == b.symbol);
    stocks
}

/// For each primary factor one scenario at its lower and one at its upper
/// bound; the same for each currency; then for the equity-volatility
/// factor (when given); then for each single stock's own move.
fn fixed_scenarios(
    factor_table: &FactorTable,
    fx_table: &FxTable,
    equity_vol: Option<(&str, Bounds)>,
    stocks: &[SingleStock],
) -> Vec<FixedScenario> {
    let mut fixed = Vec::new();
    let mut both = |label: &str, bounds: Bounds, make: &dyn Fn(f64) -> Shock| {
        for pct in [bounds.lower_pct, bounds.upper_pct] {
            let fraction = (pct / rust_decimal::Decimal::ONE_HUNDRED)
                .to_f64()
                .unwrap_or(0.0);
            fixed.push(FixedScenario {
                name: format!("{label}@{}", format_move(pct)),
                shock: make(fraction),
            });
        }
    };
    for (index, factor) in factor_table.factors().iter().enumerate() {
        both(&factor.name, factor.bounds, &|fraction| Shock::Factor {
            index,
            fraction,
        });
    }
    for (index, fx) in fx_table.currencies().iter().enumerate() {
        both(fx.currency.as_str(), fx.bounds, &|fraction| {
            Shock::Currency { index, fraction }
        });
    }
    if let Some((name, bounds)) = equity_vol {
        both(name, bounds, &|fraction| Shock::Vol { fraction });
    }
    let stock_bounds = factor_table.single_stock_bounds();
    for (index, stock) in stocks.iter().enumerate() {
        both(&stock.symbol, stock_bounds, &|fraction| Shock::Stock {
            index,
            fraction,
        });
    }
    fixed
}

impl ScenarioSet {
    /// The fixed stress set: for each primary factor one scenario at its
    /// lower and one at its upper bound; for each currency one at each bound
    /// (its value against the account's base currency); for each single
    /// stock its own move to each single-stock bound. Everything else still
    /// (the equity-volatility move is zero throughout).
    ///
    /// `stocks` are sorted by symbol and de-duplicated, so the set does not
    /// depend on the order accounts were read in.
    pub fn fixed_stress(
        factor_table: FactorTable,
        fx_table: FxTable,
        stocks: Vec<SingleStock>,
    ) -> Self {
        let stocks = sorted_stocks(stocks);
        let stocks_len = stocks.len();
        let fixed = fixed_scenarios(&factor_table, &fx_table, None, &stocks);
        ScenarioSet {
            factor_table,
            fx_table,
            stocks,
            fixed,
            draws: None,
            equity_vol_name: DEFAULT_EQUITY_VOL_NAME.to_string(),
            kept: Kept::new(stocks_len),
        }
    }

    /// The Monte Carlo set of `spec` for a batch holding `stocks`:
    /// `spec.config().scenarios` draws (indices `0..n`), then, when
    /// `include_fixed`, the fixed stress scenarios (factors, currencies, the
    /// two equity-volatility scenarios `<name>@<lower>%` and
    /// `<name>@<upper>%`, the single stocks).
    ///
    /// `stocks` are sorted by symbol and de-duplicated. A draw's moves depend
    /// only on the seed, its index and (for an own move) the stock's symbol
    /// and volatility.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::BadIdioVol`] for a stock whose volatility is negative
    /// or not finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_model::{Bounds, Decimal, FactorTable, FxTable, PrimaryFactor};
    /// use exfee_scenarios::{MoveBlock, ScenarioConfig, ScenarioSet, ScenarioSpec, SingleStock,
    ///                       parse_correlation};
    ///
    /// let pct = |p: i64| Decimal::from(p);
    /// let table = FactorTable::new(vec![
    ///     PrimaryFactor { name: "Equity".into(), representative: "S&P 500".into(), symbol: "SPX".into(),
    ///                     bounds: Bounds::new("Equity", pct(-30), pct(20)).unwrap() },
    ///     PrimaryFactor { name: "Individual Stocks".into(), representative: String::new(), symbol: String::new(),
    ///                     bounds: Bounds::new("stocks", pct(-50), pct(50)).unwrap() },
    /// ]).unwrap();
    /// let config = ScenarioConfig::parse("set.toml",
    ///     "factor_table = 'f.csv'\nfx_table = 'x.csv'\ncorrelation = 'c.csv'\nseed = 1\nscenarios = 100\n").unwrap();
    /// let matrix = parse_correlation("c.csv",
    ///     ",Equity,Equity Volatility\nEquity,1,-0.7\nEquity Volatility,-0.7,1\n".as_bytes()).unwrap();
    /// let spec = ScenarioSpec::new(config, table, FxTable::new(vec![]).unwrap(), matrix).unwrap();
    /// let stocks = vec![SingleStock { symbol: "AAPL".into(), idio_vol: 0.35 }];
    /// let set = ScenarioSet::monte_carlo(&spec, stocks).unwrap();
    /// // 100 draws, then Equity, Equity Volatility and AAPL at each bound.
    /// assert_eq!(set.len(), 106);
    /// assert_eq!(set.name(5), None);
    /// assert_eq!(set.name(102), Some("Equity Volatility@-30%"));
    ///
    /// let mut block = MoveBlock::default();
    /// set.fill(0..106, &mut block);
    /// assert!(block.factor(0).iter().all(|m| (-0.30..=0.20).contains(m)));
    /// assert!(block.vol().iter().all(|m| (-0.30..=1.50).contains(m)));
    /// assert_eq!(block.vol()[103], 1.5);
    /// ```
    pub fn monte_carlo(
        spec: &ScenarioSpec,
        stocks: Vec<SingleStock>,
    ) -> Result<Self, ScenarioError> {
        let stocks = sorted_stocks(stocks);
        let stocks_len = stocks.len();
        let draws = Draws::new(spec, &stocks)?;
        let name = spec.config().equity_vol.name.clone();
        let fixed = if spec.config().include_fixed {
            fixed_scenarios(
                spec.factor_table(),
                spec.fx_table(),
                Some((&name, spec.equity_vol_bounds())),
                &stocks,
            )
        } else {
            Vec::new()
        };
        Ok(ScenarioSet {
            factor_table: spec.factor_table().clone(),
            fx_table: spec.fx_table().clone(),
            stocks,
            fixed,
            draws: Some(Arc::new(draws)),
            equity_vol_name: name,
            kept: Kept::new(stocks_len),
        })
    }

    /// Number of scenarios: Monte Carlo draws plus fixed stress scenarios.
    pub fn len(&self) -> usize {
        self.draw_count() + self.fixed.len()
    }

    /// Whether the set has no scenario.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of Monte Carlo draws (indices `0..draw_count()`); 0 for a fixed
    /// stress set.
    pub fn draw_count(&self) -> usize {
        self.draws.as_ref().map_or(0, |d| d.count())
    }

    /// The name of scenario `index` (`None` for an unnamed Monte Carlo draw
    /// or an index out of range).
    pub fn name(&self, index: usize) -> Option<&str> {
        index
            .checked_sub(self.draw_count())
            .and_then(|i| self.fixed.get(i))
            .map(|s| s.name.as_str())
    }

    /// The fixed stress scenarios of the set (indices `draw_count()..len()`).
    pub fn fixed(&self) -> &[FixedScenario] {
        &self.fixed
    }

    /// The primary factors and single-stock bounds.
    pub fn factor_table(&self) -> &FactorTable {
        &self.factor_table
    }

    /// The currencies and their bounds.
    pub fn fx_table(&self) -> &FxTable {
        &self.fx_table
    }

    /// The name of the equity-volatility factor (the configured one, or
    /// `Equity Volatility` for a fixed stress set).
    pub fn equity_vol_name(&self) -> &str {
        &self.equity_vol_name
    }

    /// The single stocks, sorted by symbol.
    pub fn stocks(&self) -> &[SingleStock] {
        &self.stocks
    }

    /// Index of a single stock in [`ScenarioSet::stocks`].
    pub fn stock_index(&self, symbol: &str) -> Option<usize> {
        self.stocks
            .binary_search_by(|s| s.symbol.as_str().cmp(symbol))
            .ok()
    }

    /// Writes the moves of scenarios `range` into `block` (reusing its
    /// buffers). `range` is clipped to the set.
    ///
    /// Draws are generated in parallel (rayon) and each depends only on its
    /// own index, so the result is bit-identical whatever the range split,
    /// block size or thread count.
    pub fn fill(&self, range: Range<usize>, block: &mut MoveBlock) {
        let range = range.start.min(self.len())..range.end.min(self.len());
        let factor_count = self.factor_table.factors().len();
        let currency_count = self.fx_table.currencies().len();
        block.reset(&range, factor_count, currency_count, self.stocks.len());
        // Every stock, in set order: no slot table.
        block.stock_slots.clear();
        block.slotted.clear();
        let len = block.len;
        let draw_end = self.draw_count();
        let draws_in_range = range.start.min(draw_end)..range.end.min(draw_end);
        if let Some(draws) = &self.draws
            && !draws_in_range.is_empty()
        {
            self.fill_draws(draws, draws_in_range, block);
        }
        for index in range.start.max(draw_end)..range.end {
            let offset = index - range.start;
            let Some(scenario) = self.fixed.get(index - draw_end) else {
                continue;
            };
            let (buffer, index, fraction) = match scenario.shock {
                Shock::Factor { index, fraction } => (&mut block.factors, index, fraction),
                Shock::Currency { index, fraction } => (&mut block.currencies, index, fraction),
                Shock::Stock { index, fraction } => (&mut block.stocks, index, fraction),
                Shock::Vol { fraction } => (&mut block.vol, 0, fraction),
            };
            buffer[index * len + offset] = fraction;
        }
    }

    /// Like [`ScenarioSet::fill`], but only the own moves of single stocks
    /// `stocks` (indices in [`ScenarioSet::stocks`]) are written; reading
    /// any other stock of the block panics. Values are bit-identical to
    /// [`ScenarioSet::fill`]'s.
    ///
    /// For callers that read the same scenarios again and again (reports,
    /// what-if): the draws' factor, currency and volatility moves are drawn
    /// once per set and kept, and so is each stock's own moves over all
    /// draws the first time it is asked for (up to 1 GiB of them per set;
    /// beyond, columns are drawn on each call).
    pub fn fill_selected(&self, range: Range<usize>, block: &mut MoveBlock, stocks: &[usize]) {
        self.fill_kept(range, block, stocks, None);
    }

    /// Like [`ScenarioSet::fill_selected`], but of the draws' factor and
    /// currency moves only those of `factors` and `currencies` (indices in
    /// the factor and FX tables) are written, for a caller that reads no
    /// other: the block's other factor and currency columns are zero but
    /// where a fixed scenario of the range shocks them. The columns written
    /// are bit-identical to [`ScenarioSet::fill`]'s.
    pub fn fill_selected_columns(
        &self,
        range: Range<usize>,
        block: &mut MoveBlock,
        stocks: &[usize],
        factors: &[usize],
        currencies: &[usize],
    ) {
        self.fill_kept(range, block, stocks, Some((factors, currencies)));
    }

    /// [`ScenarioSet::fill_selected`] copying the draws' moves of every
    /// factor and currency (`columns` `None`), or of those named.
    fn fill_kept(
        &self,
        range: Range<usize>,
        block: &mut MoveBlock,
        stocks: &[usize],
        columns: Option<(&[usize], &[usize])>,
    ) {
        let range = range.start.min(self.len())..range.end.min(self.len());
        let factor_count = self.factor_table.factors().len();
        let currency_count = self.fx_table.currencies().len();
        block.reset(&range, factor_count, currency_count, stocks.len());
        // The last selection's slots back to "not held" (every other entry
        // is), then this one's.
        for &stock in &block.slotted {
            if let Some(at) = block.stock_slots.get_mut(stock) {
                *at = usize::MAX;
            }
        }
        block.slotted.clear();
        block.stock_slots.resize(self.stocks.len(), usize::MAX);
        for (slot, &stock) in stocks.iter().enumerate() {
            if let Some(at) = block.stock_slots.get_mut(stock) {
                *at = slot;
                block.slotted.push(stock);
            }
        }
        let len = block.len;
        let draw_end = self.draw_count();
        let draws_in_range = range.start.min(draw_end)..range.end.min(draw_end);
        if let Some(draws) = &self.draws
            && !draws_in_range.is_empty()
        {
            let common = self.kept_common(draws);
            let (a, b) = (draws_in_range.start, draws_in_range.end);
            let n = b - a;
            let all_factors: Vec<usize>;
            let all_currencies: Vec<usize>;
            let (factors, currencies) = match columns {
                Some(named) => named,
                None => {
                    all_factors = (0..factor_count).collect();
                    all_currencies = (0..currency_count).collect();
                    (&all_factors[..], &all_currencies[..])
                }
            };
            for &j in factors.iter().filter(|&&j| j < factor_count) {
                block.factors[j * len..j * len + n].copy_from_slice(&common.factor(j)[a..b]);
            }
            for &j in currencies.iter().filter(|&&j| j < currency_count) {
                block.currencies[j * len..j * len + n].copy_from_slice(&common.currency(j)[a..b]);
            }
            block.vol[..n].copy_from_slice(&common.vol()[a..b]);
            // A task copies (or draws) at least PARALLEL_MIN_SCENARIOS
            // moves: a report's worst scenarios, filled one at a time, are
            // copied on the calling thread rather than shared out a stock
            // per task.
            block
                .stocks
                .par_chunks_mut(len)
                .zip(stocks.par_iter())
                .with_min_len(PARALLEL_MIN_SCENARIOS.div_ceil(n))
                .for_each(|(column, &stock)| {
                    if stock >= self.stocks.len() {
                        return;
                    }
                    let column = &mut column[..n];
                    match self.kept_stock(draws, stock) {
                        Some(kept) => column.copy_from_slice(&kept[a..b]),
                        None => draws.idio_moves(stock, a..b, column),
                    }
                });
        }
        for index in range.start.max(draw_end)..range.end {
            let offset = index - range.start;
            let Some(scenario) = self.fixed.get(index - draw_end) else {
                continue;
            };
            let (buffer, index, fraction) = match scenario.shock {
                Shock::Factor { index, fraction } => (&mut block.factors, index, fraction),
                Shock::Currency { index, fraction } => (&mut block.currencies, index, fraction),
                Shock::Stock { index, fraction } => match block.stock_slots.get(index) {
                    Some(&slot) if slot != usize::MAX => (&mut block.stocks, slot, fraction),
                    _ => continue,
                },
                Shock::Vol { fraction } => (&mut block.vol, 0, fraction),
            };
            buffer[index * len + offset] = fraction;
        }
    }

    /// A [`CommonKeeper`] for an evaluation about to fill the set's draws
    /// block by block from scenario 0; `None` for a set without draws, one
    /// that keeps them already, or when they would take more than 64 MiB.
    pub fn common_keeper(&self) -> Option<CommonKeeper<'_>> {
        let count = self.draw_count();
        let columns = self.factor_table.factors().len() + self.fx_table.currencies().len() + 1;
        let bytes = columns
            .checked_mul(count)?
            .checked_mul(std::mem::size_of::<f64>())?;
        if count == 0 || bytes > KEPT_COMMON_BYTES || self.kept.common.get().is_some() {
            return None;
        }
        Some(CommonKeeper {
            set: self,
            all: self.common_layout(),
            next: Some(0),
        })
    }

    /// Whether the set keeps the draws' factor, currency and volatility
    /// moves (for tests).
    #[cfg(test)]
    pub(crate) fn keeps_common(&self) -> bool {
        self.kept.common.get().is_some()
    }

    /// The draws' moves the set keeps for [`ScenarioSet::fill_selected`],
    /// read where they are rather than copied into a block: every factor's,
    /// currency's and the volatility's over all draws, and the own moves of
    /// single stocks `stocks` (each drawn the first time it is asked for,
    /// as `fill_selected` draws it). `None` for a fixed stress set, or when
    /// a stock is beyond the set's budget for kept columns (a caller then
    /// fills blocks). Values are bit-identical to [`ScenarioSet::fill`]'s.
    pub fn kept_draws(&self, stocks: &[usize]) -> Option<KeptDraws<'_>> {
        let draws = self.draws.as_deref()?;
        let common = self.kept_common(draws);
        let columns: Vec<Option<&[f64]>> = stocks
            .par_iter()
            .map(|&stock| self.kept_stock(draws, stock))
            .collect();
        let mut kept = vec![None; self.stocks.len()];
        for (&stock, column) in stocks.iter().zip(columns) {
            *kept.get_mut(stock)? = Some(column?);
        }
        Some(KeptDraws {
            common,
            stocks: kept,
        })
    }

    /// Every draw's factor, currency and volatility moves, drawn once and
    /// kept.
    fn kept_common(&self, draws: &Draws) -> &MoveBlock {
        self.kept.common.get_or_init(|| {
            let mut all = self.common_layout();
            self.fill_draws(draws, 0..draws.count(), &mut all);
            all.scratch = Vec::new();
            all
        })
    }

    /// A block of every draw's factor, currency and volatility columns (no
    /// single stock), as the set keeps them: [`ScenarioSet::kept_common`]
    /// draws into it, a [`CommonKeeper`] copies into it.
    fn common_layout(&self) -> MoveBlock {
        let mut all = MoveBlock::default();
        all.reset(
            &(0..self.draw_count()),
            self.factor_table.factors().len(),
            self.fx_table.currencies().len(),
            0,
        );
        all
    }

    /// Stock `stock`'s own moves over every draw, drawn once and kept while
    /// the set's budget for them lasts (`None` beyond it).
    fn kept_stock(&self, draws: &Draws, stock: usize) -> Option<&[f64]> {
        let cell = self.kept.stocks.get(stock)?;
        if let Some(column) = cell.get() {
            return Some(column);
        }
        let count = draws.count();
        let bytes = count * std::mem::size_of::<f64>();
        let before = self.kept.stock_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > KEPT_STOCK_BYTES {
            self.kept.stock_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        let mut filled = false;
        let column = cell.get_or_init(|| {
            filled = true;
            let mut column = vec![0.0; count];
            draws.idio_moves(stock, 0..count, &mut column);
            column
        });
        if !filled {
            // Another thread kept it first: give the budget back.
            self.kept.stock_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        Some(column)
    }

    /// Draws `range` (all draws, starting at the block's start) into
    /// `block`.
    fn fill_draws(&self, draws: &Draws, range: Range<usize>, block: &mut MoveBlock) {
        let len = block.len;
        let count = range.len();
        let k = draws.dims();
        let factor_count = self.factor_table.factors().len();
        let currency_count = self.fx_table.currencies().len();
        if k == 0 || len == 0 {
            return;
        }
        let mut scratch = std::mem::take(&mut block.scratch);
        scratch.clear();
        scratch.resize(count * k, 0.0);
        let start = range.start;
        scratch
            .par_chunks_mut(k)
            .enumerate()
            .with_min_len(PARALLEL_MIN_SCENARIOS)
            .for_each_init(
                || vec![0.0; k],
                |z, (offset, row)| draws.moves(start + offset, z, row),
            );
        for (offset, row) in scratch.chunks_exact(k).enumerate() {
            let (factors, rest) = row.split_at(factor_count);
            let (currencies, vol) = rest.split_at(currency_count);
            for (j, &m) in factors.iter().enumerate() {
                block.factors[j * len + offset] = m;
            }
            for (j, &m) in currencies.iter().enumerate() {
                block.currencies[j * len + offset] = m;
            }
            if let Some(&m) = vol.first() {
                block.vol[offset] = m;
            }
        }
        block.scratch = scratch;
        block
            .stocks
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(stock, column)| {
                draws.idio_moves(stock, range.clone(), &mut column[..count]);
            });
    }

    /// Single stock `stock`'s own moves over draws `range` (clipped to the
    /// draws and to `out`) into the start of `out`; returns how many were
    /// written (0 for a fixed stress set or an unknown stock). The same
    /// values [`ScenarioSet::fill`] puts in [`MoveBlock::stock`].
    pub fn own_moves(&self, stock: usize, range: Range<usize>, out: &mut [f64]) -> usize {
        let Some((draws, range)) = self.own_range(stock, range, out.len()) else {
            return 0;
        };
        let len = range.len();
        draws.idio_moves(stock, range, &mut out[..len]);
        len
    }

    /// The standard normal scores behind [`ScenarioSet::own_moves`]: Φ⁻¹ of
    /// the stock's own draws (ChaCha20 keyed by the seed, `IDIOSYN` and the
    /// FNV-1a hash of the symbol; draw `i` is ((x >> 11) + ½)·2⁻⁵³ of the
    /// stream's `i`-th 64-bit output x), bit for bit
    /// `−√2·statrs::function::erf::erfc_inv(2p)` in draw version 1 and
    /// [`normal_quantile_v2`](crate::normal_quantile_v2)`(p)` in version 2.
    /// Returns how many were written, as [`ScenarioSet::own_moves`].
    pub fn own_scores(&self, stock: usize, range: Range<usize>, out: &mut [f64]) -> usize {
        let Some((draws, range)) = self.own_range(stock, range, out.len()) else {
            return 0;
        };
        let len = range.len();
        draws.idio_scores(stock, range, &mut out[..len]);
        len
    }

    /// The draws and the part of `range` that [`ScenarioSet::own_moves`]
    /// and [`ScenarioSet::own_scores`] write: clipped to the draws and to
    /// `room` values; `None` for a fixed stress set or an unknown stock.
    fn own_range(
        &self,
        stock: usize,
        range: Range<usize>,
        room: usize,
    ) -> Option<(&Draws, Range<usize>)> {
        let draws = self.draws.as_deref()?;
        if stock >= self.stocks.len() {
            return None;
        }
        let end = range.end.min(draws.count());
        let len = end.saturating_sub(range.start).min(room);
        Some((draws, range.start..range.start + len))
    }

    /// The standard normal scores z' of draw `index`, in the order
    /// factors, currencies, equity volatility (for tests).
    #[cfg(test)]
    pub(crate) fn normal_scores(&self, index: usize) -> Vec<f64> {
        let draws = self.draws.as_ref().expect("a Monte Carlo set");
        let mut z = vec![0.0; draws.dims()];
        let mut out = vec![0.0; draws.dims()];
        draws.normal_scores(index, &mut z, &mut out);
        out
    }

    /// The standard normal scores of stock `stock`'s own draws (for tests).
    #[cfg(test)]
    pub(crate) fn idio_scores(&self, stock: usize, range: Range<usize>) -> Vec<f64> {
        let draws = self.draws.as_ref().expect("a Monte Carlo set");
        let mut out = vec![0.0; range.len()];
        draws.idio_scores(stock, range, &mut out);
        out
    }
}
