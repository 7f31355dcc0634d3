//! The report as one long CSV table, for machines.

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::AccountReport;
use crate::format::{csv_quote, formula_guard};

/// Renders the report as CSV in long form: `account,section,item,field,value`,
/// one row per fact (`summary`, `tier` 1…, `scenario` 1…, `move` (field: the factor),
/// `contributor`, `class`, `adjustment`, `trade` (field: the position), `warning`). Money is an
/// exact decimal, unformatted (`-1234.5`); the P&L distribution is left to the
/// JSON. Text is quoted where needed and kept from being read as a formula:
/// every cell passes through [`exfee_model::neutralise`], the rule of every CSV
/// file exfee writes, as it is rendered (after the report's own `'` for
/// text a spreadsheet would run, see [`crate::format::csv_text`]), so the
/// text is the file as written, with no second pass over it.
pub fn csv(r: &AccountReport) -> String {
    render(r, exfee_model::neutralise)
}

/// [`csv`] with each cell (after the report's own `'`) passed through
/// `rule`; the tests render with no rule to compare with the re-parse of
/// `exfee_io::neutralise_csv`.
fn render(r: &AccountReport, rule: fn(&str) -> Cow<'_, str>) -> String {
    let mut rows = Rows {
        out: String::with_capacity(4096),
        account: String::new(),
        rule,
    };
    rows.account = rows.field(&r.account);
    let header = ["account", "section", "item", "field", "value"].map(|h| rows.field(h));
    rows.out.push_str(&header.join(","));
    rows.out.push('\n');
    summary(&mut rows, r);
    scenarios(&mut rows, r);
    fee_parts(&mut rows, r);
    rows.out
}

/// The CSV being written, one fact a row.
struct Rows {
    out: String,
    /// The account id, as a CSV field.
    account: String,
    /// The cell rule applied to every cell.
    rule: fn(&str) -> Cow<'_, str>,
}

impl Rows {
    /// `cell` as a CSV field: the report's `'`, then the rule, then quotes.
    fn field(&self, cell: &str) -> String {
        let guarded = formula_guard(cell);
        csv_quote(&(self.rule)(&guarded)).into_owned()
    }

    /// Writes `account,section,item,field,value`, each cell (raw text)
    /// as [`Rows::field`] makes it.
    fn row(&mut self, section: &str, item: &str, field: &str, value: String) {
        let Rows { out, account, rule } = self;
        out.push_str(account);
        for cell in [section, item, field, &value] {
            out.push(',');
            out.push_str(&csv_quote(&rule(&formula_guard(cell))));
        }
        out.push('\n');
    }
}

/// An exact decimal, unformatted.
fn d(x: Decimal) -> String {
    x.normalize().to_string()
}

/// An optional exact decimal (empty when absent).
fn od(x: Option<Decimal>) -> String {
    x.map(d).unwrap_or_default()
}

/// A float (empty when not finite).
fn f(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

fn summary(rows: &mut Rows, r: &AccountReport) {
    let facts = [
        ("base_currency", r.base_currency.clone()),
        ("valuation_date", r.valuation_date.to_string()),
        ("nlv", d(r.nlv)),
        ("measure_name", r.measure_name.clone()),
        ("measure", d(r.measure)),
        ("threshold", d(r.threshold)),
        ("uncovered", d(r.uncovered)),
        ("fee_status", r.fee_status.clone()),
        (
            "effective_date",
            r.effective_date.map(|x| x.to_string()).unwrap_or_default(),
        ),
        ("days_charged", r.days_charged.to_string()),
        ("daily_fee", d(r.daily_fee)),
        ("amount_charged", d(r.amount_charged)),
        (
            "day_count",
            r.day_count.map(|x| x.to_string()).unwrap_or_default(),
        ),
        ("minimum_daily", od(r.minimum_daily)),
        ("minimum_applied", r.minimum_applied.to_string()),
        ("inventory_fee", od(r.inventory_fee)),
        ("scenarios", r.pnl_distribution.len().to_string()),
    ];
    for (field, value) in facts {
        rows.row("summary", "", field, value);
    }
}

/// Tiers, worst scenarios (with their moves) and contributors.
fn scenarios(rows: &mut Rows, r: &AccountReport) {
    for (i, t) in r.fee_tiers.iter().enumerate() {
        let item = (i + 1).to_string();
        rows.row("tier", &item, "from", d(t.from));
        rows.row("tier", &item, "to", od(t.to));
        rows.row("tier", &item, "rate", d(t.rate));
        rows.row("tier", &item, "amount", d(t.amount));
        rows.row("tier", &item, "daily", d(t.daily));
    }
    for (i, s) in r.worst_scenarios.iter().enumerate() {
        let item = (i + 1).to_string();
        rows.row("scenario", &item, "index", s.index.to_string());
        let name = s.name.clone().unwrap_or_default();
        rows.row("scenario", &item, "name", name);
        rows.row("scenario", &item, "pnl", d(s.pnl));
        for (factor, mv) in &s.moves {
            rows.row("move", &item, factor, f(*mv));
        }
    }
    for (i, c) in r.contributors.iter().enumerate() {
        let item = (i + 1).to_string();
        rows.row("contributor", &item, "position", c.position.clone());
        let index = c.scenario_index.to_string();
        rows.row("contributor", &item, "scenario_index", index);
        rows.row("contributor", &item, "pnl", d(c.pnl));
    }
}

/// Fee per class, adjustments (with their trades) and warnings.
fn fee_parts(rows: &mut Rows, r: &AccountReport) {
    for (class, fee) in &r.fee_by_class {
        rows.row("class", class, "daily_fee", d(*fee));
    }
    for (i, a) in r.adjustments.iter().enumerate() {
        let item = (i + 1).to_string();
        rows.row("adjustment", &item, "title", a.title.clone());
        rows.row("adjustment", &item, "kind", a.kind.as_str().to_string());
        rows.row("adjustment", &item, "method", a.method.clone());
        rows.row("adjustment", &item, "deposit", od(a.deposit));
        rows.row("adjustment", &item, "fee_after", d(a.fee_after));
        rows.row("adjustment", &item, "measure_after", d(a.measure_after));
        for (pos, q) in &a.trades {
            rows.row("trade", &item, pos, d(*q));
        }
    }
    for (i, w) in r.warnings.iter().enumerate() {
        rows.row("warning", &(i + 1).to_string(), "text", w.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Adjustment, AdjustmentKind, ScenarioLine};

    #[test]
    fn the_csv_is_the_old_text_neutralised_by_a_re_parse() {
        // Oracle: the CSV rendered without the rule, then read and written
        // back by `exfee_io::neutralise_csv` (what the night did to each
        // report CSV), on text that a spreadsheet would run, numbers with
        // signs, quotes, commas, line breaks and the report's own `'`.
        let texts = [
            "",
            "U1",
            "=U1",
            "+3",
            "-3",
            "-1 XYZ 270101P100 (OPT)",
            "-.5",
            "-1.2.3",
            "-inf",
            "@x",
            "\tx",
            "\rx",
            "'=y",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "-",
            "+",
            "=1",
            " =x",
            "-1e-7",
            "\u{1F600},\"",
            "-\"q\"",
            "=a,b",
        ];
        for (k, &t) in texts.iter().enumerate() {
            let u = texts[(k * 5 + 3) % texts.len()];
            let r = AccountReport {
                account: t.into(),
                base_currency: u.into(),
                measure_name: t.into(),
                fee_status: u.into(),
                nlv: Decimal::new(-150_000, 2),
                worst_scenarios: vec![ScenarioLine {
                    index: 4,
                    name: Some(u.into()),
                    pnl: Decimal::new(-25, 1),
                    moves: vec![(t.into(), -0.25), (u.into(), f64::NAN), ("x".into(), 1e-7)],
                }],
                contributors: vec![crate::Contribution {
                    position: t.into(),
                    scenario_index: 4,
                    pnl: Decimal::new(-7, 0),
                }],
                fee_by_class: vec![(u.into(), Decimal::new(3, 1))],
                adjustments: vec![Adjustment {
                    title: t.into(),
                    kind: AdjustmentKind::Hedge,
                    trades: vec![
                        (u.into(), Decimal::new(-1, 0)),
                        (t.into(), Decimal::new(2, 0)),
                    ],
                    method: u.into(),
                    deposit: Some(Decimal::new(-5, 0)),
                    ..Adjustment::default()
                }],
                warnings: vec![t.into(), u.into()],
                ..AccountReport::default()
            };
            let plain = render(&r, |s| Cow::Borrowed(s));
            assert_eq!(
                csv(&r),
                exfee_io::neutralise_csv(&plain).unwrap(),
                "{t:?} {u:?}"
            );
        }
    }

    #[test]
    fn a_small_report_gives_the_rows_written_by_hand() {
        let r = AccountReport {
            account: "=U1".into(),
            base_currency: "USD".into(),
            nlv: Decimal::new(150000, 2),
            daily_fee: Decimal::new(120, 2),
            worst_scenarios: vec![ScenarioLine {
                index: 4,
                name: Some("crash, big".into()),
                pnl: Decimal::new(-25, 1),
                moves: vec![("SPX".into(), -0.25), ("VIX".into(), f64::NAN)],
            }],
            adjustments: vec![Adjustment {
                title: "Close".into(),
                kind: AdjustmentKind::Reduce,
                trades: vec![("-1 XYZ".into(), Decimal::new(1, 0))],
                method: "exact".into(),
                ..Adjustment::default()
            }],
            warnings: vec!["-bad".into()],
            ..AccountReport::default()
        };
        let out = csv(&r);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "account,section,item,field,value");
        // 17 summary facts, in order
        assert_eq!(lines[1], "'=U1,summary,,base_currency,USD");
        assert_eq!(lines[3], "'=U1,summary,,nlv,1500");
        assert_eq!(lines[11], "'=U1,summary,,daily_fee,1.2");
        assert_eq!(lines[14], "'=U1,summary,,minimum_daily,");
        assert_eq!(lines[17], "'=U1,summary,,scenarios,0");
        let rest = &lines[18..];
        assert_eq!(
            rest,
            [
                "'=U1,scenario,1,index,4",
                "'=U1,scenario,1,name,\"crash, big\"",
                "'=U1,scenario,1,pnl,-2.5",
                "'=U1,move,1,SPX,-0.25",
                "'=U1,move,1,VIX,",
                "'=U1,adjustment,1,title,Close",
                "'=U1,adjustment,1,kind,reduce",
                "'=U1,adjustment,1,method,exact",
                "'=U1,adjustment,1,deposit,",
                "'=U1,adjustment,1,fee_after,0",
                "'=U1,adjustment,1,measure_after,0",
                // `-1 XYZ` passes the report's own rule (a digit after
                // `-`) but not `neutralise` (not a number)
                "'=U1,trade,1,'-1 XYZ,1",
                "'=U1,warning,1,text,'-bad",
            ]
        );
    }
}
