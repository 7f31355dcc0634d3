//! The report as Markdown, and the facts both text renderers share.

use std::fmt::Write;

use rust_decimal::Decimal;

use crate::format::{
    decimal_trim, md_escape as e, money, money_ccy, move_pct, rate_pct, share_pct,
};
use crate::{AccountReport, Contribution, ScenarioLine};

/// At most this many moves per scenario in the tables.
pub(crate) const MAX_MOVES: usize = 8;

/// A scenario's label: its name and index, or its index.
pub(crate) fn scenario_label(s: &ScenarioLine) -> String {
    match &s.name {
        Some(n) if !n.trim().is_empty() => format!("{n} (#{})", s.index),
        _ => format!("scenario #{}", s.index),
    }
}

/// The moves of a scenario as `SPX -30.0%, CL +62.0%` (the first few).
pub(crate) fn moves_text(s: &ScenarioLine) -> String {
    let mut parts: Vec<String> = s
        .moves
        .iter()
        .take(MAX_MOVES)
        .map(|(f, m)| format!("{f} {}", move_pct(*m)))
        .collect();
    if s.moves.len() > MAX_MOVES {
        parts.push(format!("… {} more", s.moves.len() - MAX_MOVES));
    }
    parts.join(", ")
}

/// A trade of an adjustment: `buy 6: -10 TSLA 270115P250 (OPT)`.
pub(crate) fn trade_text(position: &str, qty: Decimal) -> String {
    let verb = if qty.is_sign_negative() && !qty.is_zero() {
        "sell"
    } else {
        "buy"
    };
    format!("{verb} {}: {position}", decimal_trim(qty.abs(), 0, 8))
}

/// The label of the scenario a contribution is measured in.
pub(crate) fn contribution_scenario(r: &AccountReport, c: &Contribution) -> String {
    r.worst_scenarios
        .iter()
        .find(|s| s.index == c.scenario_index)
        .map(scenario_label)
        .unwrap_or_else(|| format!("scenario #{}", c.scenario_index))
}

/// A contribution's share of its scenario's total P&L, when known.
pub(crate) fn contribution_share(r: &AccountReport, c: &Contribution) -> Option<String> {
    let s = r
        .worst_scenarios
        .iter()
        .find(|s| s.index == c.scenario_index)?;
    share_pct(c.pnl, s.pnl)
}

/// One sentence on the fee status.
pub(crate) fn status_sentence(r: &AccountReport) -> String {
    let date = r.effective_date.map(|d| d.to_string());
    match r.fee_status.as_str() {
        "grace" => match date {
            Some(d) => format!(
                "Grace: the account is notified tonight and nothing is charged; the fee takes effect on {d} if the account is still subject then."
            ),
            None => "Grace: the account is notified tonight and nothing is charged.".to_string(),
        },
        "charged" => match date {
            Some(d) => format!("Charged: the fee has been in effect since {d}."),
            None => "Charged.".to_string(),
        },
        "clear" => "Clear: no fee.".to_string(),
        other => other.to_string(),
    }
}

/// The tiers' daily total, and the exposure fee before the greater-of with
/// the inventory fee (the tiers or the minimum, rounded to cents half to even).
pub(crate) fn exposure_fee(r: &AccountReport) -> (Decimal, Decimal) {
    let total: Decimal = r.fee_tiers.iter().map(|t| t.daily).sum();
    let fee = match (r.inventory_fee, r.minimum_applied, r.minimum_daily) {
        // the greater-of picked the inventory fee: show what the exposure
        // fee alone would have been
        (Some(inv), _, _) if inv == r.daily_fee => {
            let base = match (r.minimum_applied, r.minimum_daily) {
                (true, Some(m)) => m,
                _ => total,
            };
            exfee_model::cents(base)
        }
        _ => r.daily_fee,
    };
    (total, fee)
}

/// Whether any tier carries a slice of the uncovered amount.
pub(crate) fn tiers_used(r: &AccountReport) -> bool {
    r.fee_tiers.iter().any(|t| !t.amount.is_zero())
}

/// Renders the report as Markdown.
pub fn markdown(r: &AccountReport) -> String {
    let ccy = e(&r.base_currency);
    let m = |d: Decimal| money_ccy(d, &ccy);
    let mut o = String::new();

    // ---- summary
    let _ = writeln!(o, "# Exposure Fee Calculation report: {}\n", e(&r.account));
    let _ = writeln!(
        o,
        "Valuation date {}, amounts in {ccy}.\n",
        r.valuation_date
    );
    let _ = writeln!(o, "## Summary\n");
    let _ = writeln!(o, "| | |\n|---|---:|");
    let rows: Vec<(String, String)> = vec![
        ("Net liquidation value (NLV)".into(), m(r.nlv)),
        (
            format!("Risk measure ({}), a loss", e(&r.measure_name)),
            m(r.measure),
        ),
        ("Uncovered = max(0, measure − NLV)".into(), m(r.uncovered)),
        ("Threshold".into(), m(r.threshold)),
        ("Fee status".into(), e(&r.fee_status)),
        (
            "Fee effective date".into(),
            r.effective_date
                .map(|d| d.to_string())
                .unwrap_or_else(|| "–".into()),
        ),
        ("Daily fee".into(), m(r.daily_fee)),
        ("Days charged tonight".into(), r.days_charged.to_string()),
        ("Amount charged tonight".into(), m(r.amount_charged)),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(o, "\n{}\n", e(&status_sentence(r)));

    // ---- how the fee was computed
    let _ = writeln!(o, "## How the fee was computed\n");
    if r.uncovered <= r.threshold && !tiers_used(r) {
        let _ = writeln!(
            o,
            "The uncovered amount, {}, does not exceed the threshold of {}: no exposure fee.\n",
            m(r.uncovered),
            m(r.threshold)
        );
    } else if !r.fee_tiers.is_empty() {
        let basis = r
            .day_count
            .map(|d| format!(" (annual rate ÷ {d} days)"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "Each tier's annual rate applies to its slice of the uncovered amount, {}{basis}:\n",
            m(r.uncovered)
        );
        let _ = writeln!(
            o,
            "| Tier | From | To | Slice | Annual rate | Daily |\n|---:|---:|---:|---:|---:|---:|"
        );
        for (i, t) in r.fee_tiers.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                i + 1,
                money(t.from),
                t.to.map(money).unwrap_or_else(|| "and above".into()),
                money(t.amount),
                rate_pct(t.rate),
                decimal_trim(t.daily, 2, 6)
            );
        }
        let (total, exposure) = exposure_fee(r);
        let _ = writeln!(
            o,
            "| | | | | **Total** | **{}** |\n",
            decimal_trim(total, 2, 6)
        );
        write_fee_steps(&mut o, r, total, exposure, &ccy);
    } else {
        let _ = writeln!(o, "Daily fee: {}.\n", m(r.daily_fee));
    }
    if r.days_charged > 0 && r.daily_fee * Decimal::from(r.days_charged) == r.amount_charged {
        let _ = writeln!(
            o,
            "Tonight's run charges {} day{}: {} × {} = {}.\n",
            r.days_charged,
            if r.days_charged == 1 { "" } else { "s" },
            m(r.daily_fee),
            r.days_charged,
            m(r.amount_charged)
        );
    } else if r.days_charged > 0 {
        let _ = writeln!(
            o,
            "Tonight's run charges {} day{}, each at the fee measured by the run in force on it: {}.\n",
            r.days_charged,
            if r.days_charged == 1 { "" } else { "s" },
            m(r.amount_charged)
        );
    } else if r.fee_status == "grace" {
        let _ = writeln!(o, "Nothing is charged during the grace week.\n");
    }

    // ---- worst scenarios
    let _ = writeln!(o, "## Worst scenarios\n");
    if r.worst_scenarios.is_empty() {
        let _ = writeln!(o, "None reported.\n");
    } else {
        let _ = writeln!(
            o,
            "| Rank | Scenario | P&L | Factor moves that matter |\n|---:|---|---:|---|"
        );
        for (i, s) in r.worst_scenarios.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                i + 1,
                e(&scenario_label(s)),
                money(s.pnl),
                e(&moves_text(s))
            );
        }
        o.push('\n');
    }

    // ---- contributors
    let _ = writeln!(o, "## Largest contributors to the loss\n");
    if r.contributors.is_empty() {
        let _ = writeln!(o, "None reported.\n");
    } else {
        let _ = writeln!(
            o,
            "| Position | Scenario | P&L | Share of the scenario's P&L |\n|---|---|---:|---:|"
        );
        for c in &r.contributors {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                e(&c.position),
                e(&contribution_scenario(r, c)),
                money(c.pnl),
                contribution_share(r, c).unwrap_or_else(|| "–".into())
            );
        }
        o.push('\n');
    }

    // ---- fee per class
    let _ = writeln!(o, "## Fee per product classification\n");
    if r.fee_by_class.is_empty() {
        let _ = writeln!(o, "None reported.\n");
    } else {
        let total: Decimal = r.fee_by_class.iter().map(|(_, f)| *f).sum();
        let _ = writeln!(o, "| Classification | Daily fee | Share |\n|---|---:|---:|");
        for (class, fee) in &r.fee_by_class {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                e(class),
                money(*fee),
                share_pct(*fee, total).unwrap_or_else(|| "–".into())
            );
        }
        o.push('\n');
    }

    // ---- adjustments
    let _ = writeln!(o, "## Hypothetical adjustments\n");
    if r.adjustments.is_empty() {
        let why = if r.daily_fee.is_zero() && r.uncovered <= r.threshold {
            "None needed: the account pays no exposure fee."
        } else {
            "No adjustment that reduces the fee was found."
        };
        let _ = writeln!(o, "{why}\n");
    } else {
        let _ = writeln!(
            o,
            "Each adjustment was re-checked on the whole scenario set; the fee shown is the re-checked one. Current daily fee: {}.\n",
            m(r.daily_fee)
        );
        let _ = writeln!(
            o,
            "| # | Adjustment | Kind | Found by | Risk measure after | Daily fee after | Change |\n|---:|---|---|---|---:|---:|---:|"
        );
        for (i, a) in r.adjustments.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                e(&a.title),
                a.kind.as_str(),
                e(&a.method),
                money(a.measure_after),
                money(a.fee_after),
                money(a.fee_after - r.daily_fee)
            );
        }
        o.push('\n');
        for (i, a) in r.adjustments.iter().enumerate() {
            // a plain deposit is said by its title
            if a.trades.is_empty() {
                continue;
            }
            let _ = writeln!(o, "**{}. {}**\n", i + 1, e(&a.title));
            if let Some(d) = a.deposit {
                let _ = writeln!(o, "- deposit {}", m(d));
            }
            for (pos, q) in &a.trades {
                let _ = writeln!(o, "- {}", e(&trade_text(pos, *q)));
            }
            o.push('\n');
        }
    }

    // ---- warnings
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(o, "- {}", e(w));
        }
        o.push('\n');
    }
    o
}

fn write_fee_steps(
    o: &mut String,
    r: &AccountReport,
    total: Decimal,
    exposure: Decimal,
    ccy: &str,
) {
    let m = |d: Decimal| money_ccy(d, ccy);
    match (r.minimum_applied, r.minimum_daily) {
        (true, Some(min)) => {
            let _ = writeln!(
                o,
                "- The tiers give {} a day, less than the minimum daily charge: the minimum, {}, applies.",
                decimal_trim(total, 2, 6),
                m(min)
            );
        }
        (true, None) => {
            let _ = writeln!(
                o,
                "- The tiers give less than the minimum daily charge: the minimum applies."
            );
        }
        (false, Some(min)) => {
            let _ = writeln!(
                o,
                "- Minimum daily charge {}: not reached, so not applied.",
                m(min)
            );
        }
        (false, None) => {}
    }
    let _ = writeln!(
        o,
        "- Exposure fee, rounded once to cents (half to even): {}.",
        m(exposure)
    );
    if let Some(inv) = r.inventory_fee {
        let which = if r.daily_fee == inv && inv > exposure {
            "the inventory fee"
        } else {
            "the exposure fee"
        };
        let _ = writeln!(
            o,
            "- Inventory fee {}: the account pays the greater of the two, {which}.",
            m(inv)
        );
    }
    let _ = writeln!(o, "- **Daily fee: {}.**\n", m(r.daily_fee));
}
