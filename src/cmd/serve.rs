//! `exfee serve`: the what-if service (the service itself is
//! [`exfee::serve`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use exfee::fee::{FeeSchedule, TradingCalendar};
use exfee::io::DropPaths;
use exfee::serve::{Loader, Night, NightOptions, ServeOptions, Service};
use exfee::{EngineConfig, ScenarioSource};

use super::ScenarioArgs;
use super::run::{read_calendar, read_schedule};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A drop folder (with accounts.csv), or Flex Query CSV reports (a file or a folder of them;
    /// their market files from --market).
    #[arg(value_name = "DROP_OR_FLEX")]
    input: PathBuf,
    /// Valuation date (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: NaiveDate,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    scenarios: ScenarioArgs,
    /// The fee schedule (TOML). Default: the built-in one.
    #[arg(long, value_name = "FILE")]
    fee: Option<PathBuf>,
    /// Holidays (one YYYY-MM-DD per line).
    #[arg(long, value_name = "FILE")]
    holidays: Option<PathBuf>,
    /// The market folder for Flex input. Default: DROP_OR_FLEX's folder's market/.
    #[arg(long, value_name = "DIR")]
    market: Option<PathBuf>,
    /// Stress horizon in calendar days.
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    horizon_days: u32,
    /// A file holding the bearer token (else the EXFEE_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Serve without a token: allowed only on a loopback address.
    #[arg(long)]
    insecure_local: bool,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    body_limit: usize,
    /// Longest a request may take, in seconds (longer: 503).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// Longest a connection may take to send a request's header block, and longest it may stay
    /// idle between requests, in seconds (then it is closed).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    header_timeout: u64,
    /// Connections served at once (more wait in the listening queue); keep it below the open-file
    /// limit (`ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_connections: usize,
    /// Accounts whose what-if state (tonight's figures, a few kB each) is kept in memory (oldest
    /// dropped first).
    #[arg(long, value_name = "N", default_value_t = 8192)]
    cache: usize,
    /// Rendered reports kept in memory (oldest dropped first).
    #[arg(long, value_name = "N", default_value_t = 256)]
    report_cache: usize,
    /// Megabytes of per-instrument unit scenario P&L kept for what-if questions (least recently
    /// used dropped first).
    #[arg(long, value_name = "MB", default_value_t = 256)]
    leg_cache_mb: usize,
    /// Megabytes of accounts' prepared what-if state kept (each account asked about: its holdings
    /// and its P&L in every Monte Carlo draw, 8 bytes a draw; least recently used dropped first).
    /// An order on an account in this cache adds only the order's legs to its P&L.
    #[arg(long, value_name = "MB", default_value_t = 256)]
    account_cache_mb: usize,
    /// The nightly state database (grace weeks, fee ledger) of `exfee run`: fee_status is then the
    /// ledger's. Read only. Default: a first night (every account's history empty).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

fn token(args: &ServeArgs) -> anyhow::Result<Option<String>> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("EXFEE_TOKEN")
            .ok()
            .map(|t| t.trim().to_string()),
    };
    match token {
        Some(t) => token_rule(&t).map(|()| Some(t)).map_err(anyhow::Error::msg),
        None if args.insecure_local && args.listen.ip().is_loopback() => Ok(None),
        None if args.insecure_local => anyhow::bail!(
            "--insecure-local serves without a token on a loopback address only, not {}",
            args.listen
        ),
        None => anyhow::bail!(
            "no bearer token: set EXFEE_TOKEN or give --token-file (or --insecure-local on a \
             loopback address)"
        ),
    }
}

/// Shortest bearer token, in characters.
const MIN_TOKEN_CHARS: usize = 16;

/// The bearer token's rule: at least [`MIN_TOKEN_CHARS`] characters, each
/// visible ASCII (`!` to `~`): what an `Authorization` header carries and
/// the service compares (a header value with any other byte is refused
/// before the comparison, so such a token could never authenticate).
fn token_rule(token: &str) -> Result<(), String> {
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "the bearer token must be visible ASCII characters (! to ~), not {c:?}"
        ));
    }
    // Visible ASCII: one byte a character.
    if token.len() < MIN_TOKEN_CHARS {
        return Err(format!(
            "the bearer token must be at least {MIN_TOKEN_CHARS} characters, not {}",
            token.len()
        ));
    }
    Ok(())
}

/// Reads the input and evaluates it: the first night and every reload.
fn load(
    input: &Path,
    market: Option<&Path>,
    source: &ScenarioSource,
    config: &EngineConfig,
    schedule: &FeeSchedule,
    calendar: &TradingCalendar,
    options: &NightOptions,
) -> anyhow::Result<Night> {
    let batch = if input.join("accounts.csv").is_file() {
        exfee::io::read_drop(&DropPaths::in_dir(input), source.factor_table())?
    } else {
        let dir = market
            .map(Path::to_path_buf)
            .unwrap_or_else(|| input.parent().unwrap_or(Path::new(".")).join("market"));
        let mut paths = DropPaths::in_dir(&dir);
        paths.fx = dir.join("fx.csv");
        paths.factors = dir.join("factors.csv");
        paths.underlyings = dir.join("underlyings.csv");
        paths.rates = dir.join("rates.csv");
        let (market, errors) = exfee::io::read_market(&paths, source.factor_table())?;
        let mut batch = exfee::io::read_flex(&[input.to_path_buf()], market)?;
        batch.errors.extend(errors);
        batch
    };
    Night::evaluate(
        batch,
        source.clone(),
        config.clone(),
        schedule.clone(),
        calendar.clone(),
        options,
    )
    .map_err(anyhow::Error::msg)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = token(&args)?;
    let source = args.scenarios.load()?;
    let schedule = read_schedule(args.fee.as_deref())?;
    let calendar = read_calendar(args.holidays.as_deref())?;
    let mut config = EngineConfig::new(args.date);
    config.horizon_days = args.horizon_days;
    let options = NightOptions {
        accounts_cached: args.cache,
        reports_cached: args.report_cache,
        leg_cache_bytes: args.leg_cache_mb.saturating_mul(1 << 20),
        account_cache_bytes: args.account_cache_mb.saturating_mul(1 << 20),
        state: args.state.clone(),
    };
    let started = std::time::Instant::now();
    let night = load(
        &args.input,
        args.market.as_deref(),
        &source,
        &config,
        &schedule,
        &calendar,
        &options,
    )?;
    eprintln!(
        "exfee serve: {} account(s) of {} evaluated in {:.2} s",
        night.batch.accounts.len(),
        args.date,
        started.elapsed().as_secs_f64()
    );
    let (input, market, night_options) = (args.input.clone(), args.market.clone(), options);
    let loader: Loader = Arc::new(move || {
        load(
            &input,
            market.as_deref(),
            &source,
            &config,
            &schedule,
            &calendar,
            &night_options,
        )
        .map_err(|e| format!("{e:#}"))
    });
    let options = ServeOptions {
        token,
        body_limit: args.body_limit,
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        ..ServeOptions::default()
    };
    let service = Service::new(night, loader, options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!(
            "exfee serve: listening on http://{}",
            listener.local_addr()?
        );
        service
            .serve(listener, async {
                #[allow(
                    clippy::let_underscore_must_use,
                    reason = "no Ctrl-C handler: serve until killed"
                )]
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("server")
    })?;
    Ok(ExitCode::SUCCESS)
}
