//! What the evaluation returns: each account's outcome, the errors that
//! stop an evaluation, and the counts and times of its stages.

use std::time::Duration;

use exfee_model::{Currency, Decimal, InputError, cents};

use crate::tail::Tail;

/// Why a prepared batch cannot be evaluated under a scenario set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The set does not move a single stock the batch holds: it was built for
    /// another batch.
    #[error(
        "the scenario set has no own move for single stock {0}; build the set from this batch's single stocks"
    )]
    MissingStock(String),
    /// The set's factor or FX table is not the one the batch was prepared
    /// against.
    #[error(
        "the scenario set's factor or FX table differs from the one the batch was prepared with"
    )]
    TableMismatch,
    /// The set has no scenario.
    #[error("the scenario set is empty")]
    EmptySet,
}

/// The stress result of an account that could be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRisk {
    /// Net liquidation value in base currency, rounded to cents.
    pub nlv: Decimal,
    /// Largest scenario loss in base currency (negative when even the worst
    /// scenario is a gain), rounded to cents.
    pub worst_loss: Decimal,
    /// Index of the worst scenario (the first one on a tie).
    pub worst_scenario: usize,
    /// Name of the worst scenario, for a named (fixed stress) scenario.
    pub worst_scenario_name: Option<String>,
    /// max(0, worst loss − NLV), rounded to cents.
    pub uncovered: Decimal,
    /// The worst scenarios as (scenario index, P&L in base currency), worst
    /// first, as many as the engine's `tail_scenarios` (for tail measures).
    pub tail: Vec<(usize, f64)>,
    /// What the engine assumed for this account (e.g. a default implied
    /// volatility), in words.
    pub warnings: Vec<String>,
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Evaluated under every scenario.
    Evaluated(AccountRisk),
    /// Not evaluated, with every reason found.
    Failed(Vec<InputError>),
}

/// One account's line of the results.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountResult {
    /// The account id.
    pub account: String,
    /// Its base currency, when known.
    pub base_currency: Option<Currency>,
    /// The result or the reasons it failed.
    pub outcome: Outcome,
}

/// Counts and wall times of one evaluation (see docs/performance.md).
///
/// The dense scenarios are evaluated block by block. For each block the
/// moves are filled and every distinct option contract is priced over the
/// whole block (once however many legs share it). Then, panel by panel (a
/// few hundred scenarios, so that the legs' P&L stay in the cache), every
/// leg's P&L is written (linear legs priced, option legs converted from
/// their contract's price) and every account aggregated. The single-stock
/// fixed scenarios are evaluated sparsely.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EvalStats {
    /// Worker threads of the rayon pool the evaluation ran on.
    pub threads: usize,
    /// Accounts evaluated (failed accounts are not).
    pub accounts: usize,
    /// (account, leg) holdings aggregated per scenario.
    pub holdings: usize,
    /// Distinct legs priced per scenario.
    pub legs: usize,
    /// Legs that are European options.
    pub european_legs: usize,
    /// Legs that are American options.
    pub american_legs: usize,
    /// Distinct European contracts priced per scenario (the legs of one
    /// contract held from several base currencies share its model price).
    pub european_contracts: usize,
    /// Distinct American contracts priced per scenario.
    pub american_contracts: usize,
    /// Scenarios evaluated densely (every leg, every account).
    pub dense_scenarios: usize,
    /// Single-stock fixed scenarios, evaluated sparsely.
    pub sparse_scenarios: usize,
    /// Scenarios filled and priced per block (option contracts).
    pub block_len: usize,
    /// Scenarios per panel (legs' P&L written, accounts aggregated).
    pub panel_len: usize,
    /// Binding the legs to the set, laying out rows and holdings.
    pub setup: Duration,
    /// Generating the moves of the dense scenarios (`ScenarioSet::fill`).
    pub scenario_fill: Duration,
    /// Pricing the European contracts over the dense scenarios.
    pub european_pricing: Duration,
    /// Pricing the American contracts over the dense scenarios.
    pub american_pricing: Duration,
    /// Writing every leg's P&L per panel: linear legs (stocks, bonds, coins,
    /// futures, cash) priced, option legs converted from their contract's
    /// price into base-currency P&L.
    pub leg_pnl: Duration,
    /// Σ quantity × leg P&L of every account over the dense scenarios, with
    /// the worst-scenario scan.
    pub aggregation: Duration,
    /// The single-stock scenarios: pricing and aggregation.
    pub sparse: Duration,
    /// Turning each account's worst scenarios into its result.
    pub results: Duration,
    /// The whole evaluation.
    pub total: Duration,
}

/// An account's outcome from its worst scenarios: its worst loss and what
/// the NLV does not cover, rounded to cents, or why they are not numbers.
/// `name_of` names a scenario (fixed stress scenarios have names).
pub(crate) fn risk(
    nlv: Decimal,
    tail: &Tail,
    name_of: impl Fn(usize) -> Option<String>,
    warnings: &[String],
) -> Outcome {
    // An empty tail: every scenario's P&L was NaN.
    let worst = tail.entries().first().and_then(|&(pnl, scenario)| {
        let loss = if pnl.is_finite() {
            Decimal::from_f64_retain(-pnl)
        } else {
            None
        };
        loss.map(|loss| (loss, scenario))
    });
    let Some((worst_loss, worst_scenario)) = worst else {
        return Outcome::Failed(vec![InputError::new(
            "scenario P&L is not a finite number (values too large to revalue)",
        )]);
    };
    let worst_loss = cents(worst_loss);
    let nlv = cents(nlv);
    let Some(gap) = worst_loss.checked_sub(nlv) else {
        return Outcome::Failed(vec![InputError::new(format!(
            "amount too large: the worst loss {worst_loss} less the net liquidation value {nlv} \
             does not fit a Decimal (about 7.9e28)"
        ))]);
    };
    Outcome::Evaluated(AccountRisk {
        nlv,
        worst_loss,
        worst_scenario,
        worst_scenario_name: name_of(worst_scenario),
        uncovered: cents(gap.max(Decimal::ZERO)),
        tail: tail.entries().iter().map(|&(p, i)| (i, p)).collect(),
        warnings: warnings.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn tail_of(entries: &[(f64, usize)]) -> Tail {
        let mut tail = Tail::new(entries.len());
        for &(pnl, index) in entries {
            tail.offer(pnl, index);
        }
        tail
    }

    #[test]
    fn the_uncovered_loss_is_the_worst_loss_beyond_the_nlv_in_cents() {
        let tail = tail_of(&[(-1500.004, 7), (-20.0, 3)]);
        let names = |i: usize| (i == 7).then(|| "crash".to_string());
        let Outcome::Evaluated(risk) = risk(dec("1000.005"), &tail, names, &["w".into()]) else {
            panic!("evaluated");
        };
        // Loss 1500.004 → 1500.00; NLV 1000.005 → 1000.00 (half to even).
        assert_eq!(risk.worst_loss, dec("1500.00"));
        assert_eq!(risk.nlv, dec("1000.00"));
        assert_eq!(risk.uncovered, dec("500.00"));
        assert_eq!(risk.worst_scenario, 7);
        assert_eq!(risk.worst_scenario_name.as_deref(), Some("crash"));
        assert_eq!(risk.tail, vec![(7, -1500.004), (3, -20.0)]);
        assert_eq!(risk.warnings, vec!["w".to_string()]);
    }

    #[test]
    fn a_covered_loss_or_a_gain_leaves_nothing_uncovered() {
        let tail = tail_of(&[(250.0, 0)]);
        let Outcome::Evaluated(risk) = risk(dec("10"), &tail, |_| None, &[]) else {
            panic!("evaluated");
        };
        assert_eq!(risk.worst_loss, dec("-250.00"));
        assert_eq!(risk.uncovered, dec("0.00"));
        assert_eq!(risk.worst_scenario_name, None);
    }

    #[test]
    fn a_non_finite_or_missing_worst_scenario_fails_the_account() {
        for tail in [tail_of(&[(f64::NEG_INFINITY, 2)]), Tail::new(1)] {
            let Outcome::Failed(errors) = risk(dec("1"), &tail, |_| None, &[]) else {
                panic!("failed");
            };
            assert!(errors[0].reason.contains("not a finite number"));
        }
    }

    #[test]
    fn a_gap_beyond_a_decimal_fails_the_account() {
        // A loss of −7e28 less an NLV of 7e28 does not fit a Decimal (±7.9e28).
        let tail = tail_of(&[(7e28, 0)]);
        let nlv = dec("70000000000000000000000000000");
        let Outcome::Failed(errors) = risk(nlv, &tail, |_| None, &[]) else {
            panic!("failed");
        };
        assert!(errors[0].reason.contains("amount too large"));
    }
}
