//! The report and the batch index as standalone HTML pages.

#![allow(
    clippy::let_underscore_must_use,
    reason = "`write!` into a `String`, which cannot fail"
)]

use std::collections::BTreeMap;
use std::fmt::Write;

use rust_decimal::Decimal;

use crate::document::{Block, Cell, Chart, ColumnKind, Document, ListStyle, Span, Table, Tone};
use crate::format::{href, html_escape as e, money};
use crate::{AccountReport, IndexEntry};

/// Where the report's HTML finds its charts: relative links (`None`: that
/// chart is left out). Links are percent-encoded, so they stay relative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartLinks {
    /// The P&L distribution chart (SVG or PNG).
    pub pnl_histogram: Option<String>,
    /// The largest-contributors chart (SVG or PNG).
    pub contributors: Option<String>,
}

impl ChartLinks {
    /// The SVG charts next to the report, as [`crate::AccountFiles`] names
    /// them: `<stem>-pnl.svg`, `<stem>-contributors.svg`.
    pub fn beside(stem: &str) -> Self {
        Self {
            pnl_histogram: Some(format!("{stem}-pnl.svg")),
            contributors: Some(format!("{stem}-contributors.svg")),
        }
    }

    /// No charts.
    pub fn none() -> Self {
        Self::default()
    }

    /// The link to `chart`, if it is shown.
    fn link(&self, chart: Chart) -> Option<&String> {
        match chart {
            Chart::PnlHistogram => self.pnl_histogram.as_ref(),
            Chart::Contributors => self.contributors.as_ref(),
        }
    }
}

const CSS: &str = "\
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#f6f7f9;--red:#b42318;--amber:#b54708;--green:#067647}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
.sub{color:var(--muted);margin:0 0 18px}
.acct,li,p,h1,td.w{overflow-wrap:anywhere}
td,th{overflow-wrap:break-word}
td.k{white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.card .v span{white-space:nowrap} .card .v .c{font-size:13px;font-weight:400;color:var(--muted)}
.card.hot{border-color:var(--red)} .card.hot .v{color:var(--red)}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-size:13px;font-weight:600;color:#fff;background:var(--muted)}
.badge.clear{background:var(--green)} .badge.grace{background:var(--amber)} .badge.charged{background:var(--red)}
table{border-collapse:collapse;width:100%;margin:8px 0 12px;font-size:14px}
table.kv{width:auto;min-width:60%}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:700;border-top:2px solid var(--fg)}
.neg{color:var(--red)} .pos{color:var(--green)}
figure{margin:12px 0;padding:0} figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{color:var(--muted);font-size:13px}
.note{color:var(--muted)}
ul.steps li{margin:2px 0}
.warn{background:#fffaeb;border:1px solid #fedf89;border-radius:6px;padding:8px 14px}
footer{margin-top:36px;color:var(--muted);font-size:12px}
@media print{body{background:#fff} main{padding:0}}
";

fn badge(status: &str) -> String {
    let class = match status {
        "clear" | "grace" | "charged" => status,
        _ => "other",
    };
    format!("<span class=\"badge {class}\">{}</span>", e(status))
}

fn page_start(o: &mut String, title: &str) {
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n",
        e(title)
    );
}

/// Renders the report as a standalone HTML page (inline CSS, no scripts),
/// showing the charts linked by `charts`.
pub fn html(r: &AccountReport, charts: &ChartLinks) -> String {
    render(&Document::from_report(r), charts)
}

/// Renders a document as a standalone HTML page.
pub(crate) fn render(doc: &Document, charts: &ChartLinks) -> String {
    let ccy = e(&doc.currency);
    let mut o = String::new();
    page_start(
        &mut o,
        &format!(
            "Exposure fee: {} ({})",
            crate::format::truncate(&doc.account, 60),
            doc.valuation_date
        ),
    );
    let _ = writeln!(o, "<h1>{}</h1>", words(&doc.title));
    let _ = writeln!(
        o,
        "<p class=\"sub\">Account <strong class=\"acct\">{}</strong> · valuation date {} · amounts in {ccy} · {}</p>",
        e(&doc.account),
        e(&doc.valuation_date),
        badge(&doc.status)
    );
    let _ = writeln!(o, "<div class=\"cards\">");
    for k in &doc.key_figures {
        let _ = writeln!(
            o,
            "<div class=\"card{}\"><div class=\"k\">{}</div><div class=\"v\"><span>{}</span> <span class=\"c\">{ccy}</span></div></div>",
            if k.hot { " hot" } else { "" },
            words(&k.label),
            e(&k.value)
        );
    }
    let _ = writeln!(o, "</div>");
    for section in &doc.sections {
        let shown = |b: &Block| match b {
            Block::Figure(f) => charts.link(f.chart).is_some(),
            _ => true,
        };
        let figures_only = section.blocks.iter().all(|b| matches!(b, Block::Figure(_)));
        if figures_only && !section.blocks.iter().any(shown) {
            continue;
        }
        let _ = writeln!(
            o,
            "<h2 id=\"{}\">{}</h2>",
            e(&section.id),
            words(&section.title)
        );
        for block in &section.blocks {
            write_block(&mut o, block, charts);
        }
    }
    let _ = writeln!(
        o,
        "<footer>{}, generated by exfee. Scenario P&amp;L and fees in {ccy}.</footer>\n</main>\n</body>\n</html>",
        words(&doc.title)
    );
    o
}

/// The report's own words: `&`, `<` and `>` escaped.
fn words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML of spans.
fn inline(spans: &[Span]) -> String {
    let mut o = String::new();
    for span in spans {
        match span {
            Span::Words(w) => o.push_str(&words(w)),
            Span::Data(d) => o.push_str(&e(d)),
            Span::Strong(inner) | Span::Key(inner) => {
                let _ = write!(o, "<strong>{}</strong>", inline(inner));
            }
            Span::TextOnly(_) => {}
            Span::Status(s) => o.push_str(&badge(s)),
        }
    }
    o
}

fn write_block(o: &mut String, block: &Block, charts: &ChartLinks) {
    match block {
        Block::Paragraph { text } => {
            let _ = writeln!(o, "<p>{}</p>", inline(text));
        }
        Block::Note { text } => {
            let _ = writeln!(o, "<p class=\"note\">{}</p>", inline(text));
        }
        Block::List { style, items } => {
            let (open, close) = match style {
                ListStyle::Steps => ("<ul class=\"steps\">\n", "</ul>\n"),
                ListStyle::Warnings => ("<div class=\"warn\"><ul>\n", "</ul></div>\n"),
            };
            o.push_str(open);
            for item in items {
                let _ = writeln!(o, "<li>{}</li>", inline(item));
            }
            o.push_str(close);
        }
        Block::Facts { rows } => {
            o.push_str("<table class=\"kv\">\n");
            for (k, v) in rows {
                let _ = writeln!(
                    o,
                    "<tr><th>{}</th><td class=\"n\">{}</td></tr>",
                    inline(k),
                    inline(v)
                );
            }
            o.push_str("</table>\n");
        }
        Block::Table(t) => write_table(o, t),
        Block::Figure(f) => {
            if let Some(link) = charts.link(f.chart) {
                let size = f
                    .size
                    .map(|(w, h)| format!(" width=\"{w}\" height=\"{h}\""))
                    .unwrap_or_default();
                let caption = f
                    .caption
                    .as_ref()
                    .map(|c| format!("<figcaption>{}</figcaption>", words(c)))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "<figure><img src=\"{}\" alt=\"{}\"{size}>{caption}</figure>",
                    href(link),
                    words(&f.alt).replace('"', "&quot;")
                );
            }
        }
    }
}

fn write_table(o: &mut String, t: &Table) {
    o.push_str("<table>\n<tr>");
    for c in &t.columns {
        let class = if c.kind == ColumnKind::Number {
            " class=\"n\""
        } else {
            ""
        };
        let _ = write!(o, "<th{class}>{}</th>", words(&c.title));
    }
    o.push_str("</tr>\n");
    for cells in &t.rows {
        o.push_str("<tr>");
        for (c, cell) in t.columns.iter().zip(cells) {
            let base = match c.kind {
                ColumnKind::Number => "n",
                ColumnKind::Wrap | ColumnKind::Lines => "w",
                ColumnKind::Tag => "k",
                ColumnKind::Text => "",
            };
            let (tone, content) = match cell {
                Cell::Text { text, tone } => (*tone, inline(text)),
                Cell::Lines { lines, .. } if lines.is_empty() => (Tone::Plain, "–".to_string()),
                Cell::Lines { lines, .. } => (
                    Tone::Plain,
                    lines
                        .iter()
                        .map(|l| inline(l))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ),
            };
            let class = match tone {
                Tone::Plain => base.to_string(),
                Tone::Loss => format!("{base} neg"),
                Tone::Gain => format!("{base} pos"),
            };
            if class.is_empty() {
                let _ = write!(o, "<td>{content}</td>");
            } else {
                let _ = write!(o, "<td class=\"{class}\">{content}</td>");
            }
        }
        o.push_str("</tr>\n");
    }
    if let Some(total) = &t.total {
        let span = t.columns.len().saturating_sub(total.values.len());
        let _ = write!(
            o,
            "<tr class=\"total\"><td colspan=\"{span}\">{}</td>",
            words(&total.label)
        );
        for v in &total.values {
            let _ = write!(o, "<td class=\"n\">{}</td>", e(v));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

/// What a total shows when its sum exceeds what a `Decimal` holds.
pub const TOO_LARGE: &str = "too large to total";

/// Renders the batch's `index.html`: one row per entry, in the order given
/// (exfee ranks them by the daily fee in USD), linking each account's report
/// and chart, with totals per currency (checked: a sum that overflows shows
/// "too large to total") and the USD total of the daily fees.
pub fn index_html(entries: &[IndexEntry], title: &str) -> String {
    let mut o = String::new();
    page_start(&mut o, title);
    let _ = writeln!(o, "<h1>{}</h1>", e(title));
    let charged = entries.iter().filter(|x| x.fee_status == "charged").count();
    let grace = entries.iter().filter(|x| x.fee_status == "grace").count();
    let _ = writeln!(
        o,
        "<p class=\"sub\">{} account{} listed: {charged} charged, {grace} in grace.</p>",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    if entries.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"note\">No account is subject to the exposure fee.</p>"
        );
    } else {
        let _ = writeln!(
            o,
            "<table>\n<tr><th class=\"n\">#</th><th>Account</th><th>Status</th><th class=\"n\">Uncovered</th><th class=\"n\">Daily fee</th><th>Currency</th><th class=\"n\">Daily fee (USD)</th><th>Report</th><th>Chart</th></tr>"
        );
        // Per currency; `None` once a sum overflows (said, never a panic).
        type Totals = (Option<Decimal>, Option<Decimal>);
        let mut totals: BTreeMap<&str, Totals> = BTreeMap::new();
        let mut total_usd = Some(Decimal::ZERO);
        for (i, x) in entries.iter().enumerate() {
            let t = totals
                .entry(x.base_currency.as_str())
                .or_insert((Some(Decimal::ZERO), Some(Decimal::ZERO)));
            t.0 = t.0.and_then(|sum| sum.checked_add(x.uncovered));
            t.1 = t.1.and_then(|sum| sum.checked_add(x.daily_fee));
            total_usd = total_usd.and_then(|sum| sum.checked_add(x.daily_fee_usd?));
            let account = if x.report_href.is_empty() {
                e(&x.account)
            } else {
                format!("<a href=\"{}\">{}</a>", href(&x.report_href), e(&x.account))
            };
            let link = |h: &str, text: &str| {
                if h.is_empty() {
                    "–".to_string()
                } else {
                    format!("<a href=\"{}\">{text}</a>", href(h))
                }
            };
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"w\">{account}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                badge(&x.fee_status),
                money(x.uncovered),
                money(x.daily_fee),
                e(&x.base_currency),
                x.daily_fee_usd.map_or_else(|| "–".to_string(), money),
                link(&x.report_href, "report"),
                link(&x.chart_href, "chart"),
            );
        }
        let shown = |sum: Option<Decimal>| sum.map_or_else(|| TOO_LARGE.to_string(), money);
        for (ccy, (unc, fee)) in totals {
            let _ = writeln!(
                o,
                "<tr class=\"total\"><td></td><td colspan=\"2\">Total</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td></td><td></td><td></td></tr>",
                shown(unc),
                shown(fee),
                e(ccy)
            );
        }
        if entries.iter().all(|x| x.daily_fee_usd.is_some()) {
            let _ = writeln!(
                o,
                "<tr class=\"total\"><td></td><td colspan=\"5\">Total of the daily fees in USD</td><td class=\"n\">{}</td><td></td><td></td></tr>",
                shown(total_usd)
            );
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(
        o,
        "<footer>Generated by exfee.</footer>\n</main>\n</body>\n</html>"
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Column, Figure, KeyFigure, Section, Total, data, words};

    #[test]
    fn a_tiny_document_renders_to_the_html_written_by_hand() {
        let doc = Document {
            title: "Report".into(),
            account: "A<1>".into(),
            valuation_date: "2026-03-09".into(),
            currency: "USD".into(),
            status: "charged".into(),
            key_figures: vec![KeyFigure {
                label: "Daily fee".into(),
                value: "1.00".into(),
                hot: true,
            }],
            sections: vec![
                Section {
                    id: "s".into(),
                    title: "P&L".into(),
                    blocks: vec![
                        Block::Paragraph {
                            text: vec![
                                words("It's "),
                                Span::TextOnly(vec![words("not here ")]),
                                Span::Key(vec![data("'x'")]),
                            ],
                        },
                        Block::Table(Table {
                            columns: vec![
                                Column {
                                    title: "#".into(),
                                    kind: ColumnKind::Number,
                                },
                                Column {
                                    title: "Kind".into(),
                                    kind: ColumnKind::Tag,
                                },
                                Column {
                                    title: "Trades".into(),
                                    kind: ColumnKind::Lines,
                                },
                                Column {
                                    title: "By".into(),
                                    kind: ColumnKind::Text,
                                },
                                Column {
                                    title: "Change".into(),
                                    kind: ColumnKind::Number,
                                },
                            ],
                            rows: vec![vec![
                                Cell::data("1"),
                                Cell::data("hedge"),
                                Cell::Lines {
                                    lines: vec![vec![data("a&b")], vec![data("c")]],
                                    heading: None,
                                },
                                Cell::data("exact"),
                                Cell::toned("-2.00", Tone::Gain),
                            ]],
                            total: Some(Total {
                                label: "Total".into(),
                                values: vec!["-2.00".into()],
                            }),
                        }),
                        Block::Figure(Figure {
                            chart: Chart::Contributors,
                            alt: "Bars".into(),
                            caption: Some("Cap".into()),
                            size: Some((2, 1)),
                        }),
                    ],
                },
                Section {
                    id: "d".into(),
                    title: "Chart only".into(),
                    blocks: vec![Block::Figure(Figure {
                        chart: Chart::PnlHistogram,
                        alt: "none".into(),
                        caption: None,
                        size: None,
                    })],
                },
            ],
        };
        let links = ChartLinks {
            pnl_histogram: None,
            contributors: Some("c d.svg".into()),
        };
        let html = render(&doc, &links);
        let body = html.split("<main>\n").nth(1).unwrap();
        let want = "<h1>Report</h1>\n\
<p class=\"sub\">Account <strong class=\"acct\">A&lt;1&gt;</strong> · valuation date 2026-03-09 · amounts in USD · <span class=\"badge charged\">charged</span></p>\n\
<div class=\"cards\">\n\
<div class=\"card hot\"><div class=\"k\">Daily fee</div><div class=\"v\"><span>1.00</span> <span class=\"c\">USD</span></div></div>\n\
</div>\n\
<h2 id=\"s\">P&amp;L</h2>\n\
<p>It's <strong>&#39;x&#39;</strong></p>\n\
<table>\n<tr><th class=\"n\">#</th><th>Kind</th><th>Trades</th><th>By</th><th class=\"n\">Change</th></tr>\n\
<tr><td class=\"n\">1</td><td class=\"k\">hedge</td><td class=\"w\">a&amp;b<br>c</td><td>exact</td><td class=\"n pos\">-2.00</td></tr>\n\
<tr class=\"total\"><td colspan=\"4\">Total</td><td class=\"n\">-2.00</td></tr>\n\
</table>\n\
<figure><img src=\"c%20d.svg\" alt=\"Bars\" width=\"2\" height=\"1\"><figcaption>Cap</figcaption></figure>\n\
<footer>Report, generated by exfee. Scenario P&amp;L and fees in USD.</footer>\n</main>\n</body>\n</html>\n";
        assert_eq!(body, want);
        assert!(html.contains("<title>Exposure fee: A&lt;1&gt; (2026-03-09)</title>"));
    }
}
