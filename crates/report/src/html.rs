//! The report and the batch index as standalone HTML pages.

use std::collections::BTreeMap;
use std::fmt::Write;

use rust_decimal::Decimal;

use crate::format::{decimal_trim, href, html_escape as e, money, money_ccy, rate_pct, share_pct};
use crate::markdown::{
    contribution_scenario, contribution_share, exposure_fee, moves_text, scenario_label,
    status_sentence, tiers_used, trade_text,
};
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

fn signed_class(d: Decimal) -> &'static str {
    if d.is_sign_negative() && !d.is_zero() {
        "n neg"
    } else {
        "n"
    }
}

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
    let ccy = e(&r.base_currency);
    let m = |d: Decimal| money_ccy(d, &ccy);
    let mut o = String::new();
    page_start(
        &mut o,
        &format!(
            "Exposure fee: {} ({})",
            crate::format::truncate(&r.account, 60),
            r.valuation_date
        ),
    );

    // ---- header and key figures
    let _ = writeln!(o, "<h1>Exposure Fee Calculation report</h1>");
    let _ = writeln!(
        o,
        "<p class=\"sub\">Account <strong class=\"acct\">{}</strong> · valuation date {} · amounts in {ccy} · {}</p>",
        e(&r.account),
        r.valuation_date,
        badge(&r.fee_status)
    );
    let _ = writeln!(o, "<div class=\"cards\">");
    let hot = !r.uncovered.is_zero();
    for (k, v, is_hot) in [
        ("Net liquidation value", r.nlv, false),
        ("Risk measure (loss)", r.measure, false),
        ("Uncovered", r.uncovered, hot),
        ("Daily fee", r.daily_fee, !r.daily_fee.is_zero()),
        ("Charged tonight", r.amount_charged, false),
    ] {
        let _ = writeln!(
            o,
            "<div class=\"card{}\"><div class=\"k\">{k}</div><div class=\"v\"><span>{}</span> <span class=\"c\">{ccy}</span></div></div>",
            if is_hot { " hot" } else { "" },
            money(v)
        );
    }
    let _ = writeln!(o, "</div>");

    // ---- summary
    let _ = writeln!(o, "<h2 id=\"summary\">Summary</h2>\n<table class=\"kv\">");
    let rows: Vec<(String, String)> = vec![
        ("Net liquidation value (NLV)".into(), m(r.nlv)),
        (
            format!("Risk measure ({}), a loss", e(&r.measure_name)),
            m(r.measure),
        ),
        ("Uncovered = max(0, measure − NLV)".into(), m(r.uncovered)),
        ("Threshold".into(), m(r.threshold)),
        ("Fee status".into(), badge(&r.fee_status)),
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
        let _ = writeln!(o, "<tr><th>{k}</th><td class=\"n\">{v}</td></tr>");
    }
    let _ = writeln!(o, "</table>\n<p>{}</p>", e(&status_sentence(r)));

    // ---- charts
    if let Some(h) = &charts.pnl_histogram {
        let _ = writeln!(
            o,
            "<h2 id=\"distribution\">Distribution of scenario P&amp;L</h2>\n<figure><img src=\"{}\" alt=\"Histogram of the account's scenario P&amp;L with the line at minus NLV\" width=\"960\" height=\"480\"><figcaption>Scenarios left of the −NLV line lose more than the account's whole equity: that tail is the uncovered risk.</figcaption></figure>",
            href(h)
        );
    }

    // ---- how the fee was computed
    let _ = writeln!(o, "<h2 id=\"computation\">How the fee was computed</h2>");
    if r.uncovered <= r.threshold && !tiers_used(r) {
        let _ = writeln!(
            o,
            "<p>The uncovered amount, {}, does not exceed the threshold of {}: no exposure fee.</p>",
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
            "<p>Each tier's annual rate applies to its slice of the uncovered amount, {}{basis}:</p>",
            m(r.uncovered)
        );
        let _ = writeln!(
            o,
            "<table>\n<tr><th class=\"n\">Tier</th><th class=\"n\">From</th><th class=\"n\">To</th><th class=\"n\">Slice</th><th class=\"n\">Annual rate</th><th class=\"n\">Daily</th></tr>"
        );
        for (i, t) in r.fee_tiers.iter().enumerate() {
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
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
            "<tr class=\"total\"><td colspan=\"5\">Total of the tiers, a day</td><td class=\"n\">{}</td></tr>\n</table>",
            decimal_trim(total, 2, 6)
        );
        let _ = writeln!(o, "<ul class=\"steps\">");
        match (r.minimum_applied, r.minimum_daily) {
            (true, Some(min)) => {
                let _ = writeln!(
                    o,
                    "<li>The tiers give less than the minimum daily charge: the minimum, {}, applies.</li>",
                    m(min)
                );
            }
            (true, None) => {
                let _ = writeln!(
                    o,
                    "<li>The tiers give less than the minimum daily charge: the minimum applies.</li>"
                );
            }
            (false, Some(min)) => {
                let _ = writeln!(
                    o,
                    "<li>Minimum daily charge {}: not reached, so not applied.</li>",
                    m(min)
                );
            }
            (false, None) => {}
        }
        let _ = writeln!(
            o,
            "<li>Exposure fee, rounded once to cents (half to even): {}.</li>",
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
                "<li>Inventory fee {}: the account pays the greater of the two, {which}.</li>",
                m(inv)
            );
        }
        let _ = writeln!(
            o,
            "<li><strong>Daily fee: {}.</strong></li>\n</ul>",
            m(r.daily_fee)
        );
    } else {
        let _ = writeln!(o, "<p>Daily fee: {}.</p>", m(r.daily_fee));
    }
    if r.days_charged > 0 && r.daily_fee * Decimal::from(r.days_charged) == r.amount_charged {
        let _ = writeln!(
            o,
            "<p>Tonight's run charges {} day{}: {} × {} = <strong>{}</strong>.</p>",
            r.days_charged,
            if r.days_charged == 1 { "" } else { "s" },
            m(r.daily_fee),
            r.days_charged,
            m(r.amount_charged)
        );
    } else if r.days_charged > 0 {
        let _ = writeln!(
            o,
            "<p>Tonight's run charges {} day{}, each at the fee measured by the run in force on it: <strong>{}</strong>.</p>",
            r.days_charged,
            if r.days_charged == 1 { "" } else { "s" },
            m(r.amount_charged)
        );
    } else if r.fee_status == "grace" {
        let _ = writeln!(o, "<p>Nothing is charged during the grace week.</p>");
    }

    // ---- worst scenarios
    let _ = writeln!(o, "<h2 id=\"scenarios\">Worst scenarios</h2>");
    if r.worst_scenarios.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">None reported.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table>\n<tr><th class=\"n\">Rank</th><th>Scenario</th><th class=\"n\">P&amp;L</th><th>Factor moves that matter</th></tr>"
        );
        for (i, s) in r.worst_scenarios.iter().enumerate() {
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"w\">{}</td><td class=\"{}\">{}</td><td class=\"w\">{}</td></tr>",
                i + 1,
                e(&scenario_label(s)),
                signed_class(s.pnl),
                money(s.pnl),
                e(&moves_text(s))
            );
        }
        let _ = writeln!(o, "</table>");
    }

    // ---- contributors
    let _ = writeln!(
        o,
        "<h2 id=\"contributors\">Largest contributors to the loss</h2>"
    );
    if let Some(h) = &charts.contributors
        && !r.contributors.is_empty()
    {
        let _ = writeln!(
            o,
            "<figure><img src=\"{}\" alt=\"Bar chart of the positions' P&amp;L in the worst scenario\"></figure>",
            href(h)
        );
    }
    if r.contributors.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">None reported.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table>\n<tr><th>Position</th><th>Scenario</th><th class=\"n\">P&amp;L</th><th class=\"n\">Share of the scenario's P&amp;L</th></tr>"
        );
        for c in &r.contributors {
            let _ = writeln!(
                o,
                "<tr><td class=\"w\">{}</td><td class=\"w\">{}</td><td class=\"{}\">{}</td><td class=\"n\">{}</td></tr>",
                e(&c.position),
                e(&contribution_scenario(r, c)),
                signed_class(c.pnl),
                money(c.pnl),
                contribution_share(r, c).unwrap_or_else(|| "–".into())
            );
        }
        let _ = writeln!(o, "</table>");
    }

    // ---- fee per class
    let _ = writeln!(o, "<h2 id=\"classes\">Fee per product classification</h2>");
    if r.fee_by_class.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">None reported.</p>");
    } else {
        let total: Decimal = r.fee_by_class.iter().map(|(_, f)| *f).sum();
        let _ = writeln!(
            o,
            "<table>\n<tr><th>Classification</th><th class=\"n\">Daily fee</th><th class=\"n\">Share</th></tr>"
        );
        for (class, fee) in &r.fee_by_class {
            let _ = writeln!(
                o,
                "<tr><td class=\"w\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                e(class),
                money(*fee),
                share_pct(*fee, total).unwrap_or_else(|| "–".into())
            );
        }
        let _ = writeln!(o, "</table>");
    }

    // ---- adjustments
    let _ = writeln!(o, "<h2 id=\"adjustments\">Hypothetical adjustments</h2>");
    if r.adjustments.is_empty() {
        let why = if r.daily_fee.is_zero() && r.uncovered <= r.threshold {
            "None needed: the account pays no exposure fee."
        } else {
            "No adjustment that reduces the fee was found."
        };
        let _ = writeln!(o, "<p class=\"note\">{why}</p>");
    } else {
        let _ = writeln!(
            o,
            "<p>Each adjustment was re-checked on the whole scenario set; the fee shown is the re-checked one. Current daily fee: {}.</p>",
            m(r.daily_fee)
        );
        let _ = writeln!(
            o,
            "<table>\n<tr><th class=\"n\">#</th><th>Adjustment</th><th>Kind</th><th>Found by</th><th>Trades</th><th class=\"n\">Risk measure after</th><th class=\"n\">Daily fee after</th><th class=\"n\">Change</th></tr>"
        );
        for (i, a) in r.adjustments.iter().enumerate() {
            let mut trades: Vec<String> = Vec::new();
            if let Some(d) = a.deposit {
                trades.push(format!("deposit {}", m(d)));
            }
            trades.extend(a.trades.iter().map(|(p, q)| e(&trade_text(p, *q))));
            let change = a.fee_after - r.daily_fee;
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"w\">{}</td><td class=\"k\">{}</td><td>{}</td><td class=\"w\">{}</td><td class=\"n\">{}</td><td class=\"n\"><strong>{}</strong></td><td class=\"{}\">{}</td></tr>",
                i + 1,
                e(&a.title),
                a.kind.as_str(),
                e(&a.method),
                if trades.is_empty() {
                    "–".to_string()
                } else {
                    trades.join("<br>")
                },
                money(a.measure_after),
                money(a.fee_after),
                if change.is_sign_negative() && !change.is_zero() {
                    "n pos"
                } else {
                    "n"
                },
                money(change)
            );
        }
        let _ = writeln!(o, "</table>");
    }

    // ---- warnings
    if !r.warnings.is_empty() {
        let _ = writeln!(
            o,
            "<h2 id=\"warnings\">Warnings</h2>\n<div class=\"warn\"><ul>"
        );
        for w in &r.warnings {
            let _ = writeln!(o, "<li>{}</li>", e(w));
        }
        let _ = writeln!(o, "</ul></div>");
    }

    let _ = writeln!(
        o,
        "<footer>Exposure Fee Calculation report, generated by exfee. Scenario P&amp;L and fees in {ccy}.</footer>\n</main>\n</body>\n</html>"
    );
    o
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
