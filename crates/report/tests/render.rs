//! Renders reports, charts and the index, and checks what a reader sees.

mod common;

use common::{d, sample};
use exfee_report::{
    AccountFiles, AccountReport, ChartLinks, Contribution, IndexEntry, ScenarioLine,
    contributors_png, contributors_svg, csv, html, index_html, json, markdown, pnl_histogram_png,
    pnl_histogram_svg,
};

const EVIL: &str = "<script>alert(1)</script>";

fn evil_report() -> AccountReport {
    let mut r = sample();
    r.account = EVIL.into();
    r.base_currency = "<b>USD</b>".into();
    r.measure_name = "worst <i>scenario</i>".into();
    r.contributors[0].position = "<img src=x onerror=alert(2)> | `x` *y*".into();
    r.worst_scenarios[2].name = Some("<svg onload=alert(3)>".into());
    r.worst_scenarios[0].moves[0].0 = "</td><script>".into();
    r.fee_by_class[0].0 = "Equity<script>".into();
    r.adjustments[2].title = "Close <script> & \"quote\"".into();
    r.adjustments[2].trades[0].0 = "<script>pos".into();
    r.warnings.push("</ul><script>alert(4)</script>".into());
    r
}

fn assert_no_markup_from_data(s: &str) {
    for bad in [
        "<script",
        "<img src=x",
        "<svg onload",
        "<b>",
        "<i>",
        "onerror=alert(2)>",
    ] {
        assert!(!s.contains(bad), "found {bad:?}");
    }
}

#[test]
fn html_escapes_every_data_string() {
    let r = evil_report();
    let page = html(&r, &ChartLinks::beside("x\"><script>"));
    assert_no_markup_from_data(&page);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(page.contains("Close &lt;script&gt; &amp; &quot;quote&quot;"));
    // the hrefs stay relative and inside their attribute
    assert!(page.contains("src=\"x%22%3E%3Cscript%3E-pnl.svg\""));
    // the page itself is well formed at the top and bottom
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    // the only <script-like text is escaped: no script element anywhere
    assert!(!page.to_lowercase().contains("<script"));
}

#[test]
fn html_escapes_path_like_ids_and_links() {
    let mut r = sample();
    r.account = "../x".into();
    let page = html(&r, &ChartLinks::none());
    assert!(page.contains("../x"));
    assert!(!page.contains("<img"), "no charts linked");
    let links = ChartLinks {
        pnl_histogram: Some("javascript:alert(1)".into()),
        contributors: None,
    };
    let page = html(&r, &links);
    assert!(!page.contains("javascript:"));
    assert!(page.contains("javascript%3Aalert%281%29"));
}

#[test]
fn markdown_escapes_data_and_keeps_tables_intact() {
    let r = evil_report();
    let md = markdown(&r);
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("\\<script\\>alert(1)\\</script\\>"));
    // the `|` in a position label does not open a new table cell
    let line = md
        .lines()
        .find(|l| l.contains("onerror"))
        .expect("contributor row");
    assert_eq!(line.matches(" | ").count(), 3, "{line}");
    assert!(line.contains("\\|"));
}

#[test]
fn svg_charts_escape_the_account() {
    let r = evil_report();
    for svg in [
        pnl_histogram_svg(&r).unwrap(),
        contributors_svg(&r).unwrap(),
    ] {
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }
}

#[test]
fn index_lists_entries_escaped_with_totals() {
    let entries = vec![
        IndexEntry {
            account: EVIL.into(),
            base_currency: "USD".into(),
            fee_status: "charged".into(),
            daily_fee: d("67.97"),
            uncovered: d("272345.67"),
            daily_fee_usd: Some(d("67.97")),
            report_href: "reports/<x>.html".into(),
            chart_href: "reports/x-pnl.svg".into(),
        },
        IndexEntry {
            account: "../x".into(),
            base_currency: "USD".into(),
            fee_status: "grace".into(),
            daily_fee: d("1000.5"),
            uncovered: d("1000000"),
            daily_fee_usd: Some(d("1000.5")),
            report_href: "reports/x-1.html".into(),
            chart_href: String::new(),
        },
        IndexEntry {
            account: "E1".into(),
            base_currency: "EUR".into(),
            fee_status: "charged".into(),
            daily_fee: d("2"),
            uncovered: d("3"),
            daily_fee_usd: Some(d("2.20")),
            report_href: "reports/E1.html".into(),
            chart_href: "reports/E1-pnl.svg".into(),
        },
    ];
    let page = index_html(&entries, "Exposure fee <2026-03-09>");
    assert!(!page.to_lowercase().contains("<script"));
    assert!(page.contains("<h1>Exposure fee &lt;2026-03-09&gt;</h1>"));
    assert!(page.contains("href=\"reports/%3Cx%3E.html\""));
    assert!(page.contains("../x"));
    assert!(page.contains("1,068.47"), "USD total of the daily fees");
    assert!(page.contains("1,272,345.67"), "USD total uncovered");
    assert!(page.contains("2 charged, 1 in grace"));
    let empty = index_html(&[], "Nothing tonight");
    assert!(empty.contains("No account is subject"));
    // 67.97 + 1,000.50 + 2.20 USD.
    assert!(page.contains("1,070.67"), "USD total of every daily fee");
}

/// Amounts near the `Decimal` limit: the totals overflow; the page says so
/// instead of panicking ("Addition overflowed").
#[test]
fn index_totals_that_overflow_say_so() {
    let huge = rust_decimal::Decimal::MAX - d("1");
    let entry = |account: &str| IndexEntry {
        account: account.into(),
        base_currency: "USD".into(),
        fee_status: "charged".into(),
        daily_fee: huge,
        uncovered: huge,
        daily_fee_usd: Some(huge),
        report_href: String::new(),
        chart_href: String::new(),
    };
    let page = index_html(&[entry("A"), entry("B")], "Huge");
    assert!(page.contains(exfee_report::TOO_LARGE), "{page}");
    assert!(page.contains(">A<") || page.contains("A</td>"));
}

#[test]
fn markdown_shows_the_key_figures() {
    let md = markdown(&sample());
    for needle in [
        "# Exposure Fee Calculation report: U7654321",
        "140,000.00 USD", // NLV
        "412,345.67 USD", // measure
        "272,345.67 USD", // uncovered
        "76,000.00 USD",  // threshold
        "| Fee status | charged |",
        "2026-03-02", // effective date
        "67.97 USD",  // daily fee
        "| Days charged tonight | 3 |",
        "203.91 USD", // amount
        "| 2 | 100,000.00 | 250,000.00 | 150,000.00 | 10.00% | 41.666667 |",
        "and above",
        "**67.969817**", // tier total
        "annual rate ÷ 360 days",
        "Minimum daily charge 1.00 USD: not reached",
        "Inventory fee 12.50 USD: the account pays the greater of the two, the exposure fee.",
        "Tonight's run charges 3 days: 67.97 USD × 3 = 203.91 USD.",
        "| 1 | scenario #4711 | -412,345.67 | SPX -30.0%, TSLA -50.0%, CL +62.0%, EUR -9.9% |",
        "Crude spike (#88)",
        "| -10 TSLA 270115P250 (OPT) | scenario #4711 | -180,000.00 | 43.7% |",
        "| Oil | 12.40 | 18.2% |",
        "| 3 | Buy back 6 TSLA 270115P250, sell 200 TSLA | reduce | linear program | 215,880.10 | 0.00 | -67.97 |",
        "- buy 6: -10 TSLA 270115P250 (OPT)",
        "- sell 200: 500 TSLA (STK)",
        "## Warnings",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
}

#[test]
fn fee_computation_text_follows_minimum_and_inventory() {
    let mut r = sample();
    r.minimum_applied = true;
    r.minimum_daily = Some(d("5"));
    let md = markdown(&r);
    assert!(md.contains("the minimum, 5.00 USD, applies"), "{md}");

    let mut r = sample();
    r.inventory_fee = Some(d("80"));
    r.daily_fee = d("80");
    r.amount_charged = d("240");
    let md = markdown(&r);
    assert!(md.contains("Exposure fee, rounded once to cents (half to even): 67.97 USD."));
    assert!(md.contains("the account pays the greater of the two, the inventory fee."));

    let mut r = sample();
    r.fee_status = "grace".into();
    r.days_charged = 0;
    r.amount_charged = d("0");
    r.effective_date = chrono::NaiveDate::from_ymd_opt(2026, 3, 16);
    let md = markdown(&r);
    assert!(md.contains("the fee takes effect on 2026-03-16"));
    assert!(md.contains("Nothing is charged during the grace week."));
}

#[test]
fn clear_account_without_extras() {
    let r = AccountReport {
        account: "C1".into(),
        base_currency: "EUR".into(),
        nlv: d("50000"),
        measure: d("20000"),
        threshold: d("76000"),
        fee_status: "clear".into(),
        ..AccountReport::default()
    };
    let md = markdown(&r);
    assert!(md.contains("does not exceed the threshold of 76,000.00 EUR: no exposure fee."));
    assert!(md.contains("None needed: the account pays no exposure fee."));
    assert!(!md.contains("## Warnings"));
    let page = html(&r, &ChartLinks::beside("C1"));
    assert!(page.contains("None needed"));
    // no contributors: no contributors chart in the page
    assert!(!page.contains("C1-contributors.svg"));
    pnl_histogram_svg(&r).unwrap();
    contributors_svg(&r).unwrap();
    pnl_histogram_png(&r).unwrap();
    contributors_png(&r).unwrap();
}

#[test]
fn subject_account_without_adjustments_says_so() {
    let mut r = sample();
    r.adjustments.clear();
    assert!(markdown(&r).contains("No adjustment that reduces the fee was found."));
    assert!(
        html(&r, &ChartLinks::none()).contains("No adjustment that reduces the fee was found.")
    );
}

#[test]
fn svg_histogram_has_the_nlv_line() {
    let svg = pnl_histogram_svg(&sample()).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("-NLV = -140,000 USD (equity wiped out)"));
    assert!(svg.contains("Scenario P&amp;L (USD)"));
    assert!(svg.contains("Scenario P&amp;L distribution: U7654321"));
    assert!(svg.contains("risk measure (worst scenario): -412,346 USD"));
    assert!(svg.contains("uncovered tail"));
    // balanced tags, roughly
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    let bars = contributors_svg(&sample()).unwrap();
    assert!(bars.starts_with("<svg"));
    assert!(bars.contains("-10 TSLA 270115P250 (OPT)"));
    assert!(bars.contains("scenario #4711"));
    assert!(bars.contains("-186,000"));
}

#[test]
fn png_is_a_png() {
    let png = pnl_histogram_png(&sample()).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let bars = contributors_png(&sample()).unwrap();
    assert_eq!(&bars[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn identical_input_gives_identical_bytes() {
    let r = sample();
    let a = AccountFiles::render(&r, true).unwrap();
    let b = std::thread::spawn(move || AccountFiles::render(&sample(), true).unwrap())
        .join()
        .unwrap();
    let fa = a.files();
    let fb = b.files();
    assert_eq!(fa.len(), 8);
    for ((na, ba), (nb, bb)) in fa.iter().zip(fb.iter()) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs");
    }
}

#[test]
fn edge_cases_never_panic() {
    let mut cases: Vec<AccountReport> = Vec::new();
    // empty distribution
    let mut r = sample();
    r.pnl_distribution.clear();
    cases.push(r);
    // all equal
    let mut r = sample();
    r.pnl_distribution = vec![-5000.0; 1000];
    cases.push(r);
    // all zero, NLV zero
    let mut r = sample();
    r.pnl_distribution = vec![0.0; 10];
    r.nlv = d("0");
    r.measure = d("0");
    cases.push(r);
    // non-finite values, only
    let mut r = sample();
    r.pnl_distribution = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    cases.push(r);
    // non-finite values among finite ones, and in moves
    let mut r = sample();
    r.pnl_distribution
        .extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    r.worst_scenarios[0].moves.push(("BAD".into(), f64::NAN));
    cases.push(r);
    // extreme magnitudes, and an NLV far away from the distribution
    let mut r = sample();
    r.pnl_distribution = vec![-1e300, 1e300, 0.0];
    cases.push(r);
    let mut r = sample();
    r.nlv = d("79000000000000");
    cases.push(r);
    // a negative NLV
    let mut r = sample();
    r.nlv = d("-25000");
    cases.push(r);
    // very long account id and labels
    let mut r = sample();
    r.account = "A".repeat(5000);
    r.contributors[0].position = "P".repeat(5000);
    cases.push(r);
    // no contributors, no scenarios, contributors of unknown scenarios
    let mut r = sample();
    r.contributors.clear();
    r.worst_scenarios.clear();
    cases.push(r);
    let mut r = sample();
    r.contributors = vec![Contribution {
        position: "X".into(),
        scenario_index: 99,
        pnl: d("0"),
    }];
    r.worst_scenarios = vec![ScenarioLine::default()];
    cases.push(r);
    // many contributors
    let mut r = sample();
    r.contributors = (0..200)
        .map(|i| Contribution {
            position: format!("P{i}"),
            scenario_index: 4711,
            pnl: d(&format!("-{}", i * 37)),
        })
        .collect();
    cases.push(r);
    cases.push(AccountReport::default());

    for (i, r) in cases.iter().enumerate() {
        let files = AccountFiles::render(r, true).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert!(files.pnl_svg.starts_with("<svg"), "case {i}");
        assert!(!files.markdown.is_empty());
        serde_json::from_str::<serde_json::Value>(&files.json).unwrap();
    }
    // the long id is shortened in the chart title, and kept whole in the text
    let long = &cases[8];
    let svg = pnl_histogram_svg(long).unwrap();
    assert!(svg.contains('…'));
    assert!(markdown(long).contains(&"A".repeat(5000)));
    // the non-finite values are counted
    let svg = pnl_histogram_svg(&cases[4]).unwrap();
    assert!(svg.contains("3 non-finite values skipped"), "{svg}");
    // a far NLV is named, not drawn
    let svg = pnl_histogram_svg(&cases[6]).unwrap();
    assert!(svg.contains("is off the chart"));
    // many contributors: the 15 largest
    let svg = contributors_svg(&cases[11]).unwrap();
    assert!(svg.contains("the 15 largest of 200"));
    assert!(svg.contains("P199") && !svg.contains(">P0<"));
}

#[test]
fn json_is_the_same_data() {
    let r = sample();
    let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
    assert_eq!(v["account"], "U7654321");
    assert_eq!(v["valuation_date"], "2026-03-09");
    assert_eq!(v["uncovered"], "272345.67");
    assert_eq!(v["fee_tiers"][2]["to"], serde_json::Value::Null);
    assert_eq!(v["adjustments"][2]["kind"], "reduce");
    assert_eq!(v["worst_scenarios"][0]["moves"][0][0], "SPX");
    assert_eq!(v["pnl_distribution"].as_array().unwrap().len(), 10_000);
}

#[test]
fn csv_is_long_and_quoted() {
    let mut r = sample();
    r.warnings.push("=HYPERLINK(\"x\")".into());
    let text = csv(&r);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("account,section,item,field,value"));
    assert!(text.contains("U7654321,summary,,uncovered,272345.67\n"));
    assert!(text.contains("U7654321,tier,3,to,\n"));
    assert!(text.contains("U7654321,move,1,SPX,-0.3\n"));
    assert!(text.contains("U7654321,class,Oil,daily_fee,12.4\n"));
    assert!(text.contains("U7654321,trade,3,500 TSLA (STK),-200\n"));
    assert!(text.contains("U7654321,summary,,effective_date,2026-03-02\n"));
    assert!(text.contains(",warning,2,text,\"'=HYPERLINK(\"\"x\"\")\"\n"));
    assert!(text.contains("\"EUR cash 100,000\""));
}

#[test]
fn files_have_safe_names_that_link_up() {
    let mut r = sample();
    r.account = "../x".into();
    let files = AccountFiles::render(&r, false).unwrap();
    let names: Vec<String> = files.files().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 6);
    for n in &names {
        assert!(!n.contains('/') && !n.starts_with('.'), "{n}");
    }
    let stem = &files.stem;
    assert!(files.html.contains(&format!("src=\"{stem}-pnl.svg\"")));
    assert!(
        files
            .html
            .contains(&format!("src=\"{stem}-contributors.svg\""))
    );
    let entry = files.index_entry(&r, "reports/");
    assert_eq!(entry.report_href, format!("reports/{stem}.html"));
    assert_eq!(entry.chart_href, format!("reports/{stem}-pnl.svg"));
    assert_eq!(entry.account, "../x");
}

/// Writes the sample's outputs to `$EXFEE_REPORT_SAMPLE_DIR`, when set, to
/// look at them (the `sample_report` example does the same).
#[test]
fn write_sample_when_asked() {
    let Some(dir) = std::env::var_os("EXFEE_REPORT_SAMPLE_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = sample();
    let links = ChartLinks {
        pnl_histogram: Some("pnl.svg".into()),
        contributors: Some("contributors.svg".into()),
    };
    std::fs::write(dir.join("report.md"), markdown(&r)).unwrap();
    std::fs::write(dir.join("report.html"), html(&r, &links)).unwrap();
    std::fs::write(dir.join("pnl.svg"), pnl_histogram_svg(&r).unwrap()).unwrap();
    std::fs::write(dir.join("contributors.svg"), contributors_svg(&r).unwrap()).unwrap();
    std::fs::write(dir.join("pnl.png"), pnl_histogram_png(&r).unwrap()).unwrap();
    std::fs::write(dir.join("contributors.png"), contributors_png(&r).unwrap()).unwrap();
}
