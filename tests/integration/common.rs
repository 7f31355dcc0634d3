//! Builders for small drops written to temporary folders.

use std::path::Path;

use exfee::io::{DropPaths, read_drop};
use exfee::{
    AccountRisk, Batch, Decimal, EngineConfig, Evaluation, Outcome, ScenarioTables, evaluate_batch,
};

/// A drop in a temporary folder. Files not set are written with defaults:
/// an empty cash file, and FX rates for USD, EUR 1.10, GBP 1.25, JPY 0.0064.
pub struct TestDrop {
    dir: tempfile::TempDir,
}

pub const POSITIONS_HEADER: &str = "account,symbol,asset_class,currency,quantity,multiplier,mark,underlying,strike,expiry,right,exercise";

impl TestDrop {
    pub fn new(accounts: &str, positions: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("market")).unwrap();
        let drop = TestDrop { dir };
        drop.write(
            "accounts.csv",
            &format!("account,base_currency\n{accounts}"),
        );
        drop.write("positions.csv", &format!("{POSITIONS_HEADER}\n{positions}"));
        drop.write("cash.csv", "account,currency,amount\n");
        drop.write(
            "market/fx.csv",
            "currency,usd_per_unit\nUSD,1\nEUR,1.10\nGBP,1.25\nJPY,0.0064\n",
        );
        drop
    }

    pub fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    pub fn cash(&self, rows: &str) -> &Self {
        self.write("cash.csv", &format!("account,currency,amount\n{rows}"))
    }

    pub fn factors(&self, rows: &str) -> &Self {
        self.write(
            "market/factors.csv",
            &format!("symbol,factor,beta,idio_vol\n{rows}"),
        )
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self) -> Batch {
        read_drop(
            &DropPaths::in_dir(self.path()),
            &ScenarioTables::current().factors,
        )
        .unwrap()
    }

    /// Reads and evaluates under the current fixed stress set.
    pub fn evaluate(&self) -> Evaluation {
        evaluate_batch(
            &self.read(),
            &ScenarioTables::current().into(),
            &EngineConfig::default(),
        )
        .unwrap()
    }
}

/// The risk of account `id`, which must have been evaluated.
pub fn risk<'a>(evaluation: &'a Evaluation, id: &str) -> &'a AccountRisk {
    let result = evaluation
        .results
        .iter()
        .find(|r| r.account == id)
        .unwrap_or_else(|| panic!("no result for {id}"));
    match &result.outcome {
        Outcome::Evaluated(risk) => risk,
        Outcome::Failed(errors) => panic!("{id} failed: {errors:?}"),
    }
}

/// The error texts of account `id`, which must have failed.
pub fn errors(evaluation: &Evaluation, id: &str) -> Vec<String> {
    let result = evaluation
        .results
        .iter()
        .find(|r| r.account == id)
        .unwrap_or_else(|| panic!("no result for {id}"));
    match &result.outcome {
        Outcome::Failed(errors) => errors.iter().map(ToString::to_string).collect(),
        Outcome::Evaluated(_) => panic!("{id} was evaluated"),
    }
}

pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// The rows of a CSV file the engine wrote (header included), as text.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}
