//! `exfee calibrate`: a scenario set estimated from a price history, and
//! `exfee history`: the seeded synthetic history shipped under
//! examples/history/.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::ScenarioSource;
use exfee::calibrate::render::{self, files};
use exfee::calibrate::{
    Calibration, Copula, CorrelationMatrix, DMatrix, History, Marginal, Options, calibrate,
    parse_history,
};
use exfee::io::write_atomically;
use exfee::scenarios::ScenarioSpec;

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Daily closes, CSV with exactly the columns `date,symbol,close` (ISO dates).
    #[arg(long, value_name = "FILE.csv")]
    history: PathBuf,
    /// Last date used (default: the history's last date).
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<NaiveDate>,
    /// Trading days (dates of the history) in the estimation window.
    #[arg(long, value_name = "DAYS", default_value_t = 500)]
    lookback: usize,
    /// Half-life, in trading days, of the EWMA volatility that de-volatilises returns.
    #[arg(long, value_name = "DAYS", default_value_t = 30.0)]
    halflife: f64,
    /// The history's symbol for the equity-volatility factor (a volatility index).
    #[arg(long, value_name = "SYMBOL", default_value = "VIX")]
    vol_index: String,
    /// A `market/factors.csv` whose `symbol,factor` pairs fix the factor a symbol is regressed
    /// on (others take the covered factor with the best R²); at most 64 MiB.
    #[arg(long, value_name = "FILE.csv")]
    factors: Option<PathBuf>,
    /// The base scenario set (tables, draws, seed, marginal; default: the built-in set).
    #[arg(long, value_name = "FILE")]
    scenario_set: Option<PathBuf>,
    /// The folder to write set.toml, correlation.csv, factors.csv and calibration.md to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First date (moved to the next weekday).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2024-06-03")]
    start: NaiveDate,
    /// Number of weekdays (1 to 100000).
    #[arg(
        long,
        default_value_t = 645,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(1..=exfee::calibrate::generate::MAX_DAYS as u64)
    )]
    days: usize,
    /// The CSV file to write (`date,symbol,close`).
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
}

/// The largest price history read (1 GiB: some 30 million `date,symbol,close`
/// rows). A larger file, or `/dev/zero`, is a clear error, not exhaustion.
const MAX_HISTORY_BYTES: u64 = 1 << 30;

/// Reads a history file, at most [`MAX_HISTORY_BYTES`].
pub fn read_history(path: &Path) -> anyhow::Result<History> {
    let bytes = exfee::io::read_bounded(path, MAX_HISTORY_BYTES)?;
    Ok(parse_history(&path.display().to_string(), &bytes)?)
}

/// The base scenario set.
pub fn base_spec(path: Option<&Path>) -> anyhow::Result<ScenarioSpec> {
    let source = match path {
        Some(path) => ScenarioSource::MonteCarlo(Box::new(
            exfee::io::read_scenario_spec(path)
                .with_context(|| format!("scenario set {}", path.display()))?,
        )),
        None => ScenarioSource::default_set(),
    };
    match source {
        ScenarioSource::MonteCarlo(spec) => Ok(*spec),
        ScenarioSource::Fixed(_) => anyhow::bail!("the base set has no Monte Carlo draws"),
    }
}

/// Options for the base set.
pub fn options_for(base: &ScenarioSpec) -> Options {
    let z_at_bound = match base.config().marginal {
        Marginal::Tail { z_at_bound } => z_at_bound,
        Marginal::Uniform => exfee::calibrate::DEFAULT_Z_AT_BOUND,
    };
    Options {
        equity_vol_name: base.config().equity_vol.name.clone(),
        z_at_bound,
        ..Options::default()
    }
}

/// Calibrates and builds the set in memory: (calibration, the full matrix's
/// names, the full matrix, the calibrated spec).
pub fn calibrated_spec(
    history: &History,
    base: &ScenarioSpec,
    options: &Options,
) -> anyhow::Result<(Calibration, ScenarioSpec, DMatrix<f64>)> {
    let c = calibrate(history, base.factor_table(), base.fx_table(), options)?;
    let names = base.correlation().names().to_vec();
    let full = c.full_matrix(&names, base.correlation().matrix())?;
    let mut config = base.config().clone();
    config.copula = match c.copula_nu() {
        Some(nu) => Copula::StudentT { nu },
        None if c.nu.is_some() => Copula::Gaussian,
        None => config.copula,
    };
    config.repair_correlation = false;
    let matrix = CorrelationMatrix::new("calibrated", names, full.clone())?;
    let spec = ScenarioSpec::new(
        config,
        base.factor_table().clone(),
        base.fx_table().clone(),
        matrix,
    )?;
    Ok((c, spec, full))
}

/// `symbol → factor` from a factors.csv (read as the drop's market tables
/// are: at most [`exfee::io::MAX_TABLE_BYTES`], so `/dev/zero` is an error,
/// not exhaustion).
pub fn read_pinned(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let bytes = exfee::io::read_bounded(path, exfee::io::MAX_TABLE_BYTES)?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader
        .headers()
        .with_context(|| format!("{}: line 1", path.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column `{name}`", path.display()))
    };
    let (s, f) = (col("symbol")?, col("factor")?);
    let mut out = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        if let (Some(symbol), Some(factor)) = (record.get(s), record.get(f)) {
            out.insert(symbol.trim().to_string(), factor.trim().to_string());
        }
    }
    Ok(out)
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    write_atomically(path, |out: &mut dyn Write| out.write_all(text.as_bytes()))?;
    Ok(())
}

pub fn run(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    exfee::calibrate::check_window(args.lookback, args.halflife)?;
    let history = read_history(&args.history)?;
    let base = base_spec(args.scenario_set.as_deref())?;
    let mut options = options_for(&base);
    options.as_of = args.as_of;
    options.lookback = args.lookback;
    options.halflife = args.halflife;
    options.vol_index = args.vol_index.clone();
    if let Some(path) = &args.factors {
        options.pinned = read_pinned(path)?;
    }
    let (c, _spec, full) = calibrated_spec(&history, &base, &options)
        .with_context(|| format!("calibrating to {}", args.history.display()))?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let dir = &args.out;
    let names = base.correlation().names().to_vec();
    write_text(
        &dir.join(files::CORRELATION),
        &render::correlation_csv(&c.names(), &c.correlation),
    )?;
    write_text(
        &dir.join(files::CORRELATION_FULL),
        &render::correlation_csv(&names, &full),
    )?;
    write_text(
        &dir.join(files::FACTOR_TABLE),
        &render::factor_table_csv(base.factor_table()),
    )?;
    write_text(
        &dir.join(files::FX_TABLE),
        &render::fx_table_csv(base.fx_table()),
    )?;
    write_text(&dir.join(files::FACTORS), &render::factors_csv(&c))?;
    write_text(&dir.join(files::REPORT), &render::report_md(&c))?;
    write_text(&dir.join(files::SET), &render::set_toml(&c, base.config()))?;
    // The set must load as `exfee run --scenario-set` loads it.
    exfee::io::read_scenario_spec(&dir.join(files::SET))
        .context("the calibrated set does not load")?;

    say!(
        "calibrated as of {}: {} variables over {} common dates ({}), Ledoit–Wolf δ = {:.4}, {}; {} symbols regressed",
        c.as_of,
        c.variables.len(),
        c.common_obs,
        c.names().join(", "),
        c.shrinkage,
        match (c.copula_nu(), c.nu) {
            (Some(nu), _) => format!("t copula ν = {nu}"),
            (None, Some(_)) => "Gaussian copula".to_string(),
            (None, None) => "base copula".to_string(),
        },
        c.stocks.len()
    );
    for (symbol, why) in &c.skipped {
        eprintln!("exfee: left out {symbol}: {why}");
    }
    say!("wrote {}", dir.join(files::SET).display());
    Ok(ExitCode::SUCCESS)
}

pub fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let rows = exfee::calibrate::generate::synthetic_history(args.seed, args.start, args.days)?;
    write_text(&args.out, &exfee::calibrate::generate::history_csv(&rows))?;
    say!("wrote {} rows to {}", rows.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
