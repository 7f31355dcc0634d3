//! Tonight's fee of each evaluated account: the schedule's risk measure, the
//! uncovered amount, the tiered daily fee, the grace week and the calendar.

use chrono::NaiveDate;
use exfee_fee::{
    AccountState, ChargedFee, FeeBreakdown, FeeError, FeeSchedule, FeeStatus, Portfolio,
    TradingCalendar,
};
use exfee_model::{Currency, Decimal, MarketData, MarketError};
use rust_decimal::prelude::ToPrimitive;

use crate::AccountRisk;

/// Tonight's fee of one account: the fee pipeline's
/// [`Assessment`](exfee_fee::Assessment) and what tonight's run posts.
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
    /// Which fee the account pays when both apply (the exposure fee on a tie).
    pub pays: ChargedFee,
    /// The fee the account actually pays a day at tonight's measurement: the
    /// greater of the exposure fee and the inventory fee.
    pub fee_paid: Decimal,
    /// Grace status.
    pub status: FeeStatus,
    /// The daily exposure fee payable tonight: the measured fee when the
    /// account is charged and the exposure fee is the one it pays, else 0.
    pub daily_fee: Decimal,
    /// What each calendar day priced by tonight's measurement costs once past
    /// the grace week (shown on grace nights too; 0 when clear).
    pub accrues: Decimal,
    /// Calendar days since the previous trading day (see
    /// [`TradingCalendar::days_charged`]; 0 on a weekend or holiday).
    pub days_charged: u32,
    /// Calendar days tonight's run posts (accrued since the last posting).
    pub days_posted: u32,
    /// The amount tonight's run posts.
    pub amount_posted: Decimal,
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

/// The losses of an account's worst scenarios (`risk.tail`), or its worst
/// loss when the engine kept no tail.
pub(crate) fn tail_losses(risk: &AccountRisk) -> Vec<f64> {
    if risk.tail.is_empty() {
        return vec![risk.worst_loss.to_f64().unwrap_or(f64::NAN)];
    }
    risk.tail.iter().map(|&(_, pnl)| -pnl).collect()
}

/// The schedule's risk measure of an account from its worst scenarios
/// (`risk.tail`, which must hold at least `schedule.measure.scenarios_needed(n)`
/// of the `n` scenarios), as a loss rounded half-even to cents: the fee
/// pipeline's measure ([`exfee_fee::quote`]).
pub fn measure_of(risk: &AccountRisk, schedule: &FeeSchedule, n: usize) -> Decimal {
    let losses = tail_losses(risk);
    exfee_fee::quote(
        schedule,
        &Portfolio {
            losses: &losses,
            scenarios: n,
            nlv: risk.nlv,
            usd_to_base: Decimal::ONE,
            inventory_fee: None,
        },
    )
    .map_or(risk.worst_loss, |q| q.measure)
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
/// tonight: the fee pipeline ([`exfee_fee::assess`]). Nothing is posted yet
/// (`days_posted` 0); the state's ledger says what tonight posts.
///
/// # Errors
///
/// [`FeeError`] when the schedule is invalid, the base currency has no USD
/// rate, the measure is not a number, or the arithmetic overflows.
pub fn assess(
    context: FeeContext<'_>,
    risk: &AccountRisk,
    usd_to_base: Decimal,
    inventory_fee: Option<Decimal>,
    previous: Option<&AccountState>,
) -> Result<FeeLine, FeeError> {
    let losses = tail_losses(risk);
    let night = exfee_fee::assess(
        context.schedule,
        &Portfolio {
            losses: &losses,
            scenarios: context.scenarios,
            nlv: risk.nlv,
            usd_to_base,
            inventory_fee,
        },
        previous,
        context.date,
    )?;
    Ok(FeeLine {
        measure: night.quote.measure,
        uncovered: night.quote.uncovered,
        breakdown: night.quote.breakdown,
        inventory_fee,
        pays: night.quote.pays,
        fee_paid: night.quote.fee_paid,
        status: night.status,
        daily_fee: night.daily_fee,
        accrues: night.accrues,
        days_charged: context.calendar.days_charged(context.date).unwrap_or(0),
        days_posted: 0,
        amount_posted: Decimal::ZERO,
        effective_date: night.effective_date,
        state: night.state,
    })
}
