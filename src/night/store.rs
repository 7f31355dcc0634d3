//! The evaluation half's output as Parquet (`exfee evaluate`), read back
//! by the charge (`exfee charge`), by Spark or by pandas. The format is
//! described in docs/scaling.md ("The evaluation file").
//!
//! One row per account. The columns a reader of the table wants are typed
//! (`position`, `account`, `base_currency`, `status`, `nlv`, `worst_loss`,
//! `uncovered`, `worst_scenario`, `subject`); `detail` holds, as JSON, the
//! rest the charge needs (tail, warnings, errors, rates, inventory fee,
//! options held). Money is decimal text (exact); every `f64` is kept as its
//! IEEE-754 bits (exact, NaN included). The night's shared facts (scenario
//! counts, single stocks, rows naming no account, and the subject accounts'
//! positions and the market data as drop CSV) are the file's key-value
//! metadata `exfee.night` (JSON).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use exfee_model::{Batch, Currency, Decimal, FactorTable, InputError, SourceLocation};
use exfee_scenarios::SingleStock;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};

use super::{AccountEvaluation, NightEvaluation, NightFacts};
use crate::{AccountResult, AccountRisk, OptionReport, Outcome};

/// How an evaluation file's name ends (`exfee charge` reads every such file
/// of the folders it is given).
pub const EVALUATION_FILE_SUFFIX: &str = ".evaluation.parquet";

/// The key of the night's facts in the file's key-value metadata.
const FACTS_KEY: &str = "exfee.night";

/// The version of the format; a reader refuses any other.
const FORMAT: u64 = 2;

/// Rows per Parquet row group.
const ROWS_PER_GROUP: usize = 65_536;

/// The drop files of the subject accounts and the market, as stored.
const DROP_FILES: [&str; 7] = [
    "accounts.csv",
    "positions.csv",
    "cash.csv",
    "market/fx.csv",
    "market/factors.csv",
    "market/underlyings.csv",
    "market/rates.csv",
];

fn schema() -> Arc<Schema> {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("position", DataType::UInt64, false),
        text("account", false),
        text("base_currency", true),
        text("status", false),
        text("nlv", true),
        text("worst_loss", true),
        text("uncovered", true),
        Field::new("worst_scenario", DataType::UInt64, true),
        Field::new("subject", DataType::Boolean, false),
        text("detail", false),
    ]))
}

/// Writes `night` as one Parquet file at `path` (atomically).
///
/// # Errors
///
/// The file cannot be written.
pub fn write_evaluation(path: &Path, night: &NightEvaluation) -> anyhow::Result<()> {
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FACTS_KEY.to_string(),
            facts_json(night)?.to_string(),
        )]))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(props))?;
    for chunk in night.accounts.chunks(ROWS_PER_GROUP) {
        writer.write(&record_batch(&schema, chunk)?)?;
    }
    writer.close()?;
    exfee_io::write_atomically(path, |out| out.write_all(&bytes))?;
    Ok(())
}

fn record_batch(
    schema: &Arc<Schema>,
    accounts: &[AccountEvaluation],
) -> anyhow::Result<RecordBatch> {
    let risk = |a: &AccountEvaluation| match &a.result.outcome {
        Outcome::Evaluated(risk) => Some(risk.clone()),
        Outcome::Failed(_) => None,
    };
    let risks: Vec<Option<AccountRisk>> = accounts.iter().map(risk).collect();
    let decimal = |f: fn(&AccountRisk) -> Decimal| -> ArrayRef {
        Arc::new(StringArray::from(
            risks
                .iter()
                .map(|r| r.as_ref().map(|r| f(r).to_string()))
                .collect::<Vec<_>>(),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(
            accounts.iter().map(|a| a.position).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            accounts
                .iter()
                .map(|a| a.result.account.clone())
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            accounts
                .iter()
                .map(|a| a.result.base_currency.map(|c| c.to_string()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            risks
                .iter()
                .map(|r| if r.is_some() { "evaluated" } else { "failed" })
                .collect::<Vec<_>>(),
        )),
        decimal(|r| r.nlv),
        decimal(|r| r.worst_loss),
        decimal(|r| r.uncovered),
        Arc::new(UInt64Array::from(
            risks
                .iter()
                .map(|r| r.as_ref().map(|r| r.worst_scenario as u64))
                .collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            accounts.iter().map(|a| a.subject).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            accounts
                .iter()
                .map(|a| detail_json(a).to_string())
                .collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn bits(value: f64) -> Value {
    json!(value.to_bits())
}

fn error_json(error: &InputError) -> Value {
    let location = error.location.as_ref().map(|l| {
        json!({
            "file": l.file,
            "line": l.line,
            "column": l.column.as_ref().map(|(i, name)| json!([i, name])),
        })
    });
    json!({ "location": location, "reason": error.reason })
}

fn option_json(o: &OptionReport) -> Value {
    json!({
        "symbol": o.symbol,
        "underlying": o.underlying,
        "currency": o.currency.to_string(),
        "mark": o.mark.to_string(),
        "model_price": bits(o.model_price),
        "implied_vol": bits(o.implied_vol),
        "vol_defaulted": o.vol_defaulted,
        "time_to_expiry": bits(o.time_to_expiry),
        "scenario_time_to_expiry": bits(o.scenario_time_to_expiry),
    })
}

fn detail_json(a: &AccountEvaluation) -> Value {
    let decimal = |d: Option<Decimal>| d.map(|d| d.to_string());
    let outcome = match &a.result.outcome {
        Outcome::Evaluated(risk) => json!({
            "worst_scenario_name": risk.worst_scenario_name,
            "tail": risk.tail.iter().map(|(i, pnl)| json!([i, pnl.to_bits()])).collect::<Vec<_>>(),
            "warnings": risk.warnings,
        }),
        Outcome::Failed(errors) => json!({
            "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
        }),
    };
    json!({
        "outcome": outcome,
        "inventory_fee": decimal(a.inventory_fee),
        "usd_to_base": decimal(a.usd_to_base),
        "base_to_usd": decimal(a.base_to_usd),
        "options": a.options.iter().map(option_json).collect::<Vec<_>>(),
    })
}

fn facts_json(night: &NightEvaluation) -> anyhow::Result<Value> {
    let facts = &night.facts;
    // The subject accounts and the market as a drop (the format `exfee run`
    // reads: exact decimals, every valid row).
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    exfee_io::write_drop(dir.path(), &night.subjects)?;
    let mut drop = serde_json::Map::new();
    for name in DROP_FILES {
        let path = dir.path().join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read back {}", path.display()))?;
        drop.insert(name.to_string(), Value::String(text));
    }
    Ok(json!({
        "format": FORMAT,
        "date": facts.date.to_string(),
        "horizon_days": facts.horizon_days,
        "memory_budget_bytes": facts.memory_budget_bytes,
        "scenario_count": facts.scenario_count,
        "fixed_count": facts.fixed_count,
        "seed": facts.draws.map(|(seed, _)| seed),
        "draw_version": facts.draws.map(|(_, version)| version),
        "stocks": facts.stocks.iter().map(|s| json!([s.symbol, s.idio_vol.to_bits()])).collect::<Vec<_>>(),
        "batch_errors": facts.batch_errors.iter().map(error_json).collect::<Vec<_>>(),
        "subjects": drop,
    }))
}

/// A JSON field of the expected type, or why not.
fn field<'a, T>(
    value: &'a Value,
    key: &str,
    get: impl Fn(&'a Value) -> Option<T>,
) -> anyhow::Result<T> {
    value
        .get(key)
        .and_then(get)
        .with_context(|| format!("field {key:?} missing or of the wrong type"))
}

fn opt_decimal(value: &Value, key: &str) -> anyhow::Result<Option<Decimal>> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            Ok(Some(text.parse().with_context(|| {
                format!("field {key:?}: {text:?} is not a decimal")
            })?))
        }
        Some(_) => anyhow::bail!("field {key:?} is not decimal text"),
    }
}

fn float(value: &Value, key: &str) -> anyhow::Result<f64> {
    field(value, key, Value::as_u64).map(f64::from_bits)
}

fn string(value: &Value, key: &str) -> anyhow::Result<String> {
    field(value, key, |v| v.as_str().map(str::to_string))
}

fn array<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a Vec<Value>> {
    field(value, key, Value::as_array)
}

fn error_from(value: &Value) -> anyhow::Result<InputError> {
    let location = match value.get("location") {
        None | Some(Value::Null) => None,
        Some(l) => Some(SourceLocation {
            file: string(l, "file")?,
            line: field(l, "line", Value::as_u64)?,
            column: match l.get("column") {
                None | Some(Value::Null) => None,
                Some(c) => {
                    let index = c.get(0).and_then(Value::as_u64).context("column index")?;
                    let name = c.get(1).and_then(Value::as_str).context("column name")?;
                    Some((usize::try_from(index)?, name.to_string()))
                }
            },
        }),
    };
    Ok(InputError {
        location,
        reason: string(value, "reason")?,
    })
}

fn option_from(value: &Value) -> anyhow::Result<OptionReport> {
    Ok(OptionReport {
        symbol: string(value, "symbol")?,
        underlying: string(value, "underlying")?,
        currency: string(value, "currency")?.parse::<Currency>()?,
        mark: opt_decimal(value, "mark")?.context("option mark")?,
        model_price: float(value, "model_price")?,
        implied_vol: float(value, "implied_vol")?,
        vol_defaulted: field(value, "vol_defaulted", Value::as_bool)?,
        time_to_expiry: float(value, "time_to_expiry")?,
        scenario_time_to_expiry: float(value, "scenario_time_to_expiry")?,
    })
}

/// The typed columns of one batch, by name and type.
struct Columns<'a> {
    position: &'a UInt64Array,
    account: &'a StringArray,
    base: &'a StringArray,
    nlv: &'a StringArray,
    worst_loss: &'a StringArray,
    uncovered: &'a StringArray,
    worst_scenario: &'a UInt64Array,
    subject: &'a BooleanArray,
    detail: &'a StringArray,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .with_context(|| format!("column {name:?} missing or of the wrong type"))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> anyhow::Result<Self> {
        Ok(Columns {
            position: column(batch, "position")?,
            account: column(batch, "account")?,
            base: column(batch, "base_currency")?,
            nlv: column(batch, "nlv")?,
            worst_loss: column(batch, "worst_loss")?,
            uncovered: column(batch, "uncovered")?,
            worst_scenario: column(batch, "worst_scenario")?,
            subject: column(batch, "subject")?,
            detail: column(batch, "detail")?,
        })
    }

    fn text(array: &StringArray, row: usize) -> Option<&str> {
        (!array.is_null(row)).then(|| array.value(row))
    }

    fn decimal(array: &StringArray, row: usize, name: &str) -> anyhow::Result<Decimal> {
        let text = Self::text(array, row).with_context(|| format!("{name} missing"))?;
        text.parse()
            .with_context(|| format!("{name}: {text:?} is not a decimal"))
    }

    fn record(&self, row: usize) -> anyhow::Result<AccountEvaluation> {
        let account = self.account.value(row).to_string();
        let detail: Value = serde_json::from_str(self.detail.value(row))?;
        let outcome = field(&detail, "outcome", Some)?;
        let outcome = if let Some(errors) = outcome.get("errors") {
            let errors = errors.as_array().context("errors")?;
            Outcome::Failed(
                errors
                    .iter()
                    .map(error_from)
                    .collect::<anyhow::Result<_>>()?,
            )
        } else {
            let tail = array(outcome, "tail")?
                .iter()
                .map(|pair| {
                    let index = pair.get(0).and_then(Value::as_u64).context("tail index")?;
                    let pnl = pair.get(1).and_then(Value::as_u64).context("tail P&L")?;
                    Ok((usize::try_from(index)?, f64::from_bits(pnl)))
                })
                .collect::<anyhow::Result<_>>()?;
            let warnings = array(outcome, "warnings")?
                .iter()
                .map(|w| w.as_str().map(str::to_string).context("warning"))
                .collect::<anyhow::Result<_>>()?;
            anyhow::ensure!(!self.worst_scenario.is_null(row), "worst_scenario missing");
            Outcome::Evaluated(AccountRisk {
                nlv: Self::decimal(self.nlv, row, "nlv")?,
                worst_loss: Self::decimal(self.worst_loss, row, "worst_loss")?,
                worst_scenario: usize::try_from(self.worst_scenario.value(row))?,
                worst_scenario_name: outcome
                    .get("worst_scenario_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                uncovered: Self::decimal(self.uncovered, row, "uncovered")?,
                tail,
                warnings,
            })
        };
        Ok(AccountEvaluation {
            position: self.position.value(row),
            result: AccountResult {
                base_currency: Self::text(self.base, row)
                    .map(str::parse::<Currency>)
                    .transpose()?,
                account,
                outcome,
            },
            inventory_fee: opt_decimal(&detail, "inventory_fee")?,
            usd_to_base: opt_decimal(&detail, "usd_to_base")?,
            base_to_usd: opt_decimal(&detail, "base_to_usd")?,
            subject: self.subject.value(row),
            options: array(&detail, "options")?
                .iter()
                .map(option_from)
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// One evaluation file: its records, its facts and its subject drop files.
struct Shard {
    accounts: Vec<AccountEvaluation>,
    facts: NightFacts,
    drop: HashMap<String, String>,
}

fn read_shard(path: &Path) -> anyhow::Result<Shard> {
    let file = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let text = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == FACTS_KEY))
        .and_then(|k| k.value.clone())
        .context("no exfee.night metadata: not an evaluation file of exfee")?;
    let facts: Value = serde_json::from_str(&text)?;
    let format = field(&facts, "format", Value::as_u64)?;
    anyhow::ensure!(
        format == FORMAT,
        "evaluation format {format}, this exfee reads format {FORMAT}"
    );
    let mut accounts = Vec::new();
    for batch in builder.build()? {
        let batch = batch?;
        let columns = Columns::of(&batch)?;
        for row in 0..batch.num_rows() {
            accounts.push(
                columns
                    .record(row)
                    .with_context(|| format!("row {}", accounts.len() + 1))?,
            );
        }
    }
    let stocks = array(&facts, "stocks")?
        .iter()
        .map(|s| {
            Ok(SingleStock {
                symbol: s
                    .get(0)
                    .and_then(Value::as_str)
                    .context("stock symbol")?
                    .to_string(),
                idio_vol: f64::from_bits(s.get(1).and_then(Value::as_u64).context("stock vol")?),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let drop = field(&facts, "subjects", Value::as_object)?
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().context("drop file")?.to_string())))
        .collect::<anyhow::Result<_>>()?;
    let date = string(&facts, "date")?;
    Ok(Shard {
        accounts,
        facts: NightFacts {
            date: date
                .parse::<NaiveDate>()
                .with_context(|| format!("date {date:?}"))?,
            horizon_days: u32::try_from(field(&facts, "horizon_days", Value::as_u64)?)?,
            memory_budget_bytes: usize::try_from(field(
                &facts,
                "memory_budget_bytes",
                Value::as_u64,
            )?)?,
            scenario_count: usize::try_from(field(&facts, "scenario_count", Value::as_u64)?)?,
            fixed_count: usize::try_from(field(&facts, "fixed_count", Value::as_u64)?)?,
            draws: match (facts.get("seed"), facts.get("draw_version")) {
                (Some(Value::Null), Some(Value::Null)) => None,
                _ => Some((
                    field(&facts, "seed", Value::as_u64)?,
                    u32::try_from(field(&facts, "draw_version", Value::as_u64)?)?,
                )),
            },
            stocks,
            batch_errors: array(&facts, "batch_errors")?
                .iter()
                .map(error_from)
                .collect::<anyhow::Result<_>>()?,
        },
        drop,
    })
}

/// Every evaluation file under `paths` (a file, or a folder whose
/// `*.evaluation.parquet` files are all read), sorted by name.
///
/// # Errors
///
/// A folder cannot be listed, or holds no evaluation file.
pub fn evaluation_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(EVALUATION_FILE_SUFFIX) && !n.starts_with('.'))
                })
                .collect();
            anyhow::ensure!(
                !found.is_empty(),
                "{} holds no *{EVALUATION_FILE_SUFFIX} file",
                path.display()
            );
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads the evaluation files `paths` (files or folders, see
/// [`evaluation_files`]) into one night: every account once, in input
/// order; the subject accounts' positions and the market read back with
/// `factor_table` (the scenario set's).
///
/// # Errors
///
/// A file cannot be read or is not an evaluation of exfee; the files are of
/// different nights (dates, scenario sets, single stocks); an account (or a
/// position in the input) appears twice.
pub fn read_evaluations(
    paths: &[PathBuf],
    factor_table: &FactorTable,
) -> anyhow::Result<NightEvaluation> {
    let files = evaluation_files(paths)?;
    let mut shards = Vec::with_capacity(files.len());
    for file in &files {
        shards.push(read_shard(file).with_context(|| format!("evaluation {}", file.display()))?);
    }
    let Some(first) = shards.first() else {
        anyhow::bail!("no evaluation file given");
    };
    let facts = first.facts.clone();
    let market_of = |drop: &HashMap<String, String>| -> Vec<Option<String>> {
        DROP_FILES[3..]
            .iter()
            .map(|n| drop.get(*n).cloned())
            .collect()
    };
    let market_files = market_of(&first.drop);
    for (shard, file) in shards.iter().zip(&files) {
        anyhow::ensure!(
            shard.facts == facts && market_of(&shard.drop) == market_files,
            "{} is not of the same night as {} (date, scenario set, single stocks, market or \
             input errors differ)",
            file.display(),
            files
                .first()
                .map(|f| f.display().to_string())
                .unwrap_or_default()
        );
    }
    // The subject accounts' drop files, rows appended (each header once).
    let mut drop: HashMap<String, String> = HashMap::new();
    for name in &DROP_FILES[..3] {
        let mut text = String::new();
        for shard in &shards {
            let file = shard
                .drop
                .get(*name)
                .with_context(|| format!("{name} missing"))?;
            let body = if text.is_empty() {
                file.as_str()
            } else {
                file.split_once('\n').map_or("", |(_, rest)| rest)
            };
            text.push_str(body);
        }
        drop.insert((*name).to_string(), text);
    }
    for (name, text) in DROP_FILES[3..].iter().zip(market_files) {
        drop.insert(
            (*name).to_string(),
            text.with_context(|| format!("{name} missing"))?,
        );
    }
    let mut accounts: Vec<AccountEvaluation> =
        shards.into_iter().flat_map(|s| s.accounts).collect();
    accounts.sort_by_key(|a| a.position);
    let mut ids = HashSet::new();
    for pair in accounts.windows(2) {
        if let [a, b] = pair {
            anyhow::ensure!(
                a.position != b.position,
                "the account at input position {} is in two evaluation files (shards overlap)",
                a.position
            );
        }
    }
    for a in &accounts {
        anyhow::ensure!(
            ids.insert(a.result.account.as_str()),
            "account {} is in two evaluation files (shards overlap)",
            a.result.account
        );
    }
    let root = Path::new("evaluation");
    let paths = exfee_io::DropPaths::in_dir(root);
    let mut subjects = exfee_io::read_drop_with(&paths, factor_table, |path| {
        let name = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace('\\', "/"));
        name.and_then(|n| drop.get(&n))
            .map(|text| std::io::Cursor::new(text.clone().into_bytes()))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    })?;
    let order: HashMap<&str, u64> = accounts
        .iter()
        .map(|a| (a.result.account.as_str(), a.position))
        .collect();
    subjects
        .accounts
        .sort_by_key(|a| order.get(a.id.as_str()).copied().unwrap_or(u64::MAX));
    subjects.errors.clear();
    Ok(NightEvaluation {
        accounts,
        facts,
        subjects: Batch {
            accounts: subjects.accounts,
            market: subjects.market,
            errors: Vec::new(),
        },
        engine: None,
        preparation: None,
    })
}
