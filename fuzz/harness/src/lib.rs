//! exfee's fuzz targets, one per parser, as plain functions of the input
//! bytes. Each must return (whatever the bytes) without panicking, hanging or
//! allocating without bound; a parse error is a normal outcome.
//!
//! The cargo-fuzz targets in `../fuzz_targets` call these under libFuzzer
//! (nightly); the `smoke` binary calls them on the stable toolchain. See
//! `fuzz/README.md`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use exfee_fee::{FeeSchedule, GraceRules, TradingCalendar, daily_fee, next_state};
use exfee_io::{DropPaths, read_drop_with, read_flex_from};
use exfee_model::{Currency, Decimal, FactorTable, MarketData, net_liquidation_value};
use exfee_scenarios::{ScenarioConfig, parse_correlation};

/// The shipped tables, built into the harness.
const FACTOR_TABLE: &str = include_str!("../../../scenarios/risk-factors-current.csv");
const FX_TABLE: &str = include_str!("../../../scenarios/fx-factors-current.csv");
const CORRELATION: &str = include_str!("../../../scenarios/correlation-default.csv");

fn shipped_factor_table() -> &'static FactorTable {
    static TABLE: OnceLock<FactorTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        exfee_io::parse_factor_table("risk-factors-current.csv", FACTOR_TABLE.as_bytes())
            .expect("the shipped factor table reads")
    })
}

/// A fuzz target: its name (as in `fuzz/Cargo.toml`), the function, and
/// where its seeds come from.
pub struct Target {
    /// The cargo-fuzz target name.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
    /// Seed inputs, from the repository's example files (`root` is the
    /// repository).
    pub seeds: fn(root: &Path) -> Vec<Vec<u8>>,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "drop_files",
        run: drop_files,
        seeds: drop_seeds,
    },
    Target {
        name: "factor_table",
        run: factor_table,
        seeds: |root| files(root, "scenarios", "risk-factors-"),
    },
    Target {
        name: "fx_table",
        run: fx_table,
        seeds: |root| files(root, "scenarios", "fx-factors-"),
    },
    Target {
        name: "correlation",
        run: correlation,
        seeds: |root| files(root, "scenarios", "correlation-"),
    },
    Target {
        name: "scenario_config",
        run: scenario_config,
        seeds: |root| {
            let mut seeds = files(root, "scenarios", ".toml");
            seeds.push(
                b"factor_table = \"f.csv\"\nfx_table = \"x.csv\"\ncorrelation = \"c.csv\"\nseed = 1\n\
                  repair_correlation = true\n[copula]\nkind = \"gaussian\"\n[marginal]\nkind = \"uniform\"\n"
                    .to_vec(),
            );
            seeds
        },
    },
    Target {
        name: "fee_schedule",
        run: fee_schedule,
        seeds: |root| {
            let mut seeds = files(root, "crates/fee", ".toml");
            seeds.push(
                b"threshold_usd = \"76000\"\nday_count = 360\n[measure]\nkind = \"expected_shortfall\"\n\
                  level = 0.975\n[[tiers]]\nup_to_usd = 50000\nannual_rate = 0.04\n[[tiers]]\nannual_rate = 0.3\n"
                    .to_vec(),
            );
            seeds
        },
    },
    Target {
        name: "holidays",
        run: holidays,
        seeds: |_| {
            vec![
                b"# US holidays 2026\n2026-01-01\n2026-01-19 # MLK\n2026-02-16\n\n2026-12-25\r\n"
                    .to_vec(),
                b"2026-07-03  # Independence Day (observed)\n9999-12-31\n0001-01-01\n".to_vec(),
            ]
        },
    },
    Target {
        name: "flex",
        run: flex,
        seeds: |root| {
            let mut seeds = Vec::new();
            for dir in ["header-data", "markers", "plain", "quirks"] {
                seeds.extend(files(root, &format!("examples/flex/{dir}"), ".csv"));
            }
            seeds.extend(files(root, "examples/flex/xml", ".xml"));
            seeds
        },
    },
];

/// The contents of the files of `dir` (relative to `root`) whose name
/// contains `part`, in name order.
fn files(root: &Path, dir: &str, part: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(part))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

// ---------------------------------------------------------------------------
// Native drop files.

/// The files of a drop, in the order of the selector byte of
/// [`drop_files`].
const DROP_FILES: [&str; 7] = [
    "accounts.csv",
    "positions.csv",
    "cash.csv",
    "market/fx.csv",
    "market/factors.csv",
    "market/underlyings.csv",
    "market/rates.csv",
];

/// A small valid drop that the fuzzed file joins.
const BASE_DROP: [&str; 7] = [
    "account,base_currency,inventory_fee\nU1,USD,\nU2,EUR,1.50\nU3,GBP,\n",
    "account,symbol,asset_class,currency,quantity,multiplier,mark,underlying,strike,expiry,right,exercise\n\
     U1,AAPL,STK,USD,300,,245.30,,,,,\n\
     U1,CLF7,FUT,USD,2,1000,70.15,CL,,2026-12-21,,\n\
     U1,AAPL 270115C260,OPT,USD,-5,100,4.81,AAPL,260,2027-01-15,C,american\n\
     U2,SAP,STK,EUR,10,,238.40,,,,,\n\
     U2,T 4.25 11/15/34,BOND,USD,200,10,97.85,,,,,\n\
     U3,BTC,CRYPTO,USD,0.5,,98000,,,,,\n",
    "account,currency,amount\nU1,USD,-150000\nU1,EUR,20000\nU3,GBP,-10\n",
    "currency,usd_per_unit\nUSD,1\nEUR,1.08\nGBP,1.25\nJPY,0.0067\n",
    "symbol,factor,beta,idio_vol\nSPY,Equity,1,0\nAAPL,Equity,1.15,0.28\nSAP,European Equity,1.1,\n",
    "symbol,currency,price,implied_vol,dividend_yield\nAAPL,USD,245.30,0.27,0.0044\n",
    "currency,rate\nUSD,0.043\nEUR,0.019\n",
];

/// A native drop: the first byte picks the file the rest of the input
/// replaces (its value modulo 7, in the order accounts, positions, cash,
/// fx, factors, underlyings, rates); when `(byte / 7)` is odd the optional
/// files not fuzzed are left out. The other files are a small valid drop.
/// Every account read must have a computable (or refused) NLV.
pub fn drop_files(data: &[u8]) {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let fuzzed = usize::from(selector) % DROP_FILES.len();
    let sparse = (selector / 7) % 2 == 1;
    let root = Path::new("drop");
    let paths = DropPaths::in_dir(root);
    let open = |path: &Path| -> std::io::Result<&[u8]> {
        let name = path.strip_prefix(root).unwrap_or(path);
        let index = DROP_FILES
            .iter()
            .position(|f| Path::new(f) == name)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        if index == fuzzed {
            Ok(text)
        } else if sparse && ![0, 1, 3].contains(&index) {
            Err(std::io::ErrorKind::NotFound.into())
        } else {
            Ok(BASE_DROP[index].as_bytes())
        }
    };
    if let Ok(batch) = read_drop_with(&paths, shipped_factor_table(), open) {
        for account in &batch.accounts {
            let _ = net_liquidation_value(account, &batch.market);
        }
        let _ = exfee_io::join_errors(&batch.errors);
    }
}

fn drop_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (index, text) in BASE_DROP.iter().enumerate() {
        seeds.push(seed(index, text.as_bytes()));
    }
    for dir in ["examples/nightly", "examples/broken", "examples/hostile"] {
        for (index, file) in DROP_FILES.iter().enumerate() {
            if let Ok(bytes) = std::fs::read(root.join(dir).join(file)) {
                seeds.push(seed(index, &bytes));
            }
        }
    }
    seeds
}

fn seed(selector: usize, bytes: &[u8]) -> Vec<u8> {
    let mut seed = vec![u8::try_from(selector).unwrap_or(0)];
    seed.extend_from_slice(bytes);
    seed
}

// ---------------------------------------------------------------------------
// Tables, correlation, configuration.

/// A factor table (`parse_factor_table`).
pub fn factor_table(data: &[u8]) {
    if let Ok(table) = exfee_io::parse_factor_table("fuzz.csv", data) {
        for factor in table.factors() {
            let _ = table.index_of_name(&factor.name);
        }
    }
}

/// An FX stress table (`parse_fx_table`).
pub fn fx_table(data: &[u8]) {
    let _ = exfee_io::parse_fx_table("fuzz.csv", data);
}

/// A correlation matrix (`parse_correlation`); a small valid one is also
/// checked for positive semi-definiteness.
pub fn correlation(data: &[u8]) {
    if let Ok(matrix) = parse_correlation("fuzz.csv", data)
        && matrix.len() <= 32
    {
        let _ = matrix.min_eigenvalue();
    }
}

/// A scenario-set configuration (TOML): parsed and, with the shipped tables
/// and matrix standing for the files it names, made a `ScenarioSpec`.
pub fn scenario_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ScenarioConfig::parse("fuzz.toml", text).is_err() {
        return;
    }
    let _ = exfee_io::parse_scenario_spec("fuzz.toml", text, |name| {
        let config = ScenarioConfig::parse("fuzz.toml", text).expect("parsed above");
        let body = if name == config.factor_table {
            FACTOR_TABLE
        } else if name == config.fx_table {
            FX_TABLE
        } else {
            CORRELATION
        };
        Ok((name.to_string(), body.as_bytes().to_vec()))
    });
}

/// A fee schedule (TOML); a valid one computes fees on a few amounts and
/// runs the grace state machine.
pub fn fee_schedule(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schedule) = FeeSchedule::from_toml_str(text) else {
        return;
    };
    for uncovered in [
        Decimal::ZERO,
        Decimal::ONE,
        Decimal::from(250_000),
        schedule.threshold_usd,
        Decimal::MAX,
        Decimal::MIN,
    ] {
        for rate in [Decimal::ONE, Decimal::new(8, 1), Decimal::from(150)] {
            let _ = daily_fee(&schedule, uncovered, rate);
        }
    }
    let _ = schedule.measure.scenarios_needed(10_000);
    let _ = schedule.measure.apply(&[1.0, 5.0, 3.0], 10_000);
    let rules: GraceRules = schedule.grace;
    let mut state = None;
    for (day, subject) in [(NaiveDate::MIN, true), (NaiveDate::MAX, true)] {
        let (next, _) = next_state(state.as_ref(), day, subject, rules);
        state = Some(next);
    }
    let _ = state.map(|s| s.effective_date(rules));
}

/// A holiday file; the calendar then answers around each holiday and at
/// the ends of the date range.
pub fn holidays(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(calendar) = TradingCalendar::parse_holidays(text) else {
        return;
    };
    let mut days: Vec<NaiveDate> = calendar.holidays.iter().take(64).copied().collect();
    days.extend([NaiveDate::MIN, NaiveDate::MAX]);
    for day in days {
        let _ = calendar.days_charged(day);
        let _ = calendar.previous_trading_day(day);
        let _ = calendar.next_trading_day(day);
        if let Some(next) = day.succ_opt() {
            let _ = calendar.days_charged(next);
        }
    }
}

// ---------------------------------------------------------------------------
// Flex reports.

/// A Flex Query report (`read_flex_from`), read with a market that has
/// EUR and GBP rates; every account must have a computable (or refused) NLV.
/// A 0xFF byte, when there is one, splits the input into two reports read
/// in one run (lots and summaries are reconciled across files).
pub fn flex(data: &[u8]) {
    let eur: Currency = "EUR".parse().expect("a currency");
    let gbp: Currency = "GBP".parse().expect("a currency");
    let market = MarketData::with_fx([(eur, Decimal::new(108, 2)), (gbp, Decimal::new(125, 2))]);
    let files: Vec<(&str, &[u8])> = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => vec![("a.csv", &data[..at]), ("b.csv", &data[at + 1..])],
        None => vec![("a.csv", data)],
    };
    if let Ok(batch) = read_flex_from(files, market) {
        for account in &batch.accounts {
            let _ = net_liquidation_value(account, &batch.market);
        }
    }
}

/// The repository root, from this crate's folder (`fuzz/harness`).
pub fn repository_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
