//! `run.json`: what a night was computed from, so that it can be audited and
//! run again — written into the run folder beside `results.csv` and
//! published with it in the same step.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use exfee::ScenarioSource;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ScenarioArgs;

/// Where the valuation date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSource {
    /// `--date`.
    Flag,
    /// The input's own date (Flex `ReportDate`): no `--date`.
    Input,
    /// Today (UTC): no `--date` and no date in the input.
    Today,
}

impl DateSource {
    pub fn describe(self) -> &'static str {
        match self {
            DateSource::Flag => "--date",
            DateSource::Input => "the input's ReportDate, no --date",
            DateSource::Today => "today (UTC), no --date and no date in the input",
        }
    }
}

/// What `run.json` records.
pub struct RunFacts<'a> {
    pub date: NaiveDate,
    pub date_source: DateSource,
    pub scenarios: &'a ScenarioArgs,
    pub source: &'a ScenarioSource,
    pub scenario_count: usize,
    pub fixed_count: usize,
    pub horizon_days: u32,
    pub shard: Option<String>,
    pub fee: Option<&'a Path>,
    pub holidays: Option<&'a Path>,
    /// Every input file or folder, with its role (`accounts`, `flex`, …).
    pub inputs: Vec<(&'static str, PathBuf)>,
}

/// The SHA-256 of a file's bytes, in lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One input: its role, path and checksum (a folder: each file in it, in
/// name order; a file that is absent: `"present": false`).
fn input_entries(role: &str, path: &Path, out: &mut Vec<Value>) {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for file in files {
            input_entries(role, &file, out);
        }
        return;
    }
    let entry = match sha256_file(path) {
        Ok(sum) => json!({"role": role, "path": path.display().to_string(), "sha256": sum}),
        Err(_) => json!({"role": role, "path": path.display().to_string(), "present": false}),
    };
    out.push(entry);
}

/// The scenario-set files: the configuration and the tables it names
/// (relative to its folder); none for a built-in set.
fn scenario_files(args: &ScenarioArgs, source: &ScenarioSource) -> Vec<(&'static str, PathBuf)> {
    let (Some(path), ScenarioSource::MonteCarlo(spec)) = (&args.scenario_set, source) else {
        if let Some(path) = &args.scenario_set {
            return vec![("scenario_set", path.clone())];
        }
        return Vec::new();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let config = spec.config();
    vec![
        ("scenario_set", path.clone()),
        ("scenario_factor_table", dir.join(&config.factor_table)),
        ("scenario_fx_table", dir.join(&config.fx_table)),
        ("scenario_correlation", dir.join(&config.correlation)),
    ]
}

/// The JSON text of `run.json`.
pub fn run_json(facts: &RunFacts<'_>) -> String {
    let set_name = match (&facts.scenarios.scenario_set, facts.scenarios.legacy) {
        (Some(path), _) => path.display().to_string(),
        (None, true) => "built-in scenarios/legacy.toml".to_string(),
        (None, false) => "built-in scenarios/default.toml".to_string(),
    };
    // The seed and the draw version together name the draws: the same seed
    // under another version is another set.
    let (seed, draw_version, draws) = match facts.source {
        ScenarioSource::MonteCarlo(spec) => (
            Some(spec.config().seed),
            Some(spec.config().draw_version.number()),
            Some(facts.scenario_count - facts.fixed_count),
        ),
        ScenarioSource::Fixed(_) => (None, None, Some(0)),
    };
    let mut inputs = Vec::new();
    for (role, path) in &facts.inputs {
        input_entries(role, path, &mut inputs);
    }
    for (role, path) in scenario_files(facts.scenarios, facts.source) {
        input_entries(role, &path, &mut inputs);
    }
    if let Some(path) = facts.fee {
        input_entries("fee_schedule", path, &mut inputs);
    }
    if let Some(path) = facts.holidays {
        input_entries("holidays", path, &mut inputs);
    }
    let value = json!({
        "valuation_date": facts.date.to_string(),
        "date_source": facts.date_source.describe(),
        "exfee_version": env!("CARGO_PKG_VERSION"),
        "scenario_set": {
            "source": set_name,
            "fixed_only": facts.scenarios.fixed_only,
            "seed": seed,
            "draw_version": draw_version,
            "draws": draws,
            "scenarios": facts.scenario_count,
            "fixed_stress_scenarios": facts.fixed_count,
        },
        "horizon_days": facts.horizon_days,
        "fee_schedule": facts.fee.map_or_else(
            || "built-in crates/fee/default-fee.toml".to_string(),
            |p| p.display().to_string()
        ),
        "holidays": facts.holidays.map(|p| p.display().to_string()),
        "shard": facts.shard,
        "inputs": inputs,
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// Writes `run.json` into the run folder `dir`.
pub fn write_run_json(dir: &Path, facts: &RunFacts<'_>) -> anyhow::Result<()> {
    let text = run_json(facts);
    let path = dir.join("run.json");
    exfee::io::write_atomically(&path, |out| out.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
