//! What-if: the fee of one account before and after a proposed order,
//! without a batch run.

use exfee_fee::{FeeSchedule, Portfolio, quote};
use exfee_model::{AccountInput, Batch, CashBalance, Decimal, Position};
use exfee_scenarios::SingleStock;
use rust_decimal::prelude::ToPrimitive;

use crate::fees::cents;
use exfee_engine::{AccountPnl, HoldingPnl, accounts_pnl, prepare, single_stocks};
use exfee_model::net_liquidation_value;

use crate::{EngineConfig, Error, Outcome, ScenarioSource, usd_to_base};

/// Why a what-if cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// No account with that id in the batch.
    #[error("no account {0} in the batch")]
    UnknownAccount(String),
    /// The account (with the order) cannot be valued.
    #[error("account {account} cannot be evaluated: {reasons}")]
    NotEvaluable {
        /// The account.
        account: String,
        /// Why, in words.
        reasons: String,
    },
    /// The scenario set or the engine failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// An account's fee figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Net liquidation value.
    pub nlv: Decimal,
    /// The schedule's risk measure (a loss), to cents.
    pub measure: Decimal,
    /// max(0, measure − NLV).
    pub uncovered: Decimal,
    /// The daily exposure fee at that uncovered amount (before any grace).
    pub daily_fee: Decimal,
    /// The fee the account actually pays a day (before any grace): the
    /// greater of the exposure fee and its inventory fee.
    pub fee_paid: Decimal,
    /// The worst scenario, as `results.csv` names it (its name, or `#index`
    /// of a Monte Carlo draw).
    pub worst_scenario: String,
    /// The fee paid a day (`fee_paid`) split over product classes by their
    /// loss in the worst scenario (the reports' split), largest first.
    pub by_class: Vec<(String, Decimal)>,
}

/// The fee before and after an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfAnswer {
    /// Tonight's figures.
    pub before: Quote,
    /// With the order filled at the marks.
    pub after: Quote,
    /// after − before fee actually paid a day.
    pub change: Decimal,
}

/// Answers "what does this order do to the fee?" for one account.
///
/// The account's holdings are revalued once, under a scenario set restricted
/// to the single stocks it holds (single-stock moves are keyed by symbol, so
/// they are those of the full set); the scenarios of the other stocks, where
/// nothing the account holds moves, count at its P&L when nothing moves
/// (zero, or its options' time decay over the horizon). An order on
/// something the account already holds reuses those scenario P&L vectors; a
/// new instrument is valued on its own. The answer equals a full
/// re-evaluation of the account with the order applied.
///
/// # Examples
///
/// See `examples/what_if.rs`.
pub struct WhatIf {
    account: AccountInput,
    batch: Batch,
    source: ScenarioSource,
    config: EngineConfig,
    schedule: FeeSchedule,
    night_stocks: Vec<SingleStock>,
    usd_to_base: Decimal,
    detail: AccountPnl,
    /// The names of the account's own scenario set (`None`: a draw).
    names: Vec<Option<String>>,
    before: Quote,
}

impl WhatIf {
    /// Prepares what-if questions on `account_id` of `batch`, valued as
    /// tonight's run values it: the same scenario source, engine settings,
    /// fee schedule and the batch's single stocks.
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account is unknown or cannot be evaluated.
    pub fn new(
        batch: &Batch,
        account_id: &str,
        source: &ScenarioSource,
        config: &EngineConfig,
        schedule: &FeeSchedule,
    ) -> Result<WhatIf, WhatIfError> {
        let account = batch
            .accounts
            .iter()
            .find(|a| a.id == account_id)
            .ok_or_else(|| WhatIfError::UnknownAccount(account_id.to_string()))?
            .clone();
        let night_stocks = single_stocks(batch, source.factor_table());
        let market_only = Batch {
            accounts: Vec::new(),
            market: batch.market.clone(),
            errors: Vec::new(),
        };
        let base = account
            .base_currency
            .ok_or_else(|| WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: "no base currency".to_string(),
            })?;
        let usd_to_base =
            usd_to_base(&batch.market, base).map_err(|e| WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: e.to_string(),
            })?;
        let mut what_if = WhatIf {
            account,
            batch: market_only,
            source: source.clone(),
            config: config.clone(),
            schedule: schedule.clone(),
            night_stocks,
            usd_to_base,
            detail: AccountPnl {
                account: 0,
                holdings: Vec::new(),
            },
            names: Vec::new(),
            before: Quote {
                nlv: Decimal::ZERO,
                measure: Decimal::ZERO,
                uncovered: Decimal::ZERO,
                daily_fee: Decimal::ZERO,
                fee_paid: Decimal::ZERO,
                worst_scenario: String::new(),
                by_class: Vec::new(),
            },
        };
        let (detail, n_full, names) = what_if.revalue(&what_if.account)?;
        let nlv = what_if.nlv(&what_if.account)?;
        what_if.names = names;
        what_if.before = what_if.quote(&detail, n_full, &what_if.names, nlv)?;
        what_if.detail = detail;
        Ok(what_if)
    }

    /// Tonight's figures.
    pub fn before(&self) -> &Quote {
        &self.before
    }

    /// The fee before and after filling `order` (positions to add, signed
    /// quantities, at their marks).
    ///
    /// # Errors
    ///
    /// [`WhatIfError`] when the account with the order cannot be valued.
    pub fn order(&self, order: &[Position]) -> Result<WhatIfAnswer, WhatIfError> {
        // Filled at the marks: the cash moves the other way (futures settle
        // their variation margin later, so they move no cash now).
        let mut adjusted = self.account.clone();
        let mut cash_moves: Vec<CashBalance> = Vec::new();
        for position in order {
            adjusted.positions.push(position.clone());
            let instrument = &position.instrument;
            let value = instrument.market_value(position.quantity).ok_or_else(|| {
                WhatIfError::NotEvaluable {
                    account: self.account.id.clone(),
                    reasons: format!("{}: order value overflows", instrument.symbol),
                }
            })?;
            if !value.is_zero() {
                cash_moves.push(CashBalance {
                    currency: instrument.currency,
                    // Negation is exact (the Decimal range is symmetric).
                    amount: Decimal::ZERO.saturating_sub(value),
                });
            }
        }
        adjusted.cash.extend(cash_moves.iter().cloned());
        let nlv = self.nlv(&adjusted)?;
        let base = self.account.base_currency;
        // The quantity each held leg gains; `None` when the order touches a
        // leg the account does not hold (then it is valued afresh).
        let mut extra = vec![0.0; self.detail.holdings.len()];
        let mut reusable = true;
        for position in order {
            match self.holding_index(|h| self.same_instrument(h, &position.instrument)) {
                Some(i) => extra[i] += position.quantity.to_f64().unwrap_or(0.0),
                None => reusable = false,
            }
        }
        for cash in &cash_moves {
            match self.holding_index(|h| h.info.class == "FX" && h.info.currency == cash.currency) {
                Some(i) => extra[i] += cash.amount.to_f64().unwrap_or(0.0),
                // Base-currency cash never moves: no leg needed.
                None if Some(cash.currency) == base => {}
                None => reusable = false,
            }
        }
        let after = if reusable {
            // The same holdings with the new quantities, summed again in
            // holding order as the engine does: bit-identical to a
            // re-evaluation.
            let mut detail = self.detail.clone();
            for (holding, extra) in detail.holdings.iter_mut().zip(&extra) {
                holding.quantity += extra;
            }
            let (n_full, _) = self.counts(&adjusted)?;
            self.quote(&detail, n_full, &self.names, nlv)?
        } else {
            let (detail, n_full, names) = self.revalue(&adjusted)?;
            self.quote(&detail, n_full, &names, nlv)?
        };
        Ok(WhatIfAnswer {
            // Both fees are at least 0: the difference is exact.
            change: after.fee_paid.saturating_sub(self.before.fee_paid),
            before: self.before.clone(),
            after,
        })
    }

    fn holding_index(&self, matches: impl Fn(&HoldingPnl) -> bool) -> Option<usize> {
        self.detail.holdings.iter().position(matches)
    }

    /// Whether `holding` is a position in `instrument` (held by the account).
    fn same_instrument(&self, holding: &HoldingPnl, instrument: &exfee_model::Instrument) -> bool {
        let label = format!(
            "{} ({} {})",
            instrument.symbol,
            instrument.asset_class().code(),
            instrument.currency
        );
        holding.info.label == label
            && self
                .account
                .positions
                .iter()
                .any(|p| p.instrument == *instrument)
    }

    fn nlv(&self, account: &AccountInput) -> Result<Decimal, WhatIfError> {
        net_liquidation_value(account, &self.batch.market)
            .map(cents)
            .map_err(|e| WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: e.to_string(),
            })
    }

    /// The stocks of the night with those of `account` (an order may bring a
    /// new one).
    fn full_stocks(&self, local: &[SingleStock]) -> Vec<SingleStock> {
        let mut stocks = self.night_stocks.clone();
        stocks.extend(local.iter().cloned());
        stocks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        stocks.dedup_by(|a, b| a.symbol == b.symbol);
        stocks
    }

    /// (scenarios of the full set, scenarios of the account's own set).
    fn counts(&self, account: &AccountInput) -> Result<(usize, usize), WhatIfError> {
        let local = self.local_stocks(account);
        let full = self
            .source
            .build(self.full_stocks(&local))
            .map_err(Error::from)?;
        let own = self.source.build(local).map_err(Error::from)?;
        Ok((full.len(), own.len()))
    }

    fn local_stocks(&self, account: &AccountInput) -> Vec<SingleStock> {
        let one = Batch {
            accounts: vec![account.clone()],
            market: self.batch.market.clone(),
            errors: Vec::new(),
        };
        single_stocks(&one, self.source.factor_table())
    }

    /// The account's per-holding scenario P&L under its own set, the number
    /// of scenarios of the full set, and the names of the own set's.
    #[allow(clippy::type_complexity)]
    fn revalue(
        &self,
        account: &AccountInput,
    ) -> Result<(AccountPnl, usize, Vec<Option<String>>), WhatIfError> {
        let one = Batch {
            accounts: vec![account.clone()],
            market: self.batch.market.clone(),
            errors: Vec::new(),
        };
        let local = single_stocks(&one, self.source.factor_table());
        let full_len = self
            .source
            .build(self.full_stocks(&local))
            .map_err(Error::from)?
            .len();
        let set = self.source.build(local).map_err(Error::from)?;
        let prepared = prepare(
            &one,
            self.source.factor_table(),
            self.source.fx_table(),
            &self.config,
        );
        let results = exfee_engine::evaluate(&prepared, &set).map_err(Error::from)?;
        if let Some(Outcome::Failed(errors)) = results.first().map(|r| &r.outcome) {
            return Err(WhatIfError::NotEvaluable {
                account: account.id.clone(),
                reasons: crate::io::join_errors(errors),
            });
        }
        let detail = accounts_pnl(&prepared, &set, &[0])
            .map_err(Error::from)?
            .pop()
            .unwrap_or(AccountPnl {
                account: 0,
                holdings: Vec::new(),
            });
        let names = (0..set.len())
            .map(|i| set.name(i).map(str::to_string))
            .collect();
        Ok((detail, full_len, names))
    }

    /// The fee figures of per-holding scenario P&L `detail` over the
    /// account's own set (scenario names `names`), within a full set of
    /// `n_full`: the others move single stocks the account does not hold,
    /// where its P&L is its still P&L (nothing it holds moves; its options
    /// still age by the horizon).
    fn quote(
        &self,
        detail: &AccountPnl,
        n_full: usize,
        names: &[Option<String>],
        nlv: Decimal,
    ) -> Result<Quote, WhatIfError> {
        let total = detail.total();
        let still = detail.still_total();
        let n_local = total.len();
        let mut losses: Vec<f64> = total.iter().map(|p| -p).collect();
        let needed = self.schedule.measure.scenarios_needed(n_full);
        losses.extend(std::iter::repeat_n(
            -still,
            n_full.saturating_sub(n_local).min(needed),
        ));
        // The fee pipeline; a portfolio it cannot price (an amount beyond
        // Decimal, a measure that is not a number) cannot be evaluated.
        let q = quote(
            &self.schedule,
            &Portfolio {
                losses: &losses,
                scenarios: n_full,
                nlv,
                usd_to_base: self.usd_to_base,
                inventory_fee: self.account.inventory_fee,
            },
        )
        .map_err(|e| WhatIfError::NotEvaluable {
            account: self.account.id.clone(),
            reasons: e.to_string(),
        })?;
        let worst = crate::reporting::worst_scenarios(&total, 1)
            .first()
            .copied();
        let (worst_scenario, by_class) = match worst {
            // A scenario of a stock the account does not hold is worse than
            // every scenario of its own set: it has no name here.
            Some(w) if total[w] <= still || n_full == n_local => (
                crate::io::scenario_label(w, names.get(w).and_then(|n| n.as_deref())),
                crate::reporting::fee_by_class(detail, w, q.fee_paid),
            ),
            _ => ("(a move of a stock not held)".to_string(), Vec::new()),
        };
        Ok(Quote {
            nlv,
            measure: q.measure,
            uncovered: q.uncovered,
            daily_fee: q.breakdown.daily_fee,
            fee_paid: q.fee_paid,
            worst_scenario,
            by_class,
        })
    }
}
