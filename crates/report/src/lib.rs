//! The Exposure Fee Calculation report: renders one account's report
//! (Markdown, HTML, JSON, CSV), its two charts (SVG, PNG) and the batch's
//! `index.html`, all to strings or bytes. No file IO: the caller writes the
//! files (atomically, where it likes).
//!
//! # Use
//!
//! The engine fills an [`AccountReport`]; then either call the renderers one by
//! one ([`markdown`], [`html`], [`json`], [`csv`], [`pnl_histogram_svg`],
//! [`contributors_svg`], [`pnl_histogram_png`], [`contributors_png`]) or let
//! [`AccountFiles::render`] do them all with file names that fit together:
//!
//! ```
//! use exfee_report::{AccountFiles, AccountReport, IndexEntry, index_html};
//!
//! let report = AccountReport {
//!     account: "U1234567".into(),
//!     base_currency: "USD".into(),
//!     fee_status: "clear".into(),
//!     ..AccountReport::default()
//! };
//! let files = AccountFiles::render(&report, false).unwrap();
//! for (name, bytes) in files.files() {
//!     // write `bytes` to `<out>/reports/<name>` (names are safe file names)
//!     assert!(name.starts_with("U1234567") && !bytes.is_empty());
//! }
//! let entry: IndexEntry = files.index_entry(&report, "reports/");
//! let index = index_html(&[entry], "Exposure fee, 2026-03-09");
//! assert!(index.contains("reports/U1234567.html"));
//! ```
//!
//! # Conventions
//!
//! * Money is [`Decimal`] in the account's base currency; losses (`measure`)
//!   are positive amounts, P&L is signed (a loss is negative).
//! * Money is shown rounded to cents, half to even, with thousands
//!   separators (`-1,234,567.89`); rates as percentages per year.
//! * Every string that comes from data (account ids, symbols, scenario and
//!   class names, warnings) is escaped for the output's format: HTML-escaped
//!   in HTML, backslash-escaped in Markdown, quoted (and kept from being read
//!   as a formula) in CSV, escaped by plotters in SVG.
//! * Non-finite f64 values (NaN, ±inf) in the P&L distribution are skipped
//!   (and counted in the chart's caption); non-finite moves show as `n/a`.
//! * Identical input gives identical bytes, for every output.
//!
//! # PNG
//!
//! PNG charts are drawn with plotters' bitmap backend and a font bundled in
//! this crate (DejaVu Sans, `fonts/`, Bitstream Vera licence beside it), read
//! with `ab_glyph`: no system fonts or fontconfig needed. They are encoded
//! with the pure-Rust `png` crate.

#![warn(missing_docs)]

mod bitmap;
mod build;
mod chart;
mod csv_out;
pub mod document;
mod font;
pub mod format;
mod html;
mod markdown;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use chart::{contributors_png, contributors_svg, pnl_histogram_png, pnl_histogram_svg};
pub use csv_out::csv;
pub use document::Document;
pub use format::{file_stem, free_folder};
pub use html::{ChartLinks, TOO_LARGE, html, index_html};
pub use markdown::markdown;

/// Everything the Exposure Fee Calculation report shows for one account.
///
/// `Default` gives an empty, clear account (handy with `..Default::default()`).
///
/// # Two parts
///
/// The fields come from two places, and a report can be filled in two steps
/// (it is plain data, serde both ways, so the steps may be two processes):
///
/// * the engine's part, known once the night's evaluation is done:
///   `account`, `base_currency`, `valuation_date`, `nlv`, `worst_scenarios`,
///   `contributors`, `pnl_distribution`, `warnings`;
/// * the fee's part, set by the charge: every other field (the measure, the
///   fee figures, `fee_by_class`, `adjustments`). [`AccountReport::clear_fee`]
///   takes it off, leaving the engine's part.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountReport {
    /// Account id, as the input gave it (user input: escaped when shown).
    pub account: String,
    /// Base currency of every money amount in the report.
    pub base_currency: String,
    /// Valuation date of the run.
    pub valuation_date: NaiveDate,
    /// Net liquidation value.
    pub nlv: Decimal,
    /// What the risk measure is, e.g. `worst scenario` or
    /// `average of the worst 10 scenarios`.
    pub measure_name: String,
    /// The risk measure: a loss, as a positive amount.
    pub measure: Decimal,
    /// Threshold in the base currency: no fee while uncovered ≤ threshold.
    pub threshold: Decimal,
    /// `max(0, measure − NLV)`.
    pub uncovered: Decimal,
    /// `clear`, `grace` or `charged`.
    pub fee_status: String,
    /// Grace: the date the fee takes effect if still subject; charged: the
    /// date it took effect.
    pub effective_date: Option<NaiveDate>,
    /// Calendar days tonight's run posts (accrued since the last posting,
    /// each priced by the measurement in force on it; grace days excluded).
    pub days_charged: u32,
    /// The daily fee measured tonight, after the minimum and the greater-of
    /// with the inventory fee; shown even in grace, when nothing is charged.
    pub daily_fee: Decimal,
    /// What tonight's run posts: the sum of the posted days' fees (0 in grace).
    pub amount_charged: Decimal,
    /// The tiers of the fee schedule, each with its slice of the uncovered
    /// amount (above the threshold, as the schedule defines it).
    pub fee_tiers: Vec<TierLine>,
    /// Day-count basis of the annual rates (360 or 365), when known.
    pub day_count: Option<u32>,
    /// The schedule's minimum daily charge, when known.
    pub minimum_daily: Option<Decimal>,
    /// The minimum daily charge replaced the (smaller) tier sum.
    pub minimum_applied: bool,
    /// The account's overnight inventory fee, when it has one: the account
    /// pays the greater of the two.
    pub inventory_fee: Option<Decimal>,
    /// The worst scenarios, worst first.
    pub worst_scenarios: Vec<ScenarioLine>,
    /// The positions that contribute most to the loss, in the scenario they
    /// are measured in (the worst one first).
    pub contributors: Vec<Contribution>,
    /// The daily fee split per product classification (Equity, Oil, FX …).
    pub fee_by_class: Vec<(String, Decimal)>,
    /// Hypothetical adjustments, each re-checked on the whole scenario set.
    pub adjustments: Vec<Adjustment>,
    /// Every scenario's P&L, for the histogram (any order; non-finite values
    /// are skipped). JSON writes a non-finite value as `null`, which reads
    /// back as NaN.
    #[serde(deserialize_with = "non_finite::floats")]
    pub pnl_distribution: Vec<f64>,
    /// Anything the reader should know (positions priced with fallbacks …).
    pub warnings: Vec<String>,
}

impl AccountReport {
    /// The engine's part of this report alone: every field of the fee's
    /// part back to its default (see "Two parts" above).
    pub fn clear_fee(self) -> Self {
        Self {
            account: self.account,
            base_currency: self.base_currency,
            valuation_date: self.valuation_date,
            nlv: self.nlv,
            worst_scenarios: self.worst_scenarios,
            contributors: self.contributors,
            pnl_distribution: self.pnl_distribution,
            warnings: self.warnings,
            ..Self::default()
        }
    }
}

/// One tier of the fee schedule and what it charges tonight.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TierLine {
    /// Lower bound of the tier (uncovered amount).
    pub from: Decimal,
    /// Upper bound; `None` for the last, open tier.
    pub to: Option<Decimal>,
    /// Annual rate, as a fraction (`0.05` = 5% a year).
    pub rate: Decimal,
    /// The slice of the uncovered amount that falls in this tier.
    pub amount: Decimal,
    /// This tier's daily charge, unrounded (or to 6 decimals).
    pub daily: Decimal,
}

/// One of the worst scenarios.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScenarioLine {
    /// Index of the scenario in the run's scenario set.
    pub index: usize,
    /// Its name, for named (fixed) scenarios.
    pub name: Option<String>,
    /// The account's P&L in it (a loss is negative).
    pub pnl: Decimal,
    /// The factor moves that matter, as (factor — a currency or symbol,
    /// relative move: `-0.3` = −30%), in the order to show them. A
    /// non-finite move is `null` in JSON and reads back as NaN.
    #[serde(deserialize_with = "non_finite::pairs")]
    pub moves: Vec<(String, f64)>,
}

/// One position's P&L in one scenario.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Contribution {
    /// Position label, e.g. `-1 XYZ 270101P100 (OPT)`.
    pub position: String,
    /// The scenario this P&L is measured in.
    pub scenario_index: usize,
    /// The position's P&L in that scenario.
    pub pnl: Decimal,
}

/// A hypothetical adjustment and its re-checked effect.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Adjustment {
    /// What to do, e.g. `Deposit 12,000 USD`, `Close 40% of TSLA`.
    pub title: String,
    /// Deposit, reduce or hedge.
    pub kind: AdjustmentKind,
    /// The trades: (position label, signed quantity change).
    pub trades: Vec<(String, Decimal)>,
    /// The deposit, for a deposit.
    pub deposit: Option<Decimal>,
    /// How it was found: `linear program`, `greedy`, `exact` …
    pub method: String,
    /// The daily fee after it, re-checked on the whole scenario set.
    pub fee_after: Decimal,
    /// The risk measure after it, re-checked.
    pub measure_after: Decimal,
}

/// The kind of a hypothetical adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    /// Add equity.
    #[default]
    Deposit,
    /// Close part of existing positions.
    Reduce,
    /// Trade a factor's future or ETF against the concentrated exposure.
    Hedge,
}

impl AdjustmentKind {
    /// `deposit`, `reduce`, `hedge`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustmentKind::Deposit => "deposit",
            AdjustmentKind::Reduce => "reduce",
            AdjustmentKind::Hedge => "hedge",
        }
    }
}

/// One line of the batch's `index.html`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Account id.
    pub account: String,
    /// Base currency of the amounts.
    pub base_currency: String,
    /// `clear`, `grace` or `charged`.
    pub fee_status: String,
    /// The daily fee measured tonight.
    pub daily_fee: Decimal,
    /// The uncovered amount.
    pub uncovered: Decimal,
    /// The daily fee converted to USD (rounded to cents), by which the index
    /// ranks accounts of different currencies; `None` when it cannot be
    /// converted (no rate, or too large).
    pub daily_fee_usd: Option<Decimal>,
    /// Relative link to the account's HTML report (empty: no link).
    pub report_href: String,
    /// Relative link to the account's P&L chart (empty: no link).
    pub chart_href: String,
}

/// Reading back the `null`s JSON writes for non-finite numbers (as NaN:
/// every renderer treats NaN, ±inf alike, as "not a number to show").
mod non_finite {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn floats<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }

    pub(crate) fn pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
        let v: Vec<(String, Option<f64>)> = Deserialize::deserialize(d)?;
        Ok(v.into_iter()
            .map(|(k, x)| (k, x.unwrap_or(f64::NAN)))
            .collect())
    }
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// plotters failed to draw.
    #[error("chart drawing failed: {0}")]
    Chart(String),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// The report as JSON (compact, one line: the P&L distribution can hold
/// many thousand numbers): the same data as [`AccountReport`], same field
/// names. Money amounts are strings (exact decimals, e.g. `"272345.67"`),
/// dates `YYYY-MM-DD`, `kind` is `deposit`/`reduce`/`hedge`, pairs are
/// two-element arrays (`["SPX", -0.3]`), moves and the P&L distribution are
/// numbers (non-finite values become `null`).
pub fn json(report: &AccountReport) -> String {
    // Written into a buffer the thread keeps from one report to the next,
    // then copied out at its length: the numbers' small stores land in
    // lines the last report warmed (a new buffer of ≈ 0.5 MB for every
    // report had each of them miss), and the one large copy streams.
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|out| {
        out.clear();
        // Sized for the P&L distribution up front (a number and its comma
        // take at most 25 bytes).
        out.reserve(report.pnl_distribution.len().saturating_mul(25) + 4096);
        // Serialising these plain structs (no maps, no custom impls) cannot fail.
        let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Compact);
        match report.serialize(&mut serializer) {
            // serde_json writes UTF-8 only.
            Ok(()) => std::str::from_utf8(out)
                .map(str::to_owned)
                .unwrap_or_default(),
            Err(e) => format!("{{\"error\":{:?}}}", e.to_string()),
        }
    })
}

/// serde_json's compact output, byte for byte, with `+0.0` written at once:
/// most of a report's P&L distribution is exactly zero (the stress
/// scenarios of stocks the account does not hold), and each went through
/// the shortest round-trip formatter to come out as `0.0`.
struct Compact;

impl serde_json::ser::Formatter for Compact {
    #[inline]
    fn write_f64<W>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        if value.to_bits() == 0 {
            writer.write_all(b"0.0")
        } else {
            serde_json::ser::CompactFormatter.write_f64(writer, value)
        }
    }
}

/// Every output of one account, named to sit together in one folder.
#[derive(Debug, Clone)]
pub struct AccountFiles {
    /// The file-name stem ([`file_stem`] of the account id).
    pub stem: String,
    /// `<stem>.md`
    pub markdown: String,
    /// `<stem>.html`, linking the two SVG charts beside it.
    pub html: String,
    /// `<stem>.json`
    pub json: String,
    /// `<stem>.csv`
    pub csv: String,
    /// `<stem>-pnl.svg`
    pub pnl_svg: String,
    /// `<stem>-contributors.svg`
    pub contributors_svg: String,
    /// `<stem>-pnl.png`, when asked for.
    pub pnl_png: Option<Vec<u8>>,
    /// `<stem>-contributors.png`, when asked for.
    pub contributors_png: Option<Vec<u8>>,
}

impl AccountFiles {
    /// Renders every output of `report`; the PNG charts only when `png`.
    pub fn render(report: &AccountReport, png: bool) -> Result<Self, ReportError> {
        let stem = file_stem(&report.account);
        let links = ChartLinks::beside(&stem);
        let (pnl_png, contributors_png) = if png {
            (
                Some(pnl_histogram_png(report)?),
                Some(contributors_png(report)?),
            )
        } else {
            (None, None)
        };
        let doc = Document::from_report(report);
        Ok(Self {
            markdown: markdown::render(&doc),
            html: html::render(&doc, &links),
            json: json(report),
            csv: csv(report),
            pnl_svg: pnl_histogram_svg(report)?,
            contributors_svg: contributors_svg(report)?,
            pnl_png,
            contributors_png,
            stem,
        })
    }

    /// (file name, contents) of every rendered output, in a fixed order.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let s = &self.stem;
        let mut out: Vec<(String, &[u8])> = vec![
            (format!("{s}.md"), self.markdown.as_bytes()),
            (format!("{s}.html"), self.html.as_bytes()),
            (format!("{s}.json"), self.json.as_bytes()),
            (format!("{s}.csv"), self.csv.as_bytes()),
            (format!("{s}-pnl.svg"), self.pnl_svg.as_bytes()),
            (
                format!("{s}-contributors.svg"),
                self.contributors_svg.as_bytes(),
            ),
        ];
        if let Some(p) = &self.pnl_png {
            out.push((format!("{s}-pnl.png"), p));
        }
        if let Some(p) = &self.contributors_png {
            out.push((format!("{s}-contributors.png"), p));
        }
        out
    }

    /// The index line for this account, its links prefixed by `dir` (the
    /// folder of these files relative to `index.html`, e.g. `reports/`).
    pub fn index_entry(&self, report: &AccountReport, dir: &str) -> IndexEntry {
        index_entry(report, &self.stem, dir)
    }
}

/// The index line of `report`, whose files are named after `stem` (its
/// [`file_stem`]) in folder `dir` (relative to the index, ending in `/`):
/// [`AccountFiles::index_entry`] without rendering the files.
pub fn index_entry(report: &AccountReport, stem: &str, dir: &str) -> IndexEntry {
    IndexEntry {
        account: report.account.clone(),
        base_currency: report.base_currency.clone(),
        fee_status: report.fee_status.clone(),
        daily_fee: report.daily_fee,
        uncovered: report.uncovered,
        daily_fee_usd: None,
        report_href: format!("{dir}{stem}.html"),
        chart_href: format!("{dir}{stem}-pnl.svg"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_goes_through_json_and_back() {
        let r = AccountReport {
            account: "U\"1".into(),
            nlv: Decimal::new(-12345, 2),
            effective_date: NaiveDate::from_ymd_opt(2026, 3, 9),
            worst_scenarios: vec![ScenarioLine {
                index: 3,
                moves: vec![("SPX".into(), -0.3)],
                ..ScenarioLine::default()
            }],
            adjustments: vec![Adjustment {
                kind: AdjustmentKind::Hedge,
                ..Adjustment::default()
            }],
            pnl_distribution: vec![1.5, -2.0],
            ..AccountReport::default()
        };
        let text = json(&r);
        assert!(text.contains(r#""nlv":"-123.45""#), "{text}");
        assert!(text.contains(r#""effective_date":"2026-03-09""#));
        assert!(text.contains(r#""kind":"hedge""#));
        let back: AccountReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn json_is_serde_jsons_compact_output_byte_for_byte() {
        // The oracle: serde_json's own compact writer. Zeros of both signs,
        // the smallest subnormal, integers, long fractions, huge values and
        // non-finite ones, in the distribution and in the moves.
        let values = vec![
            0.0,
            -0.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            1.0,
            -10516.326247358993,
            0.1 + 0.2,
            1e300,
            -2.5e-308,
            f64::NAN,
            f64::NEG_INFINITY,
            123_456_789.0,
            3.0,
            -1e21,
            1e21,
            1e16,
            1e15,
            1e-300,
            1e-7,
            f64::INFINITY,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(0x000F_FFFF_FFFF_FFFF),
            f64::from_bits(0x7FF8_0000_0000_0001),
            -f64::NAN,
            0.0,
        ];
        let r = AccountReport {
            account: "U\"1,\u{1F600}".into(),
            worst_scenarios: vec![ScenarioLine {
                index: 7,
                moves: values.iter().map(|&v| ("X".to_string(), v)).collect(),
                ..ScenarioLine::default()
            }],
            pnl_distribution: values,
            warnings: vec!["w".into()],
            ..AccountReport::default()
        };
        let text = json(&r);
        assert_eq!(text, serde_json::to_string(&r).unwrap());
        assert!(text.contains(r#"[0.0,-0.0,5e-324,-5e-324,1.0,"#), "{text}");
    }

    /// Adversarial floats: every class of f64 (zeros, subnormals, the
    /// extremes, integers around 2^53 and the powers of ten where the
    /// shortest form switches to an exponent, halfway-looking fractions)
    /// and 200,000 random bit patterns over every exponent, each with
    /// both signs.
    fn adversarial_floats() -> Vec<f64> {
        let mut v = vec![
            0.0,
            f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::EPSILON,
            1.0,
            0.1,
            0.1 + 0.2,
            2.5,
            1e-7,
            1e-5,
            123_456.789,
            9_007_199_254_740_992.0,
            9_007_199_254_740_993.0,
            4_503_599_627_370_497.5,
            10_516.326_247_358_993,
            5.050_783_746_1e-27,
            f64::NAN,
            f64::INFINITY,
        ];
        let mut p = 1.0_f64;
        for _ in 0..40 {
            v.extend([p, p - 1.0, p + 1.0, 1.0 / p, p * 1.5]);
            p *= 10.0;
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..200_000 {
            // xorshift64*: bit patterns over the whole range
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            v.push(match i % 4 {
                0 => f64::from_bits(bits),
                // P&L-like: cents and long fractions of ±1e-2..1e9
                1 => (bits >> 11) as f64 / (1_u64 << 53) as f64 * 1e9 - 5e8,
                2 => ((bits >> 20) as f64 / 100.0).round() / 100.0,
                // integers of every size
                _ => (bits >> (bits % 60)) as f64,
            });
        }
        let negated: Vec<f64> = v.iter().map(|x| -x).collect();
        v.extend(negated);
        v
    }

    #[test]
    fn the_distribution_is_written_as_serde_json_writes_floats() {
        // Oracle: serde_json's own writer of the same numbers, compared
        // number by number so that a failure names the value.
        let values = adversarial_floats();
        let r = AccountReport {
            pnl_distribution: values.clone(),
            ..AccountReport::default()
        };
        let text = json(&r);
        let oracle = serde_json::to_string(&values).unwrap();
        let at = text.find("\"pnl_distribution\":").unwrap() + "\"pnl_distribution\":".len();
        let ours = &text[at..at + oracle.len()];
        for ((a, b), v) in ours[1..ours.len() - 1]
            .split(',')
            .zip(oracle[1..oracle.len() - 1].split(','))
            .zip(&values)
        {
            assert_eq!(a, b, "{v:e} (bits {:#x})", v.to_bits());
        }
        assert_eq!(ours, oracle);
        assert_eq!(text, serde_json::to_string(&r).unwrap());
        // by hand: the shapes that matter
        let r = AccountReport {
            pnl_distribution: vec![0.0, -0.0, 1.0, -2.5e-308, f64::NAN, 1e16, 1e-7],
            ..AccountReport::default()
        };
        assert!(
            json(&r).contains(r#""pnl_distribution":[0.0,-0.0,1.0,-2.5e-308,null,1e+16,1e-7],"#),
            "{}",
            json(&r)
        );
    }

    #[test]
    fn a_full_report_is_serde_jsons_output_byte_for_byte() {
        // Every field away from its default, strings that need escaping,
        // and the adversarial floats in the distribution and the moves.
        let d = |n: i64, s: u32| Decimal::new(n, s);
        let floats = adversarial_floats();
        let r = AccountReport {
            account: "U\"1\\,\u{1F600}\n".into(),
            base_currency: "EUR".into(),
            valuation_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            nlv: d(-12345, 2),
            measure_name: "average of the worst 10 scenarios".into(),
            measure: d(2_723_456_789, 4),
            threshold: d(100_000, 0),
            uncovered: d(1, 28),
            fee_status: "charged".into(),
            effective_date: NaiveDate::from_ymd_opt(2026, 3, 9),
            days_charged: 3,
            daily_fee: d(1234, 2),
            amount_charged: d(3702, 2),
            fee_tiers: vec![
                TierLine {
                    from: d(0, 0),
                    to: Some(d(1_000_000, 0)),
                    rate: d(5, 2),
                    amount: d(-7, 1),
                    daily: d(123_456, 6),
                },
                TierLine::default(),
            ],
            day_count: Some(360),
            minimum_daily: Some(d(1, 0)),
            minimum_applied: true,
            inventory_fee: Some(d(-5, 3)),
            worst_scenarios: vec![
                ScenarioLine {
                    index: 7,
                    name: Some("crash \"87\"".into()),
                    pnl: d(-99, 1),
                    moves: floats[..500]
                        .iter()
                        .map(|&v| ("X\u{7f}".to_string(), v))
                        .collect(),
                },
                ScenarioLine::default(),
            ],
            contributors: vec![Contribution {
                position: "-1 XYZ 270101P100 (OPT)".into(),
                scenario_index: 7,
                pnl: d(-5, 0),
            }],
            fee_by_class: vec![("Equity".into(), d(3, 0)), ("Oil\t".into(), d(-1, 9))],
            adjustments: vec![Adjustment {
                title: "Close 40% of TSLA".into(),
                kind: AdjustmentKind::Reduce,
                trades: vec![("TSLA".into(), d(-40, 0))],
                deposit: Some(d(12_000, 0)),
                method: "greedy".into(),
                fee_after: d(1, 2),
                measure_after: d(2, 2),
            }],
            pnl_distribution: floats,
            warnings: vec!["w\u{0}".into(), String::new()],
        };
        let text = json(&r);
        assert_eq!(text, serde_json::to_string(&r).unwrap());
        let back: AccountReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.account, r.account);
        assert_eq!(back.adjustments, r.adjustments);
        // and the empty report
        let empty = AccountReport::default();
        assert_eq!(json(&empty), serde_json::to_string(&empty).unwrap());
    }

    #[test]
    fn clearing_the_fee_keeps_the_engine_part_only() {
        let r = AccountReport {
            account: "U1".into(),
            nlv: Decimal::new(100, 0),
            measure: Decimal::new(250, 0),
            uncovered: Decimal::new(150, 0),
            fee_status: "grace".into(),
            fee_by_class: vec![("Equity".into(), Decimal::new(3, 0))],
            pnl_distribution: vec![-250.0, 10.0],
            warnings: vec!["w".into()],
            ..AccountReport::default()
        };
        let want = AccountReport {
            account: "U1".into(),
            nlv: Decimal::new(100, 0),
            pnl_distribution: vec![-250.0, 10.0],
            warnings: vec!["w".into()],
            ..AccountReport::default()
        };
        assert_eq!(r.clear_fee(), want);
    }

    #[test]
    fn non_finite_numbers_are_null_in_json_and_read_back_as_nan() {
        let r = AccountReport {
            worst_scenarios: vec![ScenarioLine {
                moves: vec![("VIX".into(), f64::INFINITY), ("SPX".into(), 0.25)],
                ..ScenarioLine::default()
            }],
            pnl_distribution: vec![f64::NAN, 1.0],
            ..AccountReport::default()
        };
        let text = json(&r);
        assert!(
            text.contains(r#""moves":[["VIX",null],["SPX",0.25]]"#),
            "{text}"
        );
        assert!(text.contains(r#""pnl_distribution":[null,1.0]"#), "{text}");
        let back: AccountReport = serde_json::from_str(&text).unwrap();
        assert!(back.pnl_distribution[0].is_nan());
        assert_eq!(back.pnl_distribution[1], 1.0);
        assert!(back.worst_scenarios[0].moves[0].1.is_nan());
        assert_eq!(back.worst_scenarios[0].moves[1], ("SPX".to_string(), 0.25));
        // the renderers show it as before
        assert_eq!(markdown(&back), markdown(&r));
    }
}
