//! The calibration's files, as text (writing them is the caller's job).

// `write!` into a `String` (or `csv` into a `Vec`) cannot fail.
#![allow(
    clippy::let_underscore_must_use,
    reason = "writes into memory cannot fail"
)]

use std::fmt::Write as _;

use exfee_model::{FactorTable, FxTable};
use exfee_scenarios::{Copula, DrawVersion, Marginal, ScenarioConfig};
use nalgebra::DMatrix;

use crate::calibrate::{Calibration, TRADING_DAYS};

/// File names of a calibrated set (the contract: `set.toml`,
/// `correlation.csv`, `factors.csv`, `calibration.md`; the other three are
/// the files `set.toml` names).
pub mod files {
    /// The scenario-set configuration.
    pub const SET: &str = "set.toml";
    /// The estimated matrix over the covered variables.
    pub const CORRELATION: &str = "correlation.csv";
    /// The matrix over every variable of the set, which `set.toml` names.
    pub const CORRELATION_FULL: &str = "correlation-full.csv";
    /// Per-symbol betas and own volatilities.
    pub const FACTORS: &str = "factors.csv";
    /// The report.
    pub const REPORT: &str = "calibration.md";
    /// The factor table `set.toml` names (the base set's).
    pub const FACTOR_TABLE: &str = "risk-factors.csv";
    /// The FX table `set.toml` names (the base set's).
    pub const FX_TABLE: &str = "fx-factors.csv";
}

fn csv_line(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(cells);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A correlation matrix in the format of `scenarios/correlation-default.csv`
/// (an empty first header cell, then the names; each row its name then its
/// entries), entries with 8 decimals.
pub fn correlation_csv(names: &[String], m: &DMatrix<f64>) -> String {
    let mut out = String::new();
    let mut header = vec![String::new()];
    header.extend(names.iter().cloned());
    out.push_str(&csv_line(&header));
    for (i, name) in names.iter().enumerate() {
        let mut row = vec![name.clone()];
        row.extend((0..names.len()).map(|j| {
            let v = m[(i, j)];
            // Never print -0.00000000.
            let s = format!("{v:.8}");
            if s.trim_start_matches('-')
                .chars()
                .all(|c| c == '0' || c == '.')
            {
                "0.00000000".to_string()
            } else {
                s
            }
        }));
        out.push_str(&csv_line(&row));
    }
    out
}

/// `factors.csv`: `symbol,factor,beta,idio_vol` (beta to 4 decimals,
/// annualised own volatility to 4 decimals), one row per regressed symbol.
pub fn factors_csv(c: &Calibration) -> String {
    let mut out = csv_line(&["symbol", "factor", "beta", "idio_vol"].map(String::from));
    for s in &c.stocks {
        out.push_str(&csv_line(&[
            s.symbol.clone(),
            s.factor.clone(),
            format!("{:.4}", s.fit.beta),
            format!("{:.4}", s.idio_vol.max(0.0001)),
        ]));
    }
    out
}

/// A factor table in the published format.
pub fn factor_table_csv(t: &FactorTable) -> String {
    let mut out = csv_line(
        &[
            "factor",
            "representative_product",
            "symbol",
            "lower_bound_pct",
            "upper_bound_pct",
        ]
        .map(String::from),
    );
    for f in t.factors() {
        out.push_str(&csv_line(&[
            f.name.clone(),
            f.representative.clone(),
            f.symbol.clone(),
            f.bounds.lower_pct.to_string(),
            f.bounds.upper_pct.to_string(),
        ]));
    }
    let b = t.single_stock_bounds();
    out.push_str(&csv_line(&[
        t.single_stock_name().to_string(),
        "(each single stock)".to_string(),
        String::new(),
        b.lower_pct.to_string(),
        b.upper_pct.to_string(),
    ]));
    out
}

/// An FX table in the published format.
pub fn fx_table_csv(t: &FxTable) -> String {
    let mut out = csv_line(&["currency", "lower_bound_pct", "upper_bound_pct"].map(String::from));
    for c in t.currencies() {
        out.push_str(&csv_line(&[
            c.currency.to_string(),
            c.bounds.lower_pct.to_string(),
            c.bounds.upper_pct.to_string(),
        ]));
    }
    out
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `set.toml`: the base configuration with the calibrated matrix and
/// copula, naming the files written next to it.
pub fn set_toml(c: &Calibration, base: &ScenarioConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Calibrated by `exfee calibrate` as of {} (see calibration.md).\n\
         # Everything but the correlation matrix and the copula is the base set's.",
        c.as_of
    );
    let _ = writeln!(s, "factor_table = {}", toml_string(files::FACTOR_TABLE));
    let _ = writeln!(s, "fx_table = {}", toml_string(files::FX_TABLE));
    let _ = writeln!(
        s,
        "# The estimate over the covered variables, the base matrix elsewhere."
    );
    let _ = writeln!(s, "correlation = {}", toml_string(files::CORRELATION_FULL));
    let _ = writeln!(s, "scenarios = {}", base.scenarios);
    let _ = writeln!(s, "seed = {}", base.seed);
    // The base set's draws: version 1 is the default (no key, as before).
    if base.draw_version != DrawVersion::V1 {
        let _ = writeln!(s, "draw_version = {}", base.draw_version.number());
    }
    let _ = writeln!(s, "repair_correlation = false");
    let _ = writeln!(s, "include_fixed = {}", base.include_fixed);
    let _ = writeln!(s, "\n[copula]");
    match c.copula_nu() {
        Some(nu) => {
            let _ = writeln!(
                s,
                "# nu fitted by maximum likelihood on pseudo-observations"
            );
            let _ = writeln!(s, "kind = \"student-t\"\nnu = {nu:?}");
        }
        None => match (c.nu, base.copula) {
            (Some(_), _) | (None, Copula::Gaussian) => {
                let _ = writeln!(s, "# the likelihood is flat in nu up to 100: Gaussian");
                let _ = writeln!(s, "kind = \"gaussian\"");
            }
            (None, Copula::StudentT { nu }) => {
                let _ = writeln!(s, "# one variable: no fit; the base set's nu");
                let _ = writeln!(s, "kind = \"student-t\"\nnu = {nu:?}");
            }
        },
    }
    let _ = writeln!(s, "\n[marginal]");
    match base.marginal {
        Marginal::Tail { z_at_bound } => {
            let _ = writeln!(s, "kind = \"tail\"\nz_at_bound = {z_at_bound:?}");
        }
        Marginal::Uniform => {
            let _ = writeln!(s, "kind = \"uniform\"");
        }
    }
    let _ = writeln!(
        s,
        "\n[single_stock]\ndefault_idio_vol = {:?}\nidio_z_at_bound = {:?}",
        base.single_stock.default_idio_vol, base.single_stock.idio_z_at_bound
    );
    let _ = writeln!(
        s,
        "\n[equity_vol]\nname = {}\nlower_pct = {:?}\nupper_pct = {:?}",
        toml_string(&base.equity_vol.name),
        base.equity_vol.lower_pct,
        base.equity_vol.upper_pct
    );
    s
}

/// `calibration.md`: what was estimated, from what, and how.
pub fn report_md(c: &Calibration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Calibration as of {}\n", c.as_of);
    method_md(&mut s, c);
    copula_md(&mut s, c);
    variables_md(&mut s, c);
    correlation_md(&mut s, c);
    regressions_md(&mut s, c);
    s
}

/// The window, the returns, the de-volatilisation and the shrinkage.
fn method_md(s: &mut String, c: &Calibration) {
    let o = &c.options;
    let _ = writeln!(
        s,
        "- Window: the last {} trading dates of the history up to {}; correlation sample \
         {} to {}, {} dates on which every covered variable has a return.",
        o.lookback, c.as_of, c.window.0, c.window.1, c.common_obs
    );
    let _ = writeln!(
        s,
        "- Returns: daily log returns; a return over a date the symbol did not trade is not used.\n\
         - De-volatilisation: EWMA variance, half-life {} trading days (λ = {:.6}), seeded with \
         the mean square of the first 20 returns; each return divided by its one-day-ahead EWMA \
         volatility.",
        o.halflife,
        crate::stats::ewma_lambda(o.halflife)
    );
    let _ = writeln!(
        s,
        "- Shrinkage: Ledoit–Wolf (2004) towards the identity, intensity δ = {:.4} \
         (applied: the estimate is δ·I + (1 − δ)·sample). {}",
        c.shrinkage,
        if c.shrinkage > 0.05 {
            "The sample is short for the number of variables."
        } else {
            "The sample is long enough for this to be a small correction."
        }
    );
}

/// The copula's ν and whether one ν serves every group.
fn copula_md(s: &mut String, c: &Calibration) {
    match c.nu {
        Some((nu, ll, gauss)) => {
            let _ = writeln!(
                s,
                "- Copula: t, ν fitted by maximum likelihood on pseudo-observations (ranks/(n+1)) \
                 of the de-volatilised returns, correlation held at the estimate: ν = {nu:.2} \
                 (log-likelihood {ll:.2}; Gaussian copula {gauss:.2}; likelihood-ratio statistic \
                 {:.2}). Written to set.toml: {}.",
                2.0 * (ll - gauss),
                match c.copula_nu() {
                    Some(v) => format!("student-t, ν = {v}"),
                    None => "gaussian".to_string(),
                }
            );
        }
        None => {
            let _ = writeln!(
                s,
                "- Copula: one variable, no ν fitted (base set's copula kept)."
            );
        }
    }
    if let Some(g) = &c.grouped_nu {
        let (common, lr, p) = (g.common, g.statistic, g.p_value);
        let list: Vec<String> = g
            .groups
            .iter()
            .map(|(g, nu)| format!("{g} {nu:.1}"))
            .collect();
        let _ = writeln!(
            s,
            "- One ν for every group? Fitted on each group's own block: {}; common ν {common:.1}; \
             likelihood-ratio statistic {lr:.2}, p = {p:.3} (χ² with groups − 1 degrees of \
             freedom; a composite likelihood, so indicative). {}",
            list.join(", "),
            if p < 0.05 {
                "One ν does not serve every group: a grouped t copula would fit better; the \
                 generator has one mixing variable, so set.toml keeps the overall ν."
            } else {
                "One ν serves every group."
            }
        );
    }
}

/// The covered variables: volatilities, bounds and the horizons they imply.
fn variables_md(s: &mut String, c: &Calibration) {
    let o = &c.options;
    let _ = writeln!(
        s,
        "\n## Variables\n\nHorizon: the trading days over which a bound is a {}-σ move of the \
         window's daily volatility, (|bound|/{})²/σ².\n",
        o.z_at_bound, o.z_at_bound
    );
    let _ = writeln!(
        s,
        "| variable | symbol | returns | daily vol | annual vol | EWMA daily vol | lower | upper | horizon at lower (days) | horizon at upper (days) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for v in &c.variables {
        let (lo, up) = v
            .bounds
            .map(|(l, u)| (format!("{:.1} %", l * 100.0), format!("{:.1} %", u * 100.0)))
            .unwrap_or_else(|| ("–".into(), "–".into()));
        let (hl, hu) = v
            .horizon_days(o.z_at_bound)
            .map(|(l, u)| (format!("{l:.0}"), format!("{u:.0}")))
            .unwrap_or_else(|| ("–".into(), "–".into()));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {:.3} | {:.4} | {lo} | {up} | {hl} | {hu} |",
            v.name,
            v.symbol,
            v.observations,
            v.daily_vol,
            v.daily_vol * TRADING_DAYS.sqrt(),
            v.ewma_vol
        );
    }
}

/// The estimated correlation matrix and its eigenvalues.
fn correlation_md(s: &mut String, c: &Calibration) {
    let names = c.names();
    let _ = writeln!(s, "\n## Correlation (estimate)\n");
    let _ = writeln!(s, "| | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for (i, n) in names.iter().enumerate() {
        let row: Vec<String> = (0..names.len())
            .map(|j| format!("{:.3}", c.correlation[(i, j)]))
            .collect();
        let _ = writeln!(s, "| {n} | {} |", row.join(" | "));
    }
    let _ = writeln!(
        s,
        "\nEigenvalues (ascending): {}\n",
        c.eigenvalues
            .iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The regressions of the other symbols, and the symbols left out.
fn regressions_md(s: &mut String, c: &Calibration) {
    let _ = writeln!(
        s,
        "## Symbols regressed on a factor\n\nDaily log returns on the factor's, with an intercept; \
         the factor is the one given for the symbol (pinned) or else the covered factor with the \
         best R². Residual vol is annualised (√252).\n\n\
         | symbol | factor | chosen by | beta | R² | residual vol | returns |\n|---|---|---|---:|---:|---:|---:|"
    );
    for st in &c.stocks {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {:.3} | {:.4} | {} |",
            st.symbol,
            st.factor,
            if st.pinned { "given" } else { "best R²" },
            st.fit.beta,
            st.fit.r2,
            st.idio_vol,
            st.fit.n
        );
    }
    if !c.skipped.is_empty() {
        let _ = writeln!(s, "\n## Left out\n");
        for (sym, why) in &c.skipped {
            let _ = writeln!(s, "- {sym}: {why}");
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG chart of a portfolio's backtest: realised P&L (blue) against the
/// negated measure (red; a loss below the red line is an exceedance,
/// circled), one point per date.
pub fn backtest_svg(portfolio: &str, series: &[(chrono::NaiveDate, f64, f64)]) -> String {
    let (w, h, m) = (900.0, 320.0, 60.0);
    let lo = series
        .iter()
        .flat_map(|(_, measure, pnl)| [-measure, *pnl])
        .fold(0.0f64, f64::min);
    let hi = series
        .iter()
        .flat_map(|(_, measure, pnl)| [-measure, *pnl])
        .fold(0.0f64, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = series.len().max(2) as f64 - 1.0;
    let x = |i: usize| m + (w - 2.0 * m) * i as f64 / n;
    let y = |v: f64| h - m + (v - lo) / span * -(h - 2.0 * m);
    let line = |f: &dyn Fn(&(chrono::NaiveDate, f64, f64)) -> f64| {
        series
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(f(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{m}\" y=\"20\" font-size=\"14\">{}: realised P&amp;L (blue) and −measure (red)</text>",
        xml_escape(portfolio)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{m}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#888\"/>",
        y(0.0),
        w - m
    );
    for v in [lo, 0.0, hi] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
            m - 4.0,
            y(v) + 4.0
        );
    }
    if let (Some(first), Some(last)) = (series.first(), series.last()) {
        let _ = writeln!(
            s,
            "<text x=\"{m}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            h - m + 18.0,
            first.0,
            w - m,
            h - m + 18.0,
            last.0
        );
    }
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" points=\"{}\"/>",
        line(&|p| -p.1)
    );
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"#2c6fbb\" stroke-width=\"1\" points=\"{}\"/>",
        line(&|p| p.2)
    );
    for (i, (date, measure, pnl)) in series.iter().enumerate() {
        if -pnl > *measure {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"none\" stroke=\"black\"><title>{date}</title></circle>",
                x(i),
                y(*pnl)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
