//! `exfee scenarios`: write a scenario set as CSV, so an auditor can
//! recompute any account by hand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use exfee::ScenarioSource;
use exfee::engine::{Driver, resolve_symbol, single_stocks};
use exfee::io::{DropPaths, neutralise, read_drop, write_atomically};
use exfee::scenarios::MoveBlock;

#[derive(Debug, clap::Args)]
pub struct ScenariosArgs {
    /// A scenario-set configuration (TOML). Default: the built-in scenarios/default.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A drop: adds one column per symbol it holds (its total move) and the fixed scenarios of
    /// its single stocks. Accounts with bad rows are left out, named on stderr, exit code 1.
    #[arg(long, value_name = "DIR")]
    drop: Option<PathBuf>,
    /// Only the fixed stress scenarios of the set's tables.
    #[arg(long)]
    fixed_only: bool,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
}

/// How one held symbol moves: its driver, and for a single stock its index in
/// the set's stocks.
struct Column {
    symbol: String,
    driver: Driver,
    stock: Option<usize>,
}

pub fn run(args: ScenariosArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.config {
        Some(path) => ScenarioSource::MonteCarlo(Box::new(
            exfee::io::read_scenario_spec(path)
                .with_context(|| format!("scenario set {}", path.display()))?,
        )),
        None => ScenarioSource::default_set(),
    };
    let source = if args.fixed_only {
        source.fixed_only()
    } else {
        source
    };
    let batch = match &args.drop {
        Some(dir) => Some(read_drop(&DropPaths::in_dir(dir), source.factor_table())?),
        None => None,
    };
    let stocks = batch
        .as_ref()
        .map(|b| single_stocks(b, source.factor_table()))
        .unwrap_or_default();
    let set = source.build(stocks)?;

    // The symbols the drop holds (each once, sorted), with what drives them.
    // What the drop's columns leave out, each line said on stderr after the
    // file is written (exit 1): accounts with bad rows, rows naming no
    // account, symbols whose move cannot be resolved.
    let mut left_out: Vec<String> = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    if let Some(batch) = &batch {
        let mut seen = std::collections::BTreeMap::new();
        let mut unresolved = std::collections::BTreeSet::new();
        for account in &batch.accounts {
            if !account.errors.is_empty() {
                for error in &account.errors {
                    left_out.push(format!("left out account {}: {error}", account.id));
                }
                continue;
            }
            for position in &account.positions {
                let i = &position.instrument;
                let symbol = i.risk_symbol();
                if seen.contains_key(symbol) || unresolved.contains(symbol) {
                    continue;
                }
                match resolve_symbol(
                    symbol,
                    i.asset_class(),
                    i.currency,
                    &batch.market,
                    set.factor_table(),
                ) {
                    Ok(driver) => {
                        seen.insert(symbol.to_string(), driver);
                    }
                    Err(error) => {
                        unresolved.insert(symbol.to_string());
                        left_out.push(format!(
                            "left out symbol {symbol} (account {}): {error}",
                            account.id
                        ));
                    }
                }
            }
        }
        left_out.extend(
            batch
                .errors
                .iter()
                .map(|error| format!("left out a row naming no account: {error}")),
        );
        columns = seen
            .into_iter()
            .map(|(symbol, driver)| Column {
                stock: driver.single_stock.and(set.stock_index(&symbol)),
                symbol,
                driver,
            })
            .collect();
    }

    let factors = set.factor_table().factors();
    let currencies = set.fx_table().currencies();
    let bounds = set.factor_table().single_stock_bounds();
    let (lo, hi) = (bounds.lower(), bounds.upper());
    let mut header: Vec<String> = vec!["index".into(), "name".into()];
    header.extend(factors.iter().map(|f| f.name.clone()));
    header.extend(currencies.iter().map(|c| c.currency.to_string()));
    header.push(set.equity_vol_name().to_string());
    header.extend(columns.iter().map(|c| c.symbol.clone()));

    write_atomically(&args.out, |out| {
        let mut csv = csv::Writer::from_writer(out);
        let to_io = |e: csv::Error| std::io::Error::other(e);
        csv.write_record(header.iter().map(|h| neutralise(h).into_owned()))
            .map_err(to_io)?;
        let mut block = MoveBlock::default();
        let mut start = 0;
        while start < set.len() {
            let end = (start + 1024).min(set.len());
            set.fill(start..end, &mut block);
            for offset in 0..end - start {
                let s = start + offset;
                let mut row: Vec<String> = Vec::with_capacity(header.len());
                row.push(s.to_string());
                row.push(neutralise(set.name(s).unwrap_or("")).into_owned());
                row.extend((0..factors.len()).map(|f| block.factor(f)[offset].to_string()));
                row.extend((0..currencies.len()).map(|c| block.currency(c)[offset].to_string()));
                row.push(block.vol()[offset].to_string());
                for column in &columns {
                    let factor = column.driver.beta * block.factor(column.driver.factor)[offset];
                    let total = match column.stock {
                        Some(k) => (factor + block.stock(k)[offset]).clamp(lo, hi),
                        None => factor.max(-1.0),
                    };
                    row.push(total.to_string());
                }
                csv.write_record(&row).map_err(to_io)?;
            }
            start = end;
        }
        csv.flush()?;
        Ok(())
    })?;
    #[allow(
        clippy::let_underscore_must_use,
        reason = "a closed stdout is not an error here"
    )]
    let _ = std::io::stdout().flush();
    say!(
        "exfee scenarios: {} scenarios ({} Monte Carlo draws, {} fixed stress), {} columns, in {}",
        set.len(),
        set.draw_count(),
        set.fixed().len(),
        header.len(),
        args.out.display()
    );
    for line in &left_out {
        eprintln!("exfee: {line}");
    }
    // The file is written without them: "finished, some accounts (or rows)
    // failed".
    Ok(super::finished(!left_out.is_empty()))
}
