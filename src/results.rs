//! The rows of `results.csv`, `errors.csv` and `options.csv`: one table of
//! columns builds them, for `exfee run` / `exfee charge` (which write them)
//! and for every embedding (the Python package's results table, the
//! what-if service's account figures). `exfee-io` only writes the rows it
//! is given.

use std::path::Path;

use chrono::NaiveDate;
use exfee_fee::{ChargedFee, FeeSchedule, FeeStatus, TradingCalendar};
use exfee_io::{IoError, join_errors, scenario_label, write_csv};
use exfee_model::{Batch, Decimal, InputError};

use crate::{
    AccountResult, Evaluation, FeeContext, FeeLine, OptionReport, Outcome, assess, usd_to_base,
};

/// What one `results.csv` row is computed from: the engine's result of an
/// account and, when it was evaluated, tonight's fee.
struct Row<'a> {
    result: &'a AccountResult,
    fee: Option<&'a FeeLine>,
}

impl Row<'_> {
    fn risk(&self) -> Option<&crate::AccountRisk> {
        match &self.result.outcome {
            Outcome::Evaluated(risk) => Some(risk),
            Outcome::Failed(_) => None,
        }
    }

    /// The uncovered loss shown: the fee's (the schedule's measure) when
    /// there is a fee, else the engine's (worst scenario).
    fn uncovered(&self) -> Option<Decimal> {
        match (self.fee, self.risk()) {
            (Some(fee), _) => Some(fee.uncovered),
            (None, Some(risk)) => Some(risk.uncovered),
            (None, None) => None,
        }
    }

    fn risk_cell(&self, cell: impl Fn(&crate::AccountRisk) -> String) -> String {
        self.risk().map(cell).unwrap_or_default()
    }

    fn fee_cell(&self, cell: impl Fn(&FeeLine) -> String) -> String {
        self.fee.map(cell).unwrap_or_default()
    }
}

/// One column of `results.csv`: its header and how its cell is computed.
struct Column {
    name: &'static str,
    cell: fn(&Row<'_>) -> String,
}

/// Every column of `results.csv`, in order: the one place a column is
/// declared, next to the code computing its value. An account that failed
/// has only `account`, `base_currency`, `status` (`failed`) and `error`.
const COLUMNS: [Column; 20] = [
    Column {
        name: "account",
        cell: |r| r.result.account.clone(),
    },
    Column {
        name: "base_currency",
        cell: |r| {
            r.result
                .base_currency
                .map(|c| c.to_string())
                .unwrap_or_default()
        },
    },
    Column {
        name: "status",
        cell: |r| match r.uncovered() {
            None => "failed".into(),
            Some(u) if u > Decimal::ZERO => "uncovered".into(),
            Some(_) => "ok".into(),
        },
    },
    Column {
        name: "nlv",
        cell: |r| r.risk_cell(|risk| risk.nlv.to_string()),
    },
    Column {
        name: "worst_loss",
        cell: |r| r.risk_cell(|risk| risk.worst_loss.to_string()),
    },
    Column {
        name: "worst_scenario",
        cell: |r| {
            r.risk_cell(|risk| {
                scenario_label(risk.worst_scenario, risk.worst_scenario_name.as_deref())
            })
        },
    },
    Column {
        name: "uncovered",
        cell: |r| r.uncovered().map(|u| u.to_string()).unwrap_or_default(),
    },
    Column {
        name: "error",
        cell: |r| match &r.result.outcome {
            Outcome::Failed(errors) => join_errors(errors),
            Outcome::Evaluated(_) => String::new(),
        },
    },
    Column {
        name: "worst_scenario_index",
        cell: |r| r.risk_cell(|risk| risk.worst_scenario.to_string()),
    },
    Column {
        name: "warnings",
        cell: |r| r.risk_cell(|risk| risk.warnings.join(" | ")),
    },
    Column {
        name: "measure",
        cell: |r| r.fee_cell(|fee| fee.measure.to_string()),
    },
    Column {
        name: "fee_status",
        cell: |r| r.fee_cell(|fee| fee.status.name().to_string()),
    },
    Column {
        name: "daily_fee",
        cell: |r| r.fee_cell(|fee| fee.daily_fee.to_string()),
    },
    Column {
        name: "days_charged",
        cell: |r| r.fee_cell(|fee| fee.days_charged.to_string()),
    },
    Column {
        name: "fee_effective_date",
        cell: |r| {
            r.fee_cell(|fee| {
                fee.effective_date
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            })
        },
    },
    Column {
        name: "inventory_fee",
        cell: |r| r.fee_cell(|fee| fee.inventory_fee.map(|f| f.to_string()).unwrap_or_default()),
    },
    Column {
        name: "fee_paid",
        cell: |r| {
            r.fee_cell(|fee| match (fee.status, fee.pays) {
                (FeeStatus::Charged, _) | (_, ChargedFee::Inventory) => fee.pays.name().to_string(),
                _ => String::new(),
            })
        },
    },
    Column {
        name: "accrued_daily_fee",
        cell: |r| r.fee_cell(|fee| fee.accrues.to_string()),
    },
    Column {
        name: "days_posted",
        cell: |r| r.fee_cell(|fee| fee.days_posted.to_string()),
    },
    Column {
        name: "amount_posted",
        cell: |r| r.fee_cell(|fee| fee.amount_posted.to_string()),
    },
];

/// Every column of `results.csv`, in order.
pub fn results_header() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.name).collect()
}

/// The `results.csv` cells of one account, in [`results_header`] order, as
/// text before the CSV writer's formula neutralisation
/// ([`exfee_io::neutralise`]). With a fee, `status` and `uncovered` are
/// those of the schedule's measure; without one (the account failed, or an
/// evaluation shown before fees), the engine's worst scenario's.
pub fn results_row(result: &AccountResult, fee: Option<&FeeLine>) -> Vec<String> {
    let row = Row { result, fee };
    COLUMNS.iter().map(|c| (c.cell)(&row)).collect()
}

/// Writes `results.csv`: one row per result, in order, with its fee.
///
/// # Errors
///
/// [`IoError::Write`] as [`exfee_io::write_atomically`].
pub(crate) fn write_results(
    path: &Path,
    results: &[AccountResult],
    fees: &[Option<FeeLine>],
) -> Result<(), IoError> {
    write_csv(
        path,
        &results_header(),
        results
            .iter()
            .zip(fees)
            .map(|(result, fee)| results_row(result, fee.as_ref())),
    )
}

/// Writes `errors.csv`: every input problem of the run, one per row:
/// `account,file,line,column,reason` (account empty for a row that names
/// no account), the rows naming no account first.
///
/// # Errors
///
/// [`IoError::Write`] as [`exfee_io::write_atomically`].
pub(crate) fn write_errors(
    path: &Path,
    batch_errors: &[InputError],
    results: &[AccountResult],
) -> Result<(), IoError> {
    let per_account = results.iter().flat_map(|r| match &r.outcome {
        Outcome::Failed(errors) => errors.iter().map(|e| (r.account.as_str(), e)).collect(),
        Outcome::Evaluated(_) => Vec::new(),
    });
    let rows = batch_errors
        .iter()
        .map(|e| ("", e))
        .chain(per_account)
        .map(|(account, error)| {
            let (file, line, column) = match &error.location {
                Some(l) => (
                    l.file.clone(),
                    l.line.to_string(),
                    l.column
                        .as_ref()
                        .map(|(_, name)| name.clone())
                        .unwrap_or_default(),
                ),
                None => Default::default(),
            };
            [
                account.to_string(),
                file,
                line,
                column,
                error.reason.clone(),
            ]
        });
    write_csv(path, &["account", "file", "line", "column", "reason"], rows)
}

/// Writes `options.csv`: every distinct option contract as priced —
/// `symbol,underlying,currency,mark,model_price,gap,implied_vol,vol_source,time_to_expiry,scenario_time_to_expiry`
/// where `gap` = model price − mark (the engine re-centres on the model, so
/// the base P&L is zero whatever the gap), `time_to_expiry` is T at the
/// valuation date (the base price's) and `scenario_time_to_expiry` the T the
/// scenarios price at: T − horizon, floored at 0 (years, ACT/365).
///
/// # Errors
///
/// [`IoError::Write`] as [`exfee_io::write_atomically`].
pub(crate) fn write_options(path: &Path, options: &[OptionReport]) -> Result<(), IoError> {
    use rust_decimal::prelude::FromPrimitive;
    let header = [
        "symbol",
        "underlying",
        "currency",
        "mark",
        "model_price",
        "gap",
        "implied_vol",
        "vol_source",
        "time_to_expiry",
        "scenario_time_to_expiry",
    ];
    let rows = options.iter().map(|option| {
        let model = Decimal::from_f64(option.model_price)
            .unwrap_or_default()
            .round_dp(4);
        [
            option.symbol.clone(),
            option.underlying.clone(),
            option.currency.to_string(),
            option.mark.to_string(),
            model.to_string(),
            model
                .checked_sub(option.mark)
                .map_or_else(String::new, |gap| gap.to_string()),
            option.implied_vol.to_string(),
            if option.vol_defaulted {
                "default"
            } else {
                "input"
            }
            .to_string(),
            format!("{:.6}", option.time_to_expiry),
            format!("{:.6}", option.scenario_time_to_expiry),
        ]
    });
    write_csv(path, &header, rows)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountRisk;
    use exfee_model::{Currency, SourceLocation};

    /// The pinned `results.csv` interface (docs/outputs.md), written out.
    const PINNED: [&str; 20] = [
        "account",
        "base_currency",
        "status",
        "nlv",
        "worst_loss",
        "worst_scenario",
        "uncovered",
        "error",
        "worst_scenario_index",
        "warnings",
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

    #[test]
    fn the_header_is_the_pinned_one() {
        assert_eq!(results_header(), PINNED);
    }

    #[test]
    fn a_failed_account_has_its_reasons_and_no_figures() {
        let result = AccountResult {
            account: "=A1".into(),
            base_currency: Some("EUR".parse::<Currency>().unwrap()),
            outcome: Outcome::Failed(vec![
                InputError {
                    location: None,
                    reason: "no mark".into(),
                },
                InputError {
                    location: None,
                    reason: "bad qty".into(),
                },
            ]),
        };
        let row = results_row(&result, None);
        let mut expected = vec![String::new(); 20];
        expected[0] = "=A1".into();
        expected[1] = "EUR".into();
        expected[2] = "failed".into();
        expected[7] = "no mark | bad qty".into();
        assert_eq!(row, expected);
    }

    #[test]
    fn an_evaluated_account_without_fee_shows_the_engine_figures() {
        let risk = AccountRisk {
            nlv: Decimal::new(100_000, 2),
            worst_loss: Decimal::new(150_050, 2),
            worst_scenario: 3,
            worst_scenario_name: None,
            uncovered: Decimal::new(50_050, 2),
            tail: vec![(3, -1500.5)],
            warnings: vec!["a".into(), "b".into()],
        };
        let result = AccountResult {
            account: "U1".into(),
            base_currency: Some(Currency::USD),
            outcome: Outcome::Evaluated(risk),
        };
        let row = results_row(&result, None);
        let mut expected = vec![String::new(); 20];
        for (i, cell) in [
            "U1",
            "USD",
            "uncovered",
            "1000.00",
            "1500.50",
            "#3",
            "500.50",
            "",
            "3",
            "a | b",
        ]
        .iter()
        .enumerate()
        {
            expected[i] = (*cell).to_string();
        }
        assert_eq!(row, expected);
    }

    #[test]
    fn errors_and_options_are_neutralised() {
        let dir = tempfile::tempdir().unwrap();
        let errors = vec![InputError {
            location: None,
            reason: "=bad".into(),
        }];
        let failed = AccountResult {
            account: "B".into(),
            base_currency: None,
            outcome: Outcome::Failed(vec![InputError {
                location: Some(SourceLocation {
                    file: "positions.csv".into(),
                    line: 7,
                    column: Some((2, "quantity".into())),
                }),
                reason: "not a number".into(),
            }]),
        };
        let path = dir.path().join("errors.csv");
        write_errors(&path, &errors, &[failed]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "account,file,line,column,reason\n,,,,'=bad\nB,positions.csv,7,quantity,not a number\n"
        );
        let options = vec![OptionReport {
            symbol: "@SPX".into(),
            underlying: "-2+3".into(),
            currency: Currency::USD,
            mark: "1.5".parse().unwrap(),
            model_price: 1.0,
            implied_vol: 0.2,
            vol_defaulted: false,
            time_to_expiry: 0.5,
            scenario_time_to_expiry: 0.25,
        }];
        let path = dir.path().join("options.csv");
        write_options(&path, &options).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("'@SPX,'-2+3,USD,1.5,1,-0.5,0.2,input,0.500000,0.250000\n"),
            "{text}"
        );
    }
}
