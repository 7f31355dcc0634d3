//! The rows of `results.csv`: one function builds them, for `exfee run`
//! (which writes them) and for every embedding (the Python package's
//! results table, the what-if service's account figures).

use chrono::NaiveDate;
use exfee_fee::{ChargedFee, FeeSchedule, FeeStatus, TradingCalendar};
use exfee_io::{RESULTS_HEADER, results_record};
use exfee_model::{Batch, Decimal};

use crate::{AccountResult, Evaluation, FeeContext, FeeLine, Outcome, assess, usd_to_base};

/// The fee columns of `results.csv`, after [`RESULTS_HEADER`].
pub const FEE_HEADER: [&str; 10] = [
    "measure",
    "fee_status",
    "daily_fee",
    "days_charged",
    "fee_effective_date",
    "inventory_fee",
    "fee_paid",
    "accrued_daily_fee",
    "days_posted",
    "amount_posted",
];

/// Every column of `results.csv`, in order.
pub fn results_header() -> Vec<&'static str> {
    RESULTS_HEADER
        .iter()
        .chain(FEE_HEADER.iter())
        .copied()
        .collect()
}

/// The fee cells of one account, in [`FEE_HEADER`] order (all empty for an
/// account that has no fee: it failed).
fn fee_cells(fee: Option<&FeeLine>) -> Vec<String> {
    match fee {
        None => vec![String::new(); FEE_HEADER.len()],
        Some(fee) => vec![
            fee.measure.to_string(),
            fee.status.name().to_string(),
            fee.daily_fee.to_string(),
            fee.days_charged.to_string(),
            fee.effective_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
            fee.inventory_fee.map(|f| f.to_string()).unwrap_or_default(),
            match (fee.status, fee.pays) {
                (FeeStatus::Charged, _) | (_, ChargedFee::Inventory) => fee.pays.name().to_string(),
                _ => String::new(),
            },
            fee.accrues.to_string(),
            fee.days_posted.to_string(),
            fee.amount_posted.to_string(),
        ],
    }
}

/// The `results.csv` cells of one account, in [`results_header`] order, as
/// text before the CSV writer's formula neutralisation
/// ([`exfee_io::neutralise`]). With a fee, `status` and `uncovered` are
/// those of the schedule's measure.
pub fn results_row(result: &AccountResult, fee: Option<&FeeLine>) -> Vec<String> {
    let mut record = results_record(result);
    if let Some(fee) = fee {
        record[6] = fee.uncovered.to_string();
        record[2] = if fee.uncovered > Decimal::ZERO {
            "uncovered"
        } else {
            "ok"
        }
        .to_string();
    }
    record.extend(fee_cells(fee));
    record
}

/// A night's evaluation with each account's fee.
#[derive(Debug, Clone)]
pub struct NightFees {
    /// The evaluation.
    pub evaluation: Evaluation,
    /// One fee per result (`None` for an account that failed).
    pub fees: Vec<Option<FeeLine>>,
}

impl NightFees {
    /// The fees of a first night (no grace history: every account's state
    /// before tonight is empty), as `exfee run` charges them on a fresh
    /// state database.
    ///
    /// # Errors
    ///
    /// A [`MarketError`](exfee_model::MarketError) when an evaluated
    /// account's base currency has no USD rate, a [`FeeError`](exfee_fee::FeeError) when the
    /// schedule's arithmetic fails (the whole night fails, as
    /// `exfee run` does).
    pub fn first_night(
        evaluation: Evaluation,
        batch: &Batch,
        schedule: &FeeSchedule,
        calendar: &TradingCalendar,
        date: NaiveDate,
    ) -> Result<NightFees, Box<dyn std::error::Error + Send + Sync>> {
        let context = FeeContext {
            schedule,
            calendar,
            date,
            scenarios: evaluation.scenarios.len(),
        };
        let mut fees = Vec::with_capacity(evaluation.results.len());
        for (result, account) in evaluation.results.iter().zip(&batch.accounts) {
            let (Outcome::Evaluated(risk), Some(base)) = (&result.outcome, result.base_currency)
            else {
                fees.push(None);
                continue;
            };
            let rate = usd_to_base(&batch.market, base)?;
            fees.push(Some(assess(
                context,
                risk,
                rate,
                account.inventory_fee,
                None,
            )?));
        }
        Ok(NightFees { evaluation, fees })
    }
}

/// Every account's `results.csv` row ([`results_row`]).
pub fn results_rows(night: &NightFees) -> Vec<Vec<String>> {
    night
        .evaluation
        .results
        .iter()
        .zip(&night.fees)
        .map(|(result, fee)| results_row(result, fee.as_ref()))
        .collect()
}
