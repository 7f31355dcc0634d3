//! `exfee bench`: a synthetic batch built in memory, evaluated under the
//! default Monte Carlo set, with the throughput of each stage
//! (docs/performance.md defines every figure it prints).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use exfee::engine::{prepare, single_stocks};
use exfee::scenarios::DrawVersion;
use exfee::synth::{SynthConfig, synthesize};
use exfee::{EngineConfig, Outcome, ScenarioSource};
use exfee_engine::{EvalStats, evaluate_with_stats};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Number of synthetic accounts (about 20 positions each).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    accounts: usize,
    /// Number of Monte Carlo draws of the default set (the fixed stress scenarios come on top).
    #[arg(long, value_name = "M", default_value_t = 10_000)]
    scenarios: usize,
    /// Seed of the synthetic batch.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Valuation date. Default: 2026-11-20 (a fixed date, so runs compare).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    /// Only the fixed stress scenarios (no Monte Carlo draws).
    #[arg(long)]
    fixed_only: bool,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Memory budget of the revaluation block, in MiB (as `exfee run`).
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory_budget: usize,
    /// Worst scenarios kept per account.
    #[arg(long, value_name = "K", default_value_t = 1)]
    tail: usize,
    /// Draw version of the default set: 1 (its own, the default) or 2 (own moves by AS 241;
    /// docs/methodology.md §4.1). Version 2 has another digest.
    #[arg(long, value_name = "V", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    draw_version: u32,
}

/// Peak resident memory of this process (VmHWM), in bytes.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `count / time` in millions per second, or `-` for no time.
fn rate(count: f64, time: Duration) -> String {
    if time.is_zero() {
        "-".to_string()
    } else {
        format!("{:.1} M/s", count / time.as_secs_f64() / 1e6)
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(threads) = args.threads {
        // Before the first parallel call, so the global pool is not built
        // yet (no `unsafe` environment change needed).
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("setting the number of threads")?;
    }
    bench(&args)
}

fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let date = args
        .date
        .or_else(|| NaiveDate::from_ymd_opt(2026, 11, 20))
        .context("date")?;
    let started = Instant::now();

    let t = Instant::now();
    let batch = synthesize(&SynthConfig::new(args.accounts, args.seed, date));
    let synthesis = t.elapsed();

    let t = Instant::now();
    let source = if args.fixed_only {
        ScenarioSource::default_set().fixed_only()
    } else {
        let version = if args.draw_version == 2 {
            DrawVersion::V2
        } else {
            DrawVersion::V1
        };
        ScenarioSource::default_set()
            .with_draws(args.scenarios)
            .and_then(|source| source.with_draw_version(version))
            .context("default scenario set with another draw count")?
    };
    // The same steps as `exfee::evaluate_batch_with`, timed one by one.
    let stocks = single_stocks(&batch, source.factor_table());
    let stock_count = stocks.len();
    let set = source.build(stocks)?;
    let scenario_build = t.elapsed();

    let t = Instant::now();
    let mut config = EngineConfig::new(date);
    config.memory_budget_bytes = args.memory_budget.max(1).saturating_mul(1 << 20);
    config.tail_scenarios = args.tail.max(1);
    let prepared = prepare(&batch, source.factor_table(), source.fx_table(), &config);
    let preparation = t.elapsed();

    let t = Instant::now();
    let (results, stats) = evaluate_with_stats(&prepared, &set, &|_, _| {})?;
    let evaluation = t.elapsed();
    let wall = started.elapsed();

    let positions: usize = batch.accounts.iter().map(|a| a.positions.len()).sum();
    let cash: usize = batch.accounts.iter().map(|a| a.cash.len()).sum();
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    // FNV-1a over every account's tail (scenario, P&L bits): equal digests
    // mean bit-identical results.
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for result in &results {
        let words: Vec<u64> = match &result.outcome {
            Outcome::Evaluated(risk) => risk
                .tail
                .iter()
                .flat_map(|&(s, p)| [s as u64, p.to_bits()])
                .collect(),
            Outcome::Failed(errors) => vec![u64::MAX, errors.len() as u64],
        };
        for word in words {
            for byte in word.to_le_bytes() {
                digest = (digest ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }

    report(&Report {
        args,
        threads: stats.threads,
        batch_accounts: batch.accounts.len(),
        positions,
        cash,
        failed,
        stocks: stock_count,
        draws: set.draw_count(),
        fixed: set.fixed().len(),
        synthesis,
        scenario_build,
        preparation,
        evaluation,
        wall,
        stats: &stats,
        digest,
    });
    Ok(ExitCode::SUCCESS)
}

struct Report<'a> {
    args: &'a BenchArgs,
    threads: usize,
    batch_accounts: usize,
    positions: usize,
    cash: usize,
    failed: usize,
    stocks: usize,
    draws: usize,
    fixed: usize,
    synthesis: Duration,
    scenario_build: Duration,
    preparation: Duration,
    evaluation: Duration,
    wall: Duration,
    stats: &'a EvalStats,
    digest: u64,
}

fn report(r: &Report<'_>) {
    let s = r.stats;
    let dense = s.dense_scenarios as f64;
    let option_pricing = s.european_pricing + s.american_pricing;
    say!(
        "exfee bench: {} accounts (seed {}), {} threads",
        r.args.accounts,
        r.args.seed,
        r.threads
    );
    say!(
        "  accounts            {} ({} failed)",
        r.batch_accounts,
        r.failed
    );
    say!(
        "  positions           {} (+ {} cash balances)",
        r.positions,
        r.cash
    );
    say!(
        "  holdings            {} (account × leg, cash included)",
        s.holdings
    );
    say!(
        "  legs                {} distinct (instrument or cash × base currency)",
        s.legs
    );
    say!(
        "  option legs         {} ({} European, {} American) on {} contracts ({} European, {} American)",
        s.european_legs + s.american_legs,
        s.european_legs,
        s.american_legs,
        s.european_contracts + s.american_contracts,
        s.european_contracts,
        s.american_contracts
    );
    say!("  single stocks       {}", r.stocks);
    say!(
        "  scenarios           {} ({} draws + {} fixed; {} dense, {} sparse single-stock; draw version {})",
        r.draws + r.fixed,
        r.draws,
        r.fixed,
        s.dense_scenarios,
        s.sparse_scenarios,
        r.args.draw_version
    );
    say!(
        "  block               {} scenarios (contracts priced), panel {} (legs written, accounts aggregated)",
        s.block_len,
        s.panel_len
    );
    say!(
        "  instruction set     {} (the widest this CPU runs within {}; `{}=avx2` caps it)",
        exfee::simd::widest().name(),
        exfee::simd::ENV,
        exfee::simd::ENV
    );
    say!("wall time");
    say!("  synthesis           {:8.3} s", secs(r.synthesis));
    say!(
        "  scenario build      {:8.3} s  (single stocks, set)",
        secs(r.scenario_build)
    );
    say!("  prepare             {:8.3} s", secs(r.preparation));
    say!("  evaluate            {:8.3} s", secs(r.evaluation));
    say!("    setup             {:8.3} s", secs(s.setup));
    say!("    scenario fill     {:8.3} s", secs(s.scenario_fill));
    say!("    European pricing  {:8.3} s", secs(s.european_pricing));
    say!("    American pricing  {:8.3} s", secs(s.american_pricing));
    say!("    leg P&L panels    {:8.3} s", secs(s.leg_pnl));
    say!("    aggregation       {:8.3} s", secs(s.aggregation));
    say!("    sparse stocks     {:8.3} s", secs(s.sparse));
    say!("    results           {:8.3} s", secs(s.results));
    say!(
        "  prepare + evaluate  {:8.3} s",
        secs(r.preparation + r.evaluation)
    );
    say!("  total               {:8.3} s", secs(r.wall));
    say!("throughput (dense scenarios; per second of the stage's wall time)");
    say!(
        "  position-scenario evaluations    {}  (holdings × dense / aggregation)",
        rate(s.holdings as f64 * dense, s.aggregation)
    );
    say!(
        "  option-scenario repricings       {}  (option legs × dense / option pricing)",
        rate(
            (s.european_legs + s.american_legs) as f64 * dense,
            option_pricing
        )
    );
    say!(
        "    European contract repricings   {}  (contracts × dense / European pricing)",
        rate(s.european_contracts as f64 * dense, s.european_pricing)
    );
    say!(
        "    American contract repricings   {}  (contracts × dense / American pricing)",
        rate(s.american_contracts as f64 * dense, s.american_pricing)
    );
    say!(
        "  leg-scenario pricings            {}  (legs × dense / (contract pricing + leg P&L))",
        rate(s.legs as f64 * dense, option_pricing + s.leg_pnl)
    );
    match peak_memory() {
        Some(bytes) => say!(
            "peak memory (VmHWM)  {:.1} MiB",
            bytes as f64 / f64::from(1 << 20)
        ),
        None => say!("peak memory (VmHWM)  unknown (no /proc/self/status)"),
    }
    say!("result digest        {:016x}", r.digest);
}
