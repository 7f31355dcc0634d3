//! Reconciliation of exfee's net liquidation value against the broker's own
//! NAV (`EQUT` / `EquitySummaryInBase` `Total`).

use std::path::Path;

use exfee_model::{Currency, Decimal, InputError, cents, money, net_liquidation_value};

use super::FlexRead;
use crate::IoError;
use crate::output::write_csv;

/// How far exfee's NLV may be from the broker's NAV: the larger of `units`
/// (in the account's base currency) and `fraction` of the NLV's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NavTolerance {
    /// Base-currency units (default 1).
    pub units: Decimal,
    /// A fraction of |NLV| (default 0.0001, i.e. 0.01 %).
    pub fraction: Decimal,
}

impl Default for NavTolerance {
    fn default() -> Self {
        NavTolerance {
            units: Decimal::ONE,
            fraction: Decimal::new(1, 4),
        }
    }
}

impl NavTolerance {
    /// The tolerance for an account whose NLV is `nlv`.
    pub fn for_nlv(&self, nlv: Decimal) -> Decimal {
        let relative = nlv.abs().checked_mul(self.fraction).unwrap_or(Decimal::MAX);
        self.units.max(relative)
    }
}

/// One account's line of `reconciliation.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct NavCheck {
    /// The account id.
    pub account: String,
    /// Its base currency, when known.
    pub currency: Option<Currency>,
    /// exfee's NLV from positions and cash, when it can be computed.
    pub nlv: Option<Decimal>,
    /// The broker's NAV, when the reports give it.
    pub broker_nav: Option<Decimal>,
    /// `nlv − broker_nav`, when both are known.
    pub difference: Option<Decimal>,
    /// The tolerance applied.
    pub tolerance: Option<Decimal>,
    /// `ok`, `mismatch` (the account fails), `no_broker_nav` (the reports
    /// carry no NAV for it), `nav_of_earlier_date` (they carry its NAV only
    /// for a date before the account's latest row: the account fails;
    /// [`FlexAccount::earlier_nav`](crate::FlexAccount::earlier_nav)) or
    /// `no_nlv` (its NLV cannot be computed: the
    /// account fails for that reason already).
    pub status: &'static str,
}

/// The columns of `reconciliation.csv`.
pub const RECONCILIATION_HEADER: [&str; 7] = [
    "account",
    "currency",
    "nlv",
    "broker_nav",
    "difference",
    "tolerance",
    "status",
];

/// Compares every account's NLV ([`net_liquidation_value`]) with the
/// broker's NAV read from the reports. A difference above the tolerance
/// fails the account, at the NAV's `Total`, with both figures and the
/// difference. Returns one line per account, in batch order.
pub fn reconcile_nav(read: &mut FlexRead, tolerance: NavTolerance) -> Vec<NavCheck> {
    let market = &read.batch.market;
    let mut checks = Vec::with_capacity(read.batch.accounts.len());
    for (account, flex) in read.batch.accounts.iter_mut().zip(&read.accounts) {
        let nlv = net_liquidation_value(account, market).ok();
        let nav = flex.broker_nav.as_ref();
        let mut check = NavCheck {
            account: account.id.clone(),
            currency: account.base_currency,
            nlv,
            broker_nav: nav.map(|n| n.total),
            difference: None,
            tolerance: None,
            status: "no_broker_nav",
        };
        match (nlv, nav) {
            (None, _) => check.status = "no_nlv",
            (Some(_), None) if flex.earlier_nav.is_some() => {
                check.status = "nav_of_earlier_date";
            }
            (Some(_), None) => {}
            (Some(nlv), Some(nav)) => {
                let allowed = tolerance.for_nlv(nlv);
                check.tolerance = Some(allowed);
                match nlv.checked_sub(nav.total) {
                    Some(difference) if difference.abs() <= allowed => {
                        check.difference = Some(difference);
                        check.status = "ok";
                    }
                    difference => {
                        check.difference = difference;
                        check.status = "mismatch";
                        account.errors.push(InputError::at(
                            nav.location.clone(),
                            format!(
                                "NLV {} from positions and cash, broker NAV {}: a section or row \
                                 was not counted (difference {}, tolerance {})",
                                money(nlv),
                                money(nav.total),
                                difference.map_or("beyond the Decimal range".into(), money),
                                money(allowed)
                            ),
                        ));
                    }
                }
            }
        }
        checks.push(check);
    }
    checks
}

/// Writes `reconciliation.csv` ([`RECONCILIATION_HEADER`]; money in cents,
/// [`exfee_model::cents`]).
///
/// # Errors
///
/// [`IoError::Write`] when the file cannot be written.
pub fn write_reconciliation(path: &Path, checks: &[NavCheck]) -> Result<(), IoError> {
    let cell = |d: Option<Decimal>| d.map(|d| cents(d).to_string()).unwrap_or_default();
    write_csv(
        path,
        &RECONCILIATION_HEADER,
        checks.iter().map(|c| {
            vec![
                c.account.clone(),
                c.currency.map(|c| c.to_string()).unwrap_or_default(),
                cell(c.nlv),
                cell(c.broker_nav),
                cell(c.difference),
                cell(c.tolerance),
                c.status.to_string(),
            ]
        }),
    )
}
