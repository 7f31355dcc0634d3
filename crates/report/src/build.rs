//! The one place the report is worded: [`Document::from_report`] turns an
//! [`AccountReport`] into the sections, tables and figures every text format
//! shows, and the facts the charts share (scenario labels).

use rust_decimal::Decimal;

use crate::document::{
    Block, Cell, Chart, Column, ColumnKind, Document, Figure, Inline, KeyFigure, ListStyle,
    Section, Span, Table, Tone, Total, data, words,
};
use crate::format::{decimal_trim, money, move_pct, rate_pct, share_pct};
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
fn contribution_scenario(r: &AccountReport, c: &Contribution) -> String {
    r.worst_scenarios
        .iter()
        .find(|s| s.index == c.scenario_index)
        .map(scenario_label)
        .unwrap_or_else(|| format!("scenario #{}", c.scenario_index))
}

/// A contribution's share of its scenario's total P&L, when known.
fn contribution_share(r: &AccountReport, c: &Contribution) -> Option<String> {
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
fn tiers_used(r: &AccountReport) -> bool {
    r.fee_tiers.iter().any(|t| !t.amount.is_zero())
}

/// `Loss` for a negative figure (a zero is never a loss).
fn loss_tone(d: Decimal) -> Tone {
    if d.is_sign_negative() && !d.is_zero() {
        Tone::Loss
    } else {
        Tone::Plain
    }
}

fn column(title: &str, kind: ColumnKind) -> Column {
    Column {
        title: title.to_string(),
        kind,
    }
}

fn section(id: &str, title: &str, blocks: Vec<Block>) -> Section {
    Section {
        id: id.to_string(),
        title: title.to_string(),
        blocks,
    }
}

fn paragraph(text: Inline) -> Block {
    Block::Paragraph { text }
}

fn note(text: &str) -> Block {
    Block::Note {
        text: vec![words(text)],
    }
}

/// Writes the document with the account's money in `ccy`.
struct Writer<'a> {
    r: &'a AccountReport,
}

impl Writer<'_> {
    /// An amount with its currency, as data: `1,234.50 USD`.
    fn m(&self, d: Decimal) -> Span {
        data(format!("{} {}", money(d), self.r.base_currency))
    }

    fn key_figures(&self) -> Vec<KeyFigure> {
        let r = self.r;
        [
            ("Net liquidation value", r.nlv, false),
            ("Risk measure (loss)", r.measure, false),
            ("Uncovered", r.uncovered, !r.uncovered.is_zero()),
            ("Daily fee", r.daily_fee, !r.daily_fee.is_zero()),
            ("Charged tonight", r.amount_charged, false),
        ]
        .into_iter()
        .map(|(label, value, hot)| KeyFigure {
            label: label.to_string(),
            value: money(value),
            hot,
        })
        .collect()
    }

    fn summary(&self) -> Section {
        let r = self.r;
        let row = |label: &str, value: Span| (vec![words(label)], vec![value]);
        let rows = vec![
            row("Net liquidation value (NLV)", self.m(r.nlv)),
            (
                vec![
                    words("Risk measure ("),
                    data(&r.measure_name),
                    words("), a loss"),
                ],
                vec![self.m(r.measure)],
            ),
            row("Uncovered = max(0, measure − NLV)", self.m(r.uncovered)),
            row("Threshold", self.m(r.threshold)),
            row("Fee status", Span::Status(r.fee_status.clone())),
            row(
                "Fee effective date",
                data(
                    r.effective_date
                        .map_or_else(|| "–".to_string(), |d| d.to_string()),
                ),
            ),
            row("Daily fee", self.m(r.daily_fee)),
            row("Days charged tonight", data(r.days_charged.to_string())),
            row("Amount charged tonight", self.m(r.amount_charged)),
        ];
        section(
            "summary",
            "Summary",
            vec![
                Block::Facts { rows },
                paragraph(vec![data(status_sentence(r))]),
            ],
        )
    }

    fn distribution() -> Section {
        section(
            "distribution",
            "Distribution of scenario P&L",
            vec![Block::Figure(Figure {
                chart: Chart::PnlHistogram,
                alt: "Histogram of the account's scenario P&L with the line at minus NLV".into(),
                caption: Some("Scenarios left of the −NLV line lose more than the account's whole equity: that tail is the uncovered risk.".into()),
                size: Some((960, 480)),
            })],
        )
    }

    fn computation(&self) -> Section {
        let r = self.r;
        let mut blocks = Vec::new();
        if r.uncovered <= r.threshold && !tiers_used(r) {
            blocks.push(paragraph(vec![
                words("The uncovered amount, "),
                self.m(r.uncovered),
                words(", does not exceed the threshold of "),
                self.m(r.threshold),
                words(": no exposure fee."),
            ]));
        } else if !r.fee_tiers.is_empty() {
            let basis = r
                .day_count
                .map(|d| format!(" (annual rate ÷ {d} days)"))
                .unwrap_or_default();
            blocks.push(paragraph(vec![
                words("Each tier's annual rate applies to its slice of the uncovered amount, "),
                self.m(r.uncovered),
                words(format!("{basis}:")),
            ]));
            let (total, exposure) = exposure_fee(r);
            blocks.push(self.tiers(total));
            blocks.push(Block::List {
                style: ListStyle::Steps,
                items: self.fee_steps(total, exposure),
            });
        } else {
            blocks.push(paragraph(vec![
                words("Daily fee: "),
                self.m(r.daily_fee),
                words("."),
            ]));
        }
        blocks.extend(self.charge());
        section("computation", "How the fee was computed", blocks)
    }

    fn tiers(&self, total: Decimal) -> Block {
        let columns = ["Tier", "From", "To", "Slice", "Annual rate", "Daily"]
            .into_iter()
            .map(|t| column(t, ColumnKind::Number))
            .collect();
        let rows = self
            .r
            .fee_tiers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    Cell::data((i + 1).to_string()),
                    Cell::data(money(t.from)),
                    Cell::data(t.to.map_or_else(|| "and above".to_string(), money)),
                    Cell::data(money(t.amount)),
                    Cell::data(rate_pct(t.rate)),
                    Cell::data(decimal_trim(t.daily, 2, 6)),
                ]
            })
            .collect();
        Block::Table(Table {
            columns,
            rows,
            total: Some(Total {
                label: "Total of the tiers, a day".into(),
                values: vec![decimal_trim(total, 2, 6)],
            }),
        })
    }

    fn fee_steps(&self, total: Decimal, exposure: Decimal) -> Vec<Inline> {
        let r = self.r;
        let mut steps = Vec::new();
        match (r.minimum_applied, r.minimum_daily) {
            (true, Some(min)) => steps.push(vec![
                words("The tiers give "),
                Span::TextOnly(vec![data(decimal_trim(total, 2, 6)), words(" a day, ")]),
                words("less than the minimum daily charge: the minimum, "),
                self.m(min),
                words(", applies."),
            ]),
            (true, None) => steps.push(vec![words(
                "The tiers give less than the minimum daily charge: the minimum applies.",
            )]),
            (false, Some(min)) => steps.push(vec![
                words("Minimum daily charge "),
                self.m(min),
                words(": not reached, so not applied."),
            ]),
            (false, None) => {}
        }
        steps.push(vec![
            words("Exposure fee, rounded once to cents (half to even): "),
            self.m(exposure),
            words("."),
        ]);
        if let Some(inv) = r.inventory_fee {
            let which = if r.daily_fee == inv && inv > exposure {
                "the inventory fee"
            } else {
                "the exposure fee"
            };
            steps.push(vec![
                words("Inventory fee "),
                self.m(inv),
                words(format!(
                    ": the account pays the greater of the two, {which}."
                )),
            ]);
        }
        steps.push(vec![Span::Strong(vec![
            words("Daily fee: "),
            self.m(r.daily_fee),
            words("."),
        ])]);
        steps
    }

    /// What tonight's run charges, when it says anything.
    fn charge(&self) -> Option<Block> {
        let r = self.r;
        let days = r.days_charged;
        let plural = if days == 1 { "" } else { "s" };
        let text = if days > 0 && r.daily_fee * Decimal::from(days) == r.amount_charged {
            vec![
                words(format!("Tonight's run charges {days} day{plural}: ")),
                self.m(r.daily_fee),
                words(format!(" × {days} = ")),
                Span::Key(vec![self.m(r.amount_charged)]),
                words("."),
            ]
        } else if days > 0 {
            vec![
                words(format!(
                    "Tonight's run charges {days} day{plural}, each at the fee measured by the run in force on it: "
                )),
                Span::Key(vec![self.m(r.amount_charged)]),
                words("."),
            ]
        } else if r.fee_status == "grace" {
            vec![words("Nothing is charged during the grace week.")]
        } else {
            return None;
        };
        Some(paragraph(text))
    }

    fn scenarios(&self) -> Section {
        let r = self.r;
        let block = if r.worst_scenarios.is_empty() {
            note("None reported.")
        } else {
            Block::Table(Table {
                columns: vec![
                    column("Rank", ColumnKind::Number),
                    column("Scenario", ColumnKind::Wrap),
                    column("P&L", ColumnKind::Number),
                    column("Factor moves that matter", ColumnKind::Wrap),
                ],
                rows: r
                    .worst_scenarios
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        vec![
                            Cell::data((i + 1).to_string()),
                            Cell::data(scenario_label(s)),
                            Cell::toned(money(s.pnl), loss_tone(s.pnl)),
                            Cell::data(moves_text(s)),
                        ]
                    })
                    .collect(),
                total: None,
            })
        };
        section("scenarios", "Worst scenarios", vec![block])
    }

    fn contributors(&self) -> Section {
        let r = self.r;
        let blocks = if r.contributors.is_empty() {
            vec![note("None reported.")]
        } else {
            let figure = Block::Figure(Figure {
                chart: Chart::Contributors,
                alt: "Bar chart of the positions' P&L in the worst scenario".into(),
                caption: None,
                size: None,
            });
            let table = Block::Table(Table {
                columns: vec![
                    column("Position", ColumnKind::Wrap),
                    column("Scenario", ColumnKind::Wrap),
                    column("P&L", ColumnKind::Number),
                    column("Share of the scenario's P&L", ColumnKind::Number),
                ],
                rows: r
                    .contributors
                    .iter()
                    .map(|c| {
                        vec![
                            Cell::data(&c.position),
                            Cell::data(contribution_scenario(r, c)),
                            Cell::toned(money(c.pnl), loss_tone(c.pnl)),
                            Cell::data(contribution_share(r, c).unwrap_or_else(|| "–".into())),
                        ]
                    })
                    .collect(),
                total: None,
            });
            vec![figure, table]
        };
        section("contributors", "Largest contributors to the loss", blocks)
    }

    fn classes(&self) -> Section {
        let r = self.r;
        let block = if r.fee_by_class.is_empty() {
            note("None reported.")
        } else {
            let total: Decimal = r.fee_by_class.iter().map(|(_, f)| *f).sum();
            Block::Table(Table {
                columns: vec![
                    column("Classification", ColumnKind::Wrap),
                    column("Daily fee", ColumnKind::Number),
                    column("Share", ColumnKind::Number),
                ],
                rows: r
                    .fee_by_class
                    .iter()
                    .map(|(class, fee)| {
                        vec![
                            Cell::data(class),
                            Cell::data(money(*fee)),
                            Cell::data(share_pct(*fee, total).unwrap_or_else(|| "–".into())),
                        ]
                    })
                    .collect(),
                total: None,
            })
        };
        section("classes", "Fee per product classification", vec![block])
    }

    fn adjustments(&self) -> Section {
        let r = self.r;
        if r.adjustments.is_empty() {
            let why = if r.daily_fee.is_zero() && r.uncovered <= r.threshold {
                "None needed: the account pays no exposure fee."
            } else {
                "No adjustment that reduces the fee was found."
            };
            return section("adjustments", "Hypothetical adjustments", vec![note(why)]);
        }
        let intro = paragraph(vec![
            words(
                "Each adjustment was re-checked on the whole scenario set; the fee shown is the re-checked one. Current daily fee: ",
            ),
            self.m(r.daily_fee),
            words("."),
        ]);
        let rows = r
            .adjustments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut lines: Vec<Inline> = Vec::new();
                if let Some(d) = a.deposit {
                    lines.push(vec![data(format!(
                        "deposit {} {}",
                        money(d),
                        r.base_currency
                    ))]);
                }
                lines.extend(a.trades.iter().map(|(p, q)| vec![data(trade_text(p, *q))]));
                // a plain deposit is said by its title
                let heading = (!a.trades.is_empty())
                    .then(|| vec![words(format!("{}. ", i + 1)), data(&a.title)]);
                let change = a.fee_after - r.daily_fee;
                let gain = change.is_sign_negative() && !change.is_zero();
                vec![
                    Cell::data((i + 1).to_string()),
                    Cell::data(&a.title),
                    Cell::data(a.kind.as_str()),
                    Cell::data(&a.method),
                    Cell::Lines { lines, heading },
                    Cell::data(money(a.measure_after)),
                    Cell::text(vec![Span::Key(vec![data(money(a.fee_after))])]),
                    Cell::toned(money(change), if gain { Tone::Gain } else { Tone::Plain }),
                ]
            })
            .collect();
        let table = Block::Table(Table {
            columns: vec![
                column("#", ColumnKind::Number),
                column("Adjustment", ColumnKind::Wrap),
                column("Kind", ColumnKind::Tag),
                column("Found by", ColumnKind::Text),
                column("Trades", ColumnKind::Lines),
                column("Risk measure after", ColumnKind::Number),
                column("Daily fee after", ColumnKind::Number),
                column("Change", ColumnKind::Number),
            ],
            rows,
            total: None,
        });
        section(
            "adjustments",
            "Hypothetical adjustments",
            vec![intro, table],
        )
    }

    fn warnings(&self) -> Option<Section> {
        let r = self.r;
        (!r.warnings.is_empty()).then(|| {
            section(
                "warnings",
                "Warnings",
                vec![Block::List {
                    style: ListStyle::Warnings,
                    items: r.warnings.iter().map(|w| vec![data(w)]).collect(),
                }],
            )
        })
    }
}

impl Document {
    /// The Exposure Fee Calculation report of `r`, worded once for every
    /// format: summary, P&L distribution, how the fee was computed, worst
    /// scenarios, largest contributors, fee per class, adjustments and, when
    /// there are any, warnings.
    pub fn from_report(r: &AccountReport) -> Self {
        let w = Writer { r };
        let mut sections = vec![
            w.summary(),
            Writer::distribution(),
            w.computation(),
            w.scenarios(),
            w.contributors(),
            w.classes(),
            w.adjustments(),
        ];
        sections.extend(w.warnings());
        Document {
            title: "Exposure Fee Calculation report".into(),
            account: r.account.clone(),
            valuation_date: r.valuation_date.to_string(),
            currency: r.base_currency.clone(),
            status: r.fee_status.clone(),
            key_figures: w.key_figures(),
            sections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Adjustment, AdjustmentKind, TierLine};

    fn d(units: i64, scale: u32) -> Decimal {
        Decimal::new(units, scale)
    }

    /// A charged account: uncovered 30,000 over a 10,000 threshold, one
    /// tier at 3.65% a year on 365 days (1.00 a day per 10,000), under a
    /// 5.00 minimum, and an inventory fee of 4.00: the minimum wins.
    fn charged() -> AccountReport {
        AccountReport {
            account: "U1".into(),
            base_currency: "EUR".into(),
            fee_status: "charged".into(),
            uncovered: d(30_000, 0),
            threshold: d(10_000, 0),
            fee_tiers: vec![TierLine {
                from: Decimal::ZERO,
                to: None,
                rate: d(365, 4),
                amount: d(20_000, 0),
                daily: d(2, 0),
            }],
            day_count: Some(365),
            minimum_daily: Some(d(5, 0)),
            minimum_applied: true,
            inventory_fee: Some(d(4, 0)),
            daily_fee: d(5, 0),
            days_charged: 3,
            amount_charged: d(15, 0),
            adjustments: vec![
                Adjustment {
                    title: "Deposit".into(),
                    kind: AdjustmentKind::Deposit,
                    deposit: Some(d(20_000, 0)),
                    fee_after: Decimal::ZERO,
                    ..Adjustment::default()
                },
                Adjustment {
                    title: "Close".into(),
                    kind: AdjustmentKind::Reduce,
                    trades: vec![("XYZ".into(), d(-2, 0))],
                    fee_after: d(6, 0),
                    ..Adjustment::default()
                },
            ],
            ..AccountReport::default()
        }
    }

    fn text(spans: &[Span]) -> String {
        spans
            .iter()
            .map(|s| match s {
                Span::Words(t) | Span::Data(t) | Span::Status(t) => t.clone(),
                Span::Strong(i) | Span::Key(i) | Span::TextOnly(i) => format!("[{}]", text(i)),
            })
            .collect()
    }

    fn section<'a>(doc: &'a Document, id: &str) -> &'a Section {
        doc.sections.iter().find(|s| s.id == id).unwrap()
    }

    #[test]
    fn the_fee_computation_is_worded_from_the_figures() {
        let doc = Document::from_report(&charged());
        let ids: Vec<&str> = doc.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "summary",
                "distribution",
                "computation",
                "scenarios",
                "contributors",
                "classes",
                "adjustments"
            ]
        );
        let blocks = &section(&doc, "computation").blocks;
        let Block::Paragraph { text: intro } = &blocks[0] else {
            panic!("{blocks:?}")
        };
        assert_eq!(
            text(intro),
            "Each tier's annual rate applies to its slice of the uncovered amount, 30,000.00 EUR (annual rate ÷ 365 days):"
        );
        let Block::Table(tiers) = &blocks[1] else {
            panic!()
        };
        assert_eq!(tiers.total.as_ref().unwrap().values, ["2.00"]);
        let Cell::Text { text: rate, .. } = &tiers.rows[0][4] else {
            panic!()
        };
        assert_eq!(self::text(rate), "3.65%");
        let Block::List { items, .. } = &blocks[2] else {
            panic!()
        };
        let steps: Vec<String> = items.iter().map(|i| text(i)).collect();
        assert_eq!(
            steps,
            [
                "The tiers give [2.00 a day, ]less than the minimum daily charge: the minimum, 5.00 EUR, applies.",
                // the greater-of kept the exposure fee (the minimum, 5.00 > 4.00)
                "Exposure fee, rounded once to cents (half to even): 5.00 EUR.",
                "Inventory fee 4.00 EUR: the account pays the greater of the two, the exposure fee.",
                "[Daily fee: 5.00 EUR.]",
            ]
        );
        // 3 days × 5.00 = 15.00, what the run posts
        let Block::Paragraph { text: charge } = &blocks[3] else {
            panic!()
        };
        assert_eq!(
            text(charge),
            "Tonight's run charges 3 days: 5.00 EUR × 3 = [15.00 EUR]."
        );
    }

    #[test]
    fn adjustments_list_their_trades_and_the_change_in_fee() {
        let doc = Document::from_report(&charged());
        let Block::Table(t) = &section(&doc, "adjustments").blocks[1] else {
            panic!()
        };
        // a plain deposit: said by its title, not listed again in Markdown
        assert_eq!(
            t.rows[0][4],
            Cell::Lines {
                lines: vec![vec![data("deposit 20,000.00 EUR")]],
                heading: None
            }
        );
        assert_eq!(
            t.rows[1][4],
            Cell::Lines {
                lines: vec![vec![data("sell 2: XYZ")]],
                heading: Some(vec![words("2. "), data("Close")]),
            }
        );
        // 0 − 5 saves 5.00 (a gain); 6 − 5 costs 1.00 (no colour)
        assert_eq!(t.rows[0][7], Cell::toned("-5.00", Tone::Gain));
        assert_eq!(t.rows[1][7], Cell::toned("1.00", Tone::Plain));
    }

    #[test]
    fn a_clear_account_says_no_fee_and_needs_no_adjustment() {
        let r = AccountReport {
            fee_status: "clear".into(),
            base_currency: "USD".into(),
            uncovered: d(5, 0),
            threshold: d(10, 0),
            ..AccountReport::default()
        };
        let doc = Document::from_report(&r);
        assert_eq!(
            section(&doc, "computation").blocks,
            [Block::Paragraph {
                text: vec![
                    words("The uncovered amount, "),
                    data("5.00 USD"),
                    words(", does not exceed the threshold of "),
                    data("10.00 USD"),
                    words(": no exposure fee."),
                ]
            }]
        );
        assert_eq!(
            section(&doc, "adjustments").blocks,
            [note("None needed: the account pays no exposure fee.")]
        );
        // no contributors: no figure either
        assert_eq!(
            section(&doc, "contributors").blocks,
            [note("None reported.")]
        );
        // any uncovered amount is shown hot; a zero fee is not
        let hot: Vec<(&str, bool)> = doc
            .key_figures
            .iter()
            .map(|k| (k.label.as_str(), k.hot))
            .collect();
        assert_eq!(
            hot,
            [
                ("Net liquidation value", false),
                ("Risk measure (loss)", false),
                ("Uncovered", true),
                ("Daily fee", false),
                ("Charged tonight", false)
            ]
        );
    }

    #[test]
    fn moves_beyond_eight_are_counted_and_labels_fall_back_to_the_index() {
        let s = ScenarioLine {
            index: 12,
            name: Some("  ".into()),
            moves: (0..10)
                .map(|i| (format!("F{i}"), f64::from(i) / 100.0))
                .collect(),
            ..ScenarioLine::default()
        };
        assert_eq!(scenario_label(&s), "scenario #12");
        assert_eq!(
            moves_text(&s),
            "F0 0.0%, F1 +1.0%, F2 +2.0%, F3 +3.0%, F4 +4.0%, F5 +5.0%, F6 +6.0%, F7 +7.0%, … 2 more"
        );
        assert_eq!(trade_text("X", d(15, 1)), "buy 1.5: X");
    }
}
