//! The report as one long CSV table, for machines.

use rust_decimal::Decimal;

use crate::AccountReport;
use crate::format::csv_text;

/// Renders the report as CSV in long form: `account,section,item,field,value`,
/// one row per fact (`summary`, `tier` 1…, `scenario` 1…, `move` (field: the factor),
/// `contributor`, `class`, `adjustment`, `trade` (field: the position), `warning`). Money is an
/// exact decimal, unformatted (`-1234.5`); the P&L distribution is left to the
/// JSON. Text is quoted where needed and kept from being read as a formula.
pub fn csv(r: &AccountReport) -> String {
    let mut o = String::from("account,section,item,field,value\n");
    let acct = csv_text(&r.account);
    let mut row = |section: &str, item: &str, field: &str, value: String| {
        o.push_str(&acct);
        o.push(',');
        o.push_str(section);
        o.push(',');
        o.push_str(&csv_text(item));
        o.push(',');
        o.push_str(&csv_text(field));
        o.push(',');
        o.push_str(&value);
        o.push('\n');
    };
    let d = |x: Decimal| x.normalize().to_string();
    let od = |x: Option<Decimal>| x.map(|x| x.normalize().to_string()).unwrap_or_default();
    let f = |x: f64| {
        if x.is_finite() {
            x.to_string()
        } else {
            String::new()
        }
    };

    row("summary", "", "base_currency", csv_text(&r.base_currency));
    row(
        "summary",
        "",
        "valuation_date",
        r.valuation_date.to_string(),
    );
    row("summary", "", "nlv", d(r.nlv));
    row("summary", "", "measure_name", csv_text(&r.measure_name));
    row("summary", "", "measure", d(r.measure));
    row("summary", "", "threshold", d(r.threshold));
    row("summary", "", "uncovered", d(r.uncovered));
    row("summary", "", "fee_status", csv_text(&r.fee_status));
    row(
        "summary",
        "",
        "effective_date",
        r.effective_date.map(|x| x.to_string()).unwrap_or_default(),
    );
    row("summary", "", "days_charged", r.days_charged.to_string());
    row("summary", "", "daily_fee", d(r.daily_fee));
    row("summary", "", "amount_charged", d(r.amount_charged));
    row(
        "summary",
        "",
        "day_count",
        r.day_count.map(|x| x.to_string()).unwrap_or_default(),
    );
    row("summary", "", "minimum_daily", od(r.minimum_daily));
    row(
        "summary",
        "",
        "minimum_applied",
        r.minimum_applied.to_string(),
    );
    row("summary", "", "inventory_fee", od(r.inventory_fee));
    row(
        "summary",
        "",
        "scenarios",
        r.pnl_distribution.len().to_string(),
    );

    for (i, t) in r.fee_tiers.iter().enumerate() {
        let item = (i + 1).to_string();
        row("tier", &item, "from", d(t.from));
        row("tier", &item, "to", od(t.to));
        row("tier", &item, "rate", d(t.rate));
        row("tier", &item, "amount", d(t.amount));
        row("tier", &item, "daily", d(t.daily));
    }
    for (i, s) in r.worst_scenarios.iter().enumerate() {
        let item = (i + 1).to_string();
        row("scenario", &item, "index", s.index.to_string());
        row(
            "scenario",
            &item,
            "name",
            csv_text(s.name.as_deref().unwrap_or("")),
        );
        row("scenario", &item, "pnl", d(s.pnl));
        for (factor, mv) in &s.moves {
            row("move", &item, factor, f(*mv));
        }
    }
    for (i, c) in r.contributors.iter().enumerate() {
        let item = (i + 1).to_string();
        row("contributor", &item, "position", csv_text(&c.position));
        row(
            "contributor",
            &item,
            "scenario_index",
            c.scenario_index.to_string(),
        );
        row("contributor", &item, "pnl", d(c.pnl));
    }
    for (class, fee) in &r.fee_by_class {
        row("class", class, "daily_fee", d(*fee));
    }
    for (i, a) in r.adjustments.iter().enumerate() {
        let item = (i + 1).to_string();
        row("adjustment", &item, "title", csv_text(&a.title));
        row("adjustment", &item, "kind", a.kind.as_str().to_string());
        row("adjustment", &item, "method", csv_text(&a.method));
        row("adjustment", &item, "deposit", od(a.deposit));
        row("adjustment", &item, "fee_after", d(a.fee_after));
        row("adjustment", &item, "measure_after", d(a.measure_after));
        for (pos, q) in &a.trades {
            row("trade", &item, pos, d(*q));
        }
    }
    for (i, w) in r.warnings.iter().enumerate() {
        row("warning", &(i + 1).to_string(), "text", csv_text(w));
    }
    o
}
