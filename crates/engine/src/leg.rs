//! What the engine prices: legs (an instrument or a cash currency seen from
//! one base currency) and what they are, for reports.

use exfee_model::{Currency, Decimal};
use exfee_pricing::Right;

/// How one leg's value moves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LegKind {
    /// Cash in a currency: value 1 per unit, moves with FX only.
    Cash,
    /// A stock, ETF, bond or coin: `value` = multiplier × mark per unit.
    Linear { value: f64, driver: LegDriver },
    /// A future: P&L per unit = `notional` × move (multiplier × mark).
    Future { notional: f64, driver: LegDriver },
    /// An option, repriced in every scenario.
    Option(Box<OptionLeg>),
}

/// What an option leg needs to be repriced under a scenario.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OptionLeg {
    pub driver: LegDriver,
    pub right: Right,
    pub american: bool,
    pub strike: f64,
    /// Time to expiry in years in the scenarios (after the horizon).
    pub t: f64,
    pub rate: f64,
    /// Cost of carry: r − q for options on stocks and indices, 0 on futures.
    pub carry: f64,
    pub spot: f64,
    pub vol: f64,
    /// Multiplier × mark: the position value per unit as read.
    pub value: f64,
    pub multiplier: f64,
    /// Model price at the base (input spot and vol, time to expiry today).
    pub model_base: f64,
}

impl LegKind {
    pub(crate) fn driver(&self) -> Option<&LegDriver> {
        match self {
            LegKind::Cash => None,
            LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } => Some(driver),
            LegKind::Option(option) => Some(&option.driver),
        }
    }

    pub(crate) fn driver_mut(&mut self) -> Option<&mut LegDriver> {
        match self {
            LegKind::Cash => None,
            LegKind::Linear { driver, .. } | LegKind::Future { driver, .. } => Some(driver),
            LegKind::Option(option) => Some(&mut option.driver),
        }
    }
}

/// An option contract as priced: the model's base price against the input
/// mark, and where its implied volatility came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionReport {
    /// The option's symbol.
    pub symbol: String,
    /// Its underlying.
    pub underlying: String,
    /// Its currency.
    pub currency: Currency,
    /// The mark as read.
    pub mark: Decimal,
    /// The model price at the input spot and implied volatility.
    pub model_price: f64,
    /// The implied volatility used.
    pub implied_vol: f64,
    /// Whether that volatility is the documented default (none was given).
    pub vol_defaulted: bool,
    /// Time to expiry in years (ACT/365) at the valuation date: the base
    /// price's.
    pub time_to_expiry: f64,
    /// Time to expiry in years (ACT/365) the scenarios price at: the
    /// expiry less the horizon, floored at 0 (intrinsic value once expired).
    pub scenario_time_to_expiry: f64,
}

/// A [`Driver`] with its single stock replaced by an index into
/// [`Prepared::single_stocks`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegDriver {
    pub factor: usize,
    pub beta: f64,
    pub stock: Option<usize>,
}

/// One instrument (or cash currency) seen from one base currency: priced
/// once per scenario and shared by every account that holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leg {
    pub kind: LegKind,
    /// What it is, for reports and adjustments.
    pub info: LegInfo,
    /// The leg currency's row in the FX table, or `None` when it is the base
    /// currency (which never moves).
    pub fx: Option<usize>,
    /// Base-currency units per unit of the leg's currency.
    pub rate: f64,
}

/// What a leg is, in words and base-currency figures, for reports and
/// adjustments.
#[derive(Debug, Clone, PartialEq)]
pub struct LegInfo {
    /// E.g. `AAPL (STK USD)` or `cash EUR`.
    pub label: String,
    /// The instrument's symbol, or the currency code for cash.
    pub symbol: String,
    /// The primary factor that drives it, or `FX` for cash.
    pub class: String,
    /// Value of one unit in base currency at the marks (0 for a future).
    pub unit_value: f64,
    /// Exposure of one unit in base currency: its value, or a future's
    /// notional (multiplier × price).
    pub unit_exposure: f64,
    /// The currency it is quoted in (the cash currency for cash).
    pub currency: Currency,
    /// The symbol whose moves drive it (its own, or its underlying's); empty
    /// for cash.
    pub driver_symbol: String,
    /// Whether that symbol is a single stock (has a move of its own).
    pub single_stock: bool,
    /// Whether it is an option (repriced with the equity-volatility move).
    pub option: bool,
}
