//! Renders a hand-built sample report and its charts, to look at them:
//!
//! ```text
//! cargo run -p exfee-report --example sample_report -- /tmp/exfee-report-sample
//! ```
//!
//! Writes `report.md`, `report.html` (linking `pnl.svg` and
//! `contributors.svg`), the charts as SVG and PNG, `report.json`,
//! `report.csv`, an `index.html` listing the account (its files under
//! `reports/`), and `report-hostile.html` (hostile account id and labels,
//! to see them shown as text).

#[path = "../tests/common/mod.rs"]
mod common;

use exfee_report::{
    AccountFiles, ChartLinks, contributors_png, contributors_svg, csv, html, index_html, json,
    markdown, pnl_histogram_png, pnl_histogram_svg,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/exfee-report-sample".into());
    std::fs::create_dir_all(&dir)?;
    let r = common::sample();
    let links = ChartLinks {
        pnl_histogram: Some("pnl.svg".into()),
        contributors: Some("contributors.svg".into()),
    };
    std::fs::write(dir.join("report.md"), markdown(&r))?;
    std::fs::write(dir.join("report.html"), html(&r, &links))?;
    std::fs::write(dir.join("report.json"), json(&r))?;
    std::fs::write(dir.join("report.csv"), csv(&r))?;
    std::fs::write(dir.join("pnl.svg"), pnl_histogram_svg(&r)?)?;
    std::fs::write(dir.join("contributors.svg"), contributors_svg(&r)?)?;
    std::fs::write(dir.join("pnl.png"), pnl_histogram_png(&r)?)?;
    std::fs::write(dir.join("contributors.png"), contributors_png(&r)?)?;

    // the batch layout: reports/<stem>.* and index.html linking them
    let files = AccountFiles::render(&r, true)?;
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports)?;
    for (name, bytes) in files.files() {
        std::fs::write(reports.join(name), bytes)?;
    }
    let entry = files.index_entry(&r, "reports/");
    std::fs::write(
        dir.join("index.html"),
        index_html(&[entry], &format!("Exposure fee, {}", r.valuation_date)),
    )?;
    // the same report for hostile input, to check the escaping by eye
    let mut hostile = common::sample();
    hostile.account = "<script>alert(1)</script>".into();
    hostile.contributors[0].position = "<img src=x onerror=alert(2)> ../x".into();
    hostile.warnings.push("</ul><b>not bold</b>".into());
    std::fs::write(dir.join("report-hostile.html"), html(&hostile, &links))?;
    println!("wrote {}", dir.display());
    Ok(())
}
