//! Tonight's fee of each evaluated account: the schedule's risk measure, the
//! uncovered amount, the tiered daily fee, the grace week and the calendar.

use chrono::NaiveDate;
use exfee_fee::{
    AccountState, ChargedFee, FeeBreakdown, FeeError, FeeSchedule, FeeStatus, TradingCalendar,
    daily_fee, next_state, uncovered_loss,
};
use exfee_model::{Currency, Decimal, MarketData, MarketError};
use rust_decimal::prelude::FromPrimitive;

use crate::AccountRisk;

/// Tonight's fee of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct FeeLine {
    /// The schedule's risk measure (a loss), in base currency, to cents.
    pub measure: Decimal,
    /// max(0, measure − NLV).
    pub uncovered: Decimal,
    /// The exposure fee measured tonight, tier by tier (shown even in grace).
    pub breakdown: FeeBreakdown,
    /// The account's inventory fee, if it has one.
    pub inventory_fee: Option<Decimal>,
    /// Which fee the account pays tonight when both apply.
    pub pays: ChargedFee,
    /// Grace status.
    pub status: FeeStatus,
    /// The daily exposure fee payable tonight: the measured fee when the
    /// account is charged and it exceeds any inventory fee, else 0.
    pub daily_fee: Decimal,
    /// Calendar days this run charges (see [`TradingCalendar::days_charged`]).
    pub days_charged: u32,
    /// daily_fee × days_charged.
    pub amount_charged: Decimal,
    /// When the fee takes (or took) effect, for a subject account.
    pub effective_date: Option<NaiveDate>,
    /// The account's grace state after tonight.
    pub state: AccountState,
}

/// Cents: the workspace's one rounding ([`exfee_model::cents`]).
pub(crate) use exfee_model::cents;

/// Units of `base` per USD.
///
/// # Errors
///
/// The market's own error (naming the `market/fx.csv` row at fault) when it
/// has no usable rate for `base` or for USD. The engine fails such accounts
/// before the fee.
pub fn usd_to_base(market: &MarketData, base: Currency) -> Result<Decimal, MarketError> {
    market.fx_rate(Currency::USD, base)
}

/// The schedule's risk measure of an account from its worst scenarios
/// (`risk.tail`, which must hold at least `schedule.measure.scenarios_needed(n)`
/// of the `n` scenarios), as a loss rounded half-even to cents.
pub fn measure_of(risk: &AccountRisk, schedule: &FeeSchedule, n: usize) -> Decimal {
    let losses: Vec<f64> = risk.tail.iter().map(|&(_, pnl)| -pnl).collect();
    schedule
        .measure
        .apply(&losses, n)
        .and_then(Decimal::from_f64)
        .map_or(risk.worst_loss, cents)
}

/// Everything about tonight's fee of one account except its grace history.
#[derive(Debug, Clone, Copy)]
pub struct FeeContext<'a> {
    /// The fee schedule.
    pub schedule: &'a FeeSchedule,
    /// Trading days.
    pub calendar: &'a TradingCalendar,
    /// The valuation date (tonight).
    pub date: NaiveDate,
    /// Number of scenarios in the set.
    pub scenarios: usize,
}

/// Tonight's fee of an evaluated account, given its grace state before
/// tonight.
///
/// # Errors
///
/// [`FeeError`] when the schedule is invalid, the base currency has no USD
/// rate, or the arithmetic overflows.
pub fn assess(
    context: FeeContext<'_>,
    risk: &AccountRisk,
    usd_to_base: Decimal,
    inventory_fee: Option<Decimal>,
    previous: Option<&AccountState>,
) -> Result<FeeLine, FeeError> {
    let measure = measure_of(risk, context.schedule, context.scenarios);
    let uncovered = cents(uncovered_loss(measure, risk.nlv)?);
    let breakdown = daily_fee(context.schedule, uncovered, usd_to_base)?;
    let (state, status) = next_state(
        previous,
        context.date,
        breakdown.subject,
        context.schedule.grace,
    );
    let inventory = inventory_fee.unwrap_or(Decimal::ZERO);
    let pays = if breakdown.daily_fee > inventory || inventory_fee.is_none() {
        ChargedFee::Exposure
    } else {
        ChargedFee::Inventory
    };
    let daily = if status == FeeStatus::Charged && pays == ChargedFee::Exposure {
        breakdown.daily_fee
    } else {
        Decimal::ZERO
    };
    let days_charged = context.calendar.days_charged(context.date).unwrap_or(0);
    let effective_date = match status {
        FeeStatus::Grace { effective } => Some(effective),
        FeeStatus::Charged => state.effective_date(context.schedule.grace),
        FeeStatus::Clear => None,
    };
    Ok(FeeLine {
        measure,
        uncovered,
        breakdown,
        inventory_fee,
        pays,
        status,
        daily_fee: daily,
        days_charged,
        amount_charged: daily
            .checked_mul(Decimal::from(days_charged))
            .ok_or(FeeError::Overflow)?,
        effective_date,
        state,
    })
}
