//! `exfee backtest`: each day, value the drop's portfolios at that day's
//! closes, compute the measure with a set calibrated on data up to that day
//! only, and compare it with the realised P&L over the horizon.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::calibrate::{History, Options, stats};
use exfee::io::{DropPaths, read_drop, write_atomically, write_csv};
use exfee::{
    Batch, Decimal, EngineConfig, FactorMapping, InstrumentKind, Outcome, ScenarioSource,
    ScenarioSpec,
};

use super::Output;
use super::calibrate::{base_spec, calibrated_spec, options_for, read_history};

/// The confidence level of the quantile measure (Basel traffic light).
const LEVEL: f64 = 0.99;

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

/// The close of `symbol` on or before date index `d` (forward fill).
fn close_at(history: &History, s: usize, d: usize) -> Option<f64> {
    history.closes(s)[..=d].iter().rev().find_map(|c| *c)
}

fn decimal(v: f64) -> Option<Decimal> {
    use rust_decimal::prelude::FromPrimitive;
    Decimal::from_f64(v).map(|d| d.round_dp(6))
}

pub fn run(args: BacktestArgs, output: &Output) -> anyhow::Result<ExitCode> {
    if args.horizon_days == 0 || args.draws == 0 || args.recalibrate_every == 0 {
        anyhow::bail!("--horizon-days, --draws and --recalibrate-every must be at least 1");
    }
    let history = read_history(&args.history)?;
    let base = base_spec(args.scenario_set.as_deref())?;
    let mut config = base.config().clone();
    config.scenarios = args.draws;
    if args.measure == MeasureKind::Q99 {
        config.include_fixed = false;
    }
    let base = ScenarioSpec::new(
        config,
        base.factor_table().clone(),
        base.fx_table().clone(),
        base.correlation().clone(),
    )?;
    let batch = read_drop(&DropPaths::in_dir(&args.drop), base.factor_table())
        .with_context(|| format!("drop {}", args.drop.display()))?;

    let mut options: Options = options_for(&base);
    options.lookback = args.lookback;
    options.halflife = args.halflife;
    options.vol_index = args.vol_index.clone();
    options.pinned = batch
        .market
        .factors
        .iter()
        .filter_map(|(s, m)| m.as_ref().ok().map(|m| (s.clone(), m.factor.clone())))
        .collect();

    let dates = history.dates();
    let h = args.horizon_days;
    if dates.len() <= h + 2 {
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

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a whole number from 1 to the draw count"
    )]
    let (k, rate) = match args.measure {
        MeasureKind::Q99 => (
            ((1.0 - LEVEL) * args.draws as f64).ceil().max(1.0) as usize,
            1.0 - LEVEL,
        ),
        MeasureKind::Worst => (1, 1.0 / (args.draws as f64 + 1.0)),
    };
    let engine = EngineConfig {
        tail_scenarios: k,
        ..EngineConfig::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = 0usize;
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    let mut source: Option<ScenarioSource> = None;
    let mut factors: BTreeMap<String, FactorMapping> = BTreeMap::new();
    let spinner = output.bar("backtest", "days");
    spinner.set_length((last - first + 1) as u64);
    for (step, d) in (first..=last).enumerate() {
        let date = dates[d];
        if step % args.recalibrate_every == 0 || source.is_none() {
            let (c, spec, _) = calibrated_spec(&history.up_to(date), &base, &options)
                .with_context(|| format!("calibrating as of {date}"))?;
            factors = c
                .stocks
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
                .collect();
            source = Some(ScenarioSource::MonteCarlo(Box::new(spec)));
        }
        let Some(source) = &source else { continue };

        // The portfolios at this date's closes.
        let mut day = Batch {
            accounts: Vec::new(),
            market: batch.market.clone(),
            errors: Vec::new(),
        };
        for (symbol, mapping) in &factors {
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
                let later = s.and_then(|s| close_at(&history, s, d + h));
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
                        *dropped.entry(p.instrument.symbol.clone()).or_default() += 1;
                        false
                    }
                }
            });
            if !a.positions.is_empty() {
                realised.push(pnl);
                day.accounts.push(a);
            }
        }
        if day.accounts.is_empty() {
            continue;
        }
        let evaluation = exfee::evaluate_batch(&day, source, &engine)?;
        for (result, pnl) in evaluation.results.iter().zip(realised) {
            if let Outcome::Evaluated(risk) = &result.outcome {
                let measure = risk
                    .tail
                    .get(k - 1)
                    .or(risk.tail.last())
                    .map_or(0.0, |(_, pnl)| -pnl)
                    .max(0.0);
                rows.push(Row {
                    portfolio: result.account.clone(),
                    date,
                    measure,
                    realised: pnl,
                });
            } else {
                failed += 1;
            }
        }
        spinner.inc(1);
        output.log_progress("backtest", step + 1, last - first + 1);
    }
    spinner.finish_and_clear();
    if rows.is_empty() {
        anyhow::bail!("no portfolio holds a symbol of the history");
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    rows.sort_by(|a, b| a.portfolio.cmp(&b.portfolio).then(a.date.cmp(&b.date)));
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
    for r in &rows {
        by.entry(&r.portfolio).or_default().push(r);
    }
    let mut coverage = Vec::new();
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
    for (portfolio, series) in &by {
        let hits: Vec<bool> = series.iter().map(|r| r.exceeded()).collect();
        let x = hits.iter().filter(|h| **h).count();
        let n = hits.len();
        let p = |v: Option<(f64, f64)>| v.map_or(String::new(), |(_, p)| format!("{p:.4}"));
        let kupiec = p(stats::kupiec(n, x, rate));
        let christoffersen = p(stats::christoffersen(&hits));
        let zone = stats::traffic_light_at(n, x, rate);
        say!("{portfolio:<12} {n:>6} {x:>12} {kupiec:>9} {christoffersen:>17}  {zone}");
        coverage.push(vec![
            portfolio.to_string(),
            n.to_string(),
            x.to_string(),
            kupiec,
            christoffersen,
            zone.to_string(),
        ]);
        let svg = exfee::calibrate::render::backtest_svg(
            portfolio,
            &series
                .iter()
                .map(|r| (r.date, r.measure, r.realised))
                .collect::<Vec<_>>(),
        );
        let path = charts.join(format!("{}.svg", sanitize(portfolio)));
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
    if failed > 0 {
        eprintln!(
            "exfee: {failed} account-days could not be evaluated (see `exfee run` on the drop) and have no row"
        );
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
    Ok(ExitCode::SUCCESS)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
