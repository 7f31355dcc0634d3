//! `exfee backtest`: each day, value the drop's portfolios at that day's
//! closes, compute the measure with a set calibrated on data up to that day
//! only, and compare it with the realised P&L over the horizon.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::calibrate::{Calibration, History, Options, stats};
use exfee::io::{DropPaths, read_drop, write_atomically, write_csv};
use exfee::model::FactorMapping;
use exfee::scenarios::ScenarioSpec;
use exfee::{AccountRisk, Batch, Decimal, EngineConfig, InstrumentKind, Outcome, ScenarioSource};

use super::Output;
use super::calibrate::{base_spec, calibrated_spec, options_for, read_history};

/// The confidence level of the quantile measure (Basel traffic light), in
/// percent.
const LEVEL_PERCENT: u8 = 99;

/// What the backtest compares realised losses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeasureKind {
    /// The 99 % loss quantile of the Monte Carlo draws (expected exceedance rate 1 %).
    Q99,
    /// The worst loss over the draws and the set's fixed stress scenarios (the fee's measure;
    /// stated exceedance rate 1/(draws + 1), the chance that a new draw beats all of them).
    Worst,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Daily closes, `date,symbol,close`.
    #[arg(long, value_name = "FILE.csv")]
    history: PathBuf,
    /// The drop whose accounts are the portfolios (positions held constant).
    #[arg(long, value_name = "DIR")]
    drop: PathBuf,
    /// First date (default: 250 dates before the last one the horizon allows, but no earlier
    /// than the 250th date of the history).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,
    /// Last date (default: the last one the horizon allows).
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,
    /// Horizon of the realised P&L, in trading days of the history.
    #[arg(long, value_name = "N", default_value_t = 1)]
    horizon_days: usize,
    /// Monte Carlo draws per calibrated set.
    #[arg(long, default_value_t = 1000)]
    draws: usize,
    /// The measure: `q99` (99 % loss quantile of the draws) or `worst` (worst loss over the
    /// draws and the fixed stress scenarios).
    #[arg(long, value_enum, default_value = "q99")]
    measure: MeasureKind,
    /// Recalibrate every this many dates (1: every day).
    #[arg(long, value_name = "DAYS", default_value_t = 5)]
    recalibrate_every: usize,
    /// Calibration window, trading days.
    #[arg(long, value_name = "DAYS", default_value_t = 500)]
    lookback: usize,
    /// Half-life of the EWMA volatility filter, trading days.
    #[arg(long, value_name = "DAYS", default_value_t = 30.0)]
    halflife: f64,
    /// The history's symbol for the equity-volatility factor.
    #[arg(long, value_name = "SYMBOL", default_value = "VIX")]
    vol_index: String,
    /// The base scenario set (default: the built-in set).
    #[arg(long, value_name = "FILE")]
    scenario_set: Option<PathBuf>,
    /// The folder to write backtest.csv, coverage.csv and charts/ to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// One portfolio on one date.
struct Row {
    portfolio: String,
    date: NaiveDate,
    measure: f64,
    realised: f64,
}

impl Row {
    fn exceeded(&self) -> bool {
        -self.realised > self.measure
    }
}

/// The close of `symbol` on or before date index `d` (forward fill);
/// `None` past the history's end.
fn close_at(history: &History, s: usize, d: usize) -> Option<f64> {
    history.closes(s).get(..=d)?.iter().rev().find_map(|c| *c)
}

fn decimal(v: f64) -> Option<Decimal> {
    use rust_decimal::prelude::FromPrimitive;
    Decimal::from_f64(v).map(|d| d.round_dp(6))
}

pub fn run(args: BacktestArgs, output: &Output) -> anyhow::Result<ExitCode> {
    if args.horizon_days == 0 || args.draws == 0 || args.recalibrate_every == 0 {
        anyhow::bail!("--horizon-days, --draws and --recalibrate-every must be at least 1");
    }
    exfee::calibrate::check_window(args.lookback, args.halflife)?;
    let history = read_history(&args.history)?;
    let base = backtest_spec(&args)?;
    let batch = read_drop(&DropPaths::in_dir(&args.drop), base.factor_table())
        .with_context(|| format!("drop {}", args.drop.display()))?;
    let options = calibration_options(&args, &base, &batch);
    let (first, last) = window(history.dates(), &args)?;
    let (k, rate) = tail_index(args.measure, args.draws);

    let mut days = Days {
        history: &history,
        batch: &batch,
        horizon: args.horizon_days,
        engine: EngineConfig {
            tail_scenarios: k,
            ..EngineConfig::default()
        },
        k,
        rows: Vec::new(),
        failed: BTreeMap::new(),
        dropped: BTreeMap::new(),
    };
    let mut source: Option<ScenarioSource> = None;
    let mut factors: BTreeMap<String, FactorMapping> = BTreeMap::new();
    let spinner = output.bar("backtest", "days");
    spinner.set_length((last - first + 1) as u64);
    for (step, d) in (first..=last).enumerate() {
        let date = history.dates()[d];
        if step % args.recalibrate_every == 0 || source.is_none() {
            let (c, spec, _) = calibrated_spec(&history.up_to(date), &base, &options)
                .with_context(|| format!("calibrating as of {date}"))?;
            factors = factor_mappings(&c);
            source = Some(ScenarioSource::MonteCarlo(Box::new(spec)));
        }
        let Some(source) = &source else { continue };
        if !days.evaluate(d, &factors, source)? {
            continue;
        }
        spinner.inc(1);
        output.log_progress("backtest", step + 1, last - first + 1);
    }
    spinner.finish_and_clear();
    let Days {
        mut rows,
        failed,
        dropped,
        ..
    } = days;
    let failed_days: usize = failed.values().sum();
    let failures = format!(
        "{failed_days} account-days could not be evaluated and have no row, of {} accounts: {} (see `exfee run` on the drop)",
        failed.len(),
        failed
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if rows.is_empty() {
        if failed_days > 0 {
            anyhow::bail!("no account-day was evaluated: {failures}");
        }
        anyhow::bail!("no portfolio holds a symbol of the history");
    }
    rows.sort_by(|a, b| a.portfolio.cmp(&b.portfolio).then(a.date.cmp(&b.date)));
    write_outputs(&args, &rows, rate)?;
    if failed_days > 0 {
        eprintln!("exfee: {failures}");
    }
    if !dropped.is_empty() {
        let total: usize = dropped.values().sum();
        eprintln!(
            "exfee: {total} position-days left out (no close that day or the horizon's end, or an option or bond), over {} symbols",
            dropped.len()
        );
    }
    say!(
        "wrote {} and {}",
        args.out.join("backtest.csv").display(),
        args.out.join("coverage.csv").display()
    );
    Ok(super::finished(failed_days > 0))
}

/// The base set with the backtest's draw count (and, for the quantile
/// measure, without the fixed stress scenarios).
fn backtest_spec(args: &BacktestArgs) -> anyhow::Result<ScenarioSpec> {
    let base = base_spec(args.scenario_set.as_deref())?;
    let mut config = base.config().clone();
    config.scenarios = args.draws;
    if args.measure == MeasureKind::Q99 {
        config.include_fixed = false;
    }
    Ok(ScenarioSpec::new(
        config,
        base.factor_table().clone(),
        base.fx_table().clone(),
        base.correlation().clone(),
    )?)
}

/// The calibration options of the command, with the drop's own symbol
/// mappings pinned.
fn calibration_options(args: &BacktestArgs, base: &ScenarioSpec, batch: &Batch) -> Options {
    let mut options: Options = options_for(base);
    options.lookback = args.lookback;
    options.halflife = args.halflife;
    options.vol_index = args.vol_index.clone();
    options.pinned = batch
        .market
        .factors
        .iter()
        .filter_map(|(s, m)| m.as_ref().ok().map(|m| (s.clone(), m.factor.clone())))
        .collect();
    options
}

/// The first and last date indices of the backtest: `--from`/`--to` or the
/// last 250 dates the horizon allows (no earlier than the 250th date).
fn window(dates: &[NaiveDate], args: &BacktestArgs) -> anyhow::Result<(usize, usize)> {
    let h = args.horizon_days;
    // dates.len() <= h + 2, without overflow for any h
    if dates.len().saturating_sub(2) <= h {
        anyhow::bail!(
            "the history has {} dates, too few for a {h}-day horizon",
            dates.len()
        );
    }
    let last = dates.len() - 1 - h;
    let first = args
        .from
        .map(|d| dates.partition_point(|x| *x < d))
        .unwrap_or_else(|| last.saturating_sub(249).max(249.min(last)));
    let last = args
        .to
        .map(|d| {
            dates
                .partition_point(|x| *x <= d)
                .saturating_sub(1)
                .min(last)
        })
        .unwrap_or(last);
    if first > last {
        anyhow::bail!("no date in the window leaves {h} trading days of history after it");
    }
    Ok((first, last))
}

/// Which worst scenario (1-based) the measure reads, and its stated
/// exceedance rate. The quantile is the smallest loss of the worst
/// `ceil((1 − level) · draws)` draws, counted exactly as the fee counts an
/// expected shortfall's tail (a binary float would read the 11th worst of
/// 1,000 draws instead of the 10th).
fn tail_index(measure: MeasureKind, draws: usize) -> (usize, f64) {
    match measure {
        MeasureKind::Q99 => {
            let level = Decimal::new(i64::from(LEVEL_PERCENT), 2);
            let tail = exfee::fee::Measure::ExpectedShortfall { level }.scenarios_needed(draws);
            (tail, 1.0 - f64::from(LEVEL_PERCENT) / 100.0)
        }
        MeasureKind::Worst => (1, 1.0 / (draws as f64 + 1.0)),
    }
}

/// The symbol mappings of a calibration (idiosyncratic volatility at least
/// 1e-4).
fn factor_mappings(c: &Calibration) -> BTreeMap<String, FactorMapping> {
    c.stocks
        .iter()
        .map(|s| {
            (
                s.symbol.clone(),
                FactorMapping {
                    factor: s.factor.clone(),
                    beta: s.fit.beta,
                    idio_vol: Some(s.idio_vol.max(1e-4)),
                },
            )
        })
        .collect()
}

/// The backtest's days so far: the rows, the account-days that failed and
/// the positions left out, by symbol.
struct Days<'a> {
    history: &'a History,
    batch: &'a Batch,
    horizon: usize,
    engine: EngineConfig,
    k: usize,
    rows: Vec<Row>,
    /// Account-days not evaluated, by account.
    failed: BTreeMap<String, usize>,
    dropped: BTreeMap<String, usize>,
}

impl Days<'_> {
    /// Evaluates the portfolios at date index `d`; false when no portfolio
    /// holds a priced position that day.
    fn evaluate(
        &mut self,
        d: usize,
        factors: &BTreeMap<String, FactorMapping>,
        source: &ScenarioSource,
    ) -> anyhow::Result<bool> {
        let (day, realised) = self.day_batch(d, factors);
        if day.accounts.is_empty() {
            return Ok(false);
        }
        let evaluation = exfee::evaluate_batch(&day, source, &self.engine)?;
        for (result, pnl) in evaluation.results.iter().zip(realised) {
            if let Outcome::Evaluated(risk) = &result.outcome {
                self.rows.push(Row {
                    portfolio: result.account.clone(),
                    date: self.history.dates()[d],
                    measure: tail_loss(risk, self.k),
                    realised: pnl,
                });
            } else {
                *self.failed.entry(result.account.clone()).or_default() += 1;
            }
        }
        Ok(true)
    }

    /// The portfolios at the closes of date index `d`, with the factor
    /// mappings of the calibration, and each one's realised P&L over the
    /// horizon. Options, bonds and symbols without a close that day or at
    /// the horizon's end are left out (counted in `dropped`); a portfolio
    /// left with no position is left out.
    fn day_batch(
        &mut self,
        d: usize,
        factors: &BTreeMap<String, FactorMapping>,
    ) -> (Batch, Vec<f64>) {
        let (history, batch) = (self.history, self.batch);
        let mut day = Batch {
            accounts: Vec::new(),
            market: batch.market.clone(),
            errors: Vec::new(),
        };
        for (symbol, mapping) in factors {
            day.market
                .factors
                .insert(symbol.clone(), Ok(mapping.clone()));
        }
        let mut realised = Vec::new();
        for account in &batch.accounts {
            let mut a = account.clone();
            let mut pnl = 0.0;
            a.positions.retain_mut(|p| {
                let priced = !matches!(
                    p.instrument.kind,
                    InstrumentKind::Option { .. } | InstrumentKind::Bond
                );
                let s = history.index_of(&p.instrument.symbol);
                let now = s.and_then(|s| history.closes(s)[d]);
                let later = s.and_then(|s| close_at(history, s, d.checked_add(self.horizon)?));
                let fx = account
                    .base_currency
                    .and_then(|base| batch.market.fx_rate(p.instrument.currency, base).ok())
                    .and_then(|r| r.to_string().parse::<f64>().ok());
                match (priced, now, later, fx, decimal(now.unwrap_or(0.0))) {
                    (true, Some(now), Some(later), Some(fx), Some(mark)) => {
                        let q: f64 = (p.quantity * p.instrument.multiplier)
                            .to_string()
                            .parse()
                            .unwrap_or(0.0);
                        pnl += q * (later - now) * fx;
                        p.instrument.mark = mark;
                        true
                    }
                    _ => {
                        *self.dropped.entry(p.instrument.symbol.clone()).or_default() += 1;
                        false
                    }
                }
            });
            if !a.positions.is_empty() {
                realised.push(pnl);
                day.accounts.push(a);
            }
        }
        (day, realised)
    }
}

/// The loss of the `k`-th worst scenario kept (or of the last one kept),
/// floored at zero.
fn tail_loss(risk: &AccountRisk, k: usize) -> f64 {
    risk.tail
        .get(k - 1)
        .or(risk.tail.last())
        .map_or(0.0, |(_, pnl)| -pnl)
        .max(0.0)
}

/// Writes backtest.csv, the charts and coverage.csv, printing the coverage
/// table.
fn write_outputs(args: &BacktestArgs, rows: &[Row], rate: f64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write_csv(
        &args.out.join("backtest.csv"),
        &["portfolio", "date", "measure", "realised_pnl", "exceedance"],
        rows.iter().map(|r| {
            vec![
                r.portfolio.clone(),
                r.date.to_string(),
                format!("{:.2}", r.measure),
                format!("{:.2}", r.realised),
                u8::from(r.exceeded()).to_string(),
            ]
        }),
    )?;

    let mut by: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry(&r.portfolio).or_default().push(r);
    }
    say!(
        "measure: {}; stated exceedance rate {:.4} %",
        match args.measure {
            MeasureKind::Q99 => format!("99 % loss quantile of {} draws", args.draws),
            MeasureKind::Worst => format!(
                "worst loss of {} draws and the fixed stress scenarios",
                args.draws
            ),
        },
        rate * 100.0
    );
    say!("portfolio      days  exceedances  kupiec_p  christoffersen_p  zone");
    let charts = args.out.join("charts");
    std::fs::create_dir_all(&charts)
        .with_context(|| format!("cannot create {}", charts.display()))?;
    let mut coverage = Vec::new();
    // Each chart's file is named as the reports' files are
    // (`exfee_report::file_stem`, a taken stem in a numbered folder), so
    // two accounts never share a chart (`A.B` and `A_B`, `../x`).
    let mut used = std::collections::HashSet::new();
    for (portfolio, series) in &by {
        let row = coverage_row(portfolio, series, rate);
        let [_, n, x, kupiec, christoffersen, zone] = &row;
        say!("{portfolio:<12} {n:>6} {x:>12} {kupiec:>9} {christoffersen:>17}  {zone}");
        coverage.push(row.to_vec());
        let svg = exfee::calibrate::render::backtest_svg(
            portfolio,
            &series
                .iter()
                .map(|r| (r.date, r.measure, r.realised))
                .collect::<Vec<_>>(),
        );
        let stem = exfee::report::file_stem(portfolio);
        let folder = exfee::report::free_folder(&mut used, &stem);
        let dir = charts.join(&folder);
        if !folder.is_empty() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let path = dir.join(format!("{stem}.svg"));
        write_atomically(&path, |out: &mut dyn Write| out.write_all(svg.as_bytes()))?;
    }
    write_csv(
        &args.out.join("coverage.csv"),
        &[
            "portfolio",
            "days",
            "exceedances",
            "kupiec_p",
            "christoffersen_p",
            "zone",
        ],
        coverage,
    )?;
    Ok(())
}

/// One row of coverage.csv: portfolio, days, exceedances, the Kupiec and
/// Christoffersen p-values (empty when undefined) and the traffic-light
/// zone at the stated exceedance rate.
fn coverage_row(portfolio: &str, series: &[&Row], rate: f64) -> [String; 6] {
    let hits: Vec<bool> = series.iter().map(|r| r.exceeded()).collect();
    let x = hits.iter().filter(|h| **h).count();
    let n = hits.len();
    let p = |v: Option<(f64, f64)>| v.map_or(String::new(), |(_, p)| format!("{p:.4}"));
    [
        portfolio.to_string(),
        n.to_string(),
        x.to_string(),
        p(stats::kupiec(n, x, rate)),
        p(stats::christoffersen(&hits)),
        stats::traffic_light_at(n, x, rate).to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from: Option<&str>, to: Option<&str>, horizon_days: usize) -> BacktestArgs {
        let date = |d: &str| d.parse::<NaiveDate>().unwrap();
        BacktestArgs {
            history: PathBuf::new(),
            drop: PathBuf::new(),
            from: from.map(date),
            to: to.map(date),
            horizon_days,
            draws: 100,
            measure: MeasureKind::Q99,
            recalibrate_every: 5,
            lookback: 500,
            halflife: 30.0,
            vol_index: "VIX".into(),
            scenario_set: None,
            out: PathBuf::new(),
        }
    }

    fn days(n: usize) -> Vec<NaiveDate> {
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        (0..n)
            .map(|i| start + chrono::Days::new(i as u64))
            .collect()
    }

    #[test]
    fn the_window_defaults_to_the_last_250_dates_the_horizon_allows() {
        // 300 dates, horizon 1: the last usable index is 298; 250 dates end
        // there, starting at 49, but no earlier than index 249.
        assert_eq!(
            window(&days(300), &args(None, None, 1)).unwrap(),
            (249, 298)
        );
        // 600 dates, horizon 5: last 594, first 594 − 249 = 345.
        assert_eq!(
            window(&days(600), &args(None, None, 5)).unwrap(),
            (345, 594)
        );
        // a short history starts at its last usable date
        assert_eq!(window(&days(10), &args(None, None, 1)).unwrap(), (8, 8));
    }

    #[test]
    fn the_window_follows_from_and_to_and_refuses_an_empty_one() {
        let dates = days(300);
        let w = window(&dates, &args(Some("2025-01-11"), Some("2025-02-01"), 2));
        assert_eq!(w.unwrap(), (10, 31));
        // --to beyond the horizon's reach stops at the last usable date
        let w = window(&dates, &args(Some("2025-01-11"), Some("2030-01-01"), 2));
        assert_eq!(w.unwrap(), (10, 297));
        assert!(window(&dates, &args(Some("2025-02-01"), Some("2025-01-11"), 2)).is_err());
        assert!(window(&days(3), &args(None, None, 1)).is_err());
    }

    #[test]
    fn a_horizon_longer_than_the_history_is_an_error_not_an_overflow() {
        // 4 dates leave a 1-day horizon one usable date (index 2) but not
        // a 2-day one; usize::MAX must not wrap round to a small number.
        assert_eq!(window(&days(4), &args(None, None, 1)).unwrap(), (2, 2));
        for h in [2, usize::MAX - 1, usize::MAX] {
            let err = window(&days(4), &args(None, None, h)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("the history has 4 dates, too few for a {h}-day horizon")
            );
        }
    }

    #[test]
    fn the_quantile_reads_one_percent_of_the_draws_exactly() {
        // ceil(1 % of N): 10 of 1,000 (not 11), 11 of 1,001, at least 1.
        assert_eq!(tail_index(MeasureKind::Q99, 1000).0, 10);
        assert_eq!(tail_index(MeasureKind::Q99, 1001).0, 11);
        assert_eq!(tail_index(MeasureKind::Q99, 50).0, 1);
        assert!((tail_index(MeasureKind::Q99, 1000).1 - 0.01).abs() < 1e-15);
        // the worst loss: a new draw beats all N with chance 1/(N + 1)
        assert_eq!(tail_index(MeasureKind::Worst, 999), (1, 0.001));
    }

    #[test]
    fn coverage_counts_days_and_exceedances() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let row = |measure, realised| Row {
            portfolio: "P".into(),
            date,
            measure,
            realised,
        };
        // losses 150 > 100 and 101 > 100 exceed; 100 = 100 and a gain do not
        let rows = [
            row(100.0, -150.0),
            row(100.0, -100.0),
            row(100.0, 20.0),
            row(100.0, -101.0),
        ];
        let series: Vec<&Row> = rows.iter().collect();
        let cells = coverage_row("P", &series, 0.01);
        assert_eq!(cells[..3], ["P", "4", "2"]);
        assert_eq!(cells[5], stats::traffic_light_at(4, 2, 0.01).to_string());
    }
}
