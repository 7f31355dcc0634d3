use std::ops::Range;

use exfee_model::{Bounds, FactorTable, FxTable};
use rust_decimal::prelude::ToPrimitive;

use crate::{FixedScenario, Shock, format_move};

/// A single stock of the batch: a symbol with a move of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleStock {
    /// The stock's symbol.
    pub symbol: String,
    /// Annualised own volatility (used by Monte Carlo draws).
    pub idio_vol: f64,
}

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
    pub fn stock(&self, index: usize) -> &[f64] {
        &self.stocks[index * self.len..(index + 1) * self.len]
    }

    fn reset(&mut self, range: &Range<usize>, factors: usize, currencies: usize, stocks: usize) {
        self.start = range.start;
        self.len = range.len();
        for (buffer, count) in [
            (&mut self.factors, factors),
            (&mut self.currencies, currencies),
            (&mut self.stocks, stocks),
        ] {
            buffer.clear();
            buffer.resize(count * self.len, 0.0);
        }
    }
}

/// A set of scenarios over the primary factors of a factor table, the
/// currencies of an FX table and the single stocks of a batch.
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
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioSet {
    factor_table: FactorTable,
    fx_table: FxTable,
    stocks: Vec<SingleStock>,
    fixed: Vec<FixedScenario>,
}

impl ScenarioSet {
    /// The fixed stress set: for each primary factor one scenario at its
    /// lower and one at its upper bound; for each currency one at each bound
    /// (its value against the account's base currency); for each single
    /// stock its own move to each single-stock bound. Everything else still.
    ///
    /// `stocks` are sorted by symbol and de-duplicated, so the set does not
    /// depend on the order accounts were read in.
    pub fn fixed_stress(
        factor_table: FactorTable,
        fx_table: FxTable,
        mut stocks: Vec<SingleStock>,
    ) -> Self {
        stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        stocks.dedup_by(|a, b| a.symbol == b.symbol);
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
        let stock_bounds = factor_table.single_stock_bounds();
        for (index, stock) in stocks.iter().enumerate() {
            both(&stock.symbol, stock_bounds, &|fraction| Shock::Stock {
                index,
                fraction,
            });
        }
        ScenarioSet {
            factor_table,
            fx_table,
            stocks,
            fixed,
        }
    }

    /// Number of scenarios.
    pub fn len(&self) -> usize {
        self.fixed.len()
    }

    /// Whether the set has no scenario.
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty()
    }

    /// The name of scenario `index` (`None` for an unnamed Monte Carlo draw
    /// or an index out of range).
    pub fn name(&self, index: usize) -> Option<&str> {
        self.fixed.get(index).map(|s| s.name.as_str())
    }

    /// The fixed stress scenarios of the set.
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
    pub fn fill(&self, range: Range<usize>, block: &mut MoveBlock) {
        let range = range.start.min(self.len())..range.end.min(self.len());
        block.reset(
            &range,
            self.factor_table.factors().len(),
            self.fx_table.currencies().len(),
            self.stocks.len(),
        );
        let len = block.len;
        for (offset, scenario) in self.fixed[range].iter().enumerate() {
            let (buffer, index, fraction) = match scenario.shock {
                Shock::Factor { index, fraction } => (&mut block.factors, index, fraction),
                Shock::Currency { index, fraction } => (&mut block.currencies, index, fraction),
                Shock::Stock { index, fraction } => (&mut block.stocks, index, fraction),
            };
            buffer[index * len + offset] = fraction;
        }
    }
}
