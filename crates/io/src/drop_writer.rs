//! Writing a batch as a native drop folder (the inverse of `read_drop`).

use std::path::Path;

use exfee_model::Exercise;
use exfee_model::{Batch, InstrumentKind, MarketData, OptionRight};

use crate::IoError;
use crate::output::write_atomically;

fn csv_error(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Writes `batch` as a drop in `dir` (created if needed): `accounts.csv`,
/// `positions.csv`, `cash.csv` and `market/{fx,factors,underlyings,rates}.csv`,
/// each atomically. Only valid entries are written (errors are not data).
///
/// # Errors
///
/// [`IoError::Write`] when a folder or file cannot be written.
pub fn write_drop(dir: &Path, batch: &Batch) -> Result<(), IoError> {
    let market_dir = dir.join("market");
    std::fs::create_dir_all(&market_dir).map_err(|source| IoError::Write {
        path: market_dir.clone(),
        source,
    })?;
    write_holdings(dir, batch)?;
    write_market(&market_dir, &batch.market)
}

/// `accounts.csv`, `positions.csv` and `cash.csv`.
fn write_holdings(dir: &Path, batch: &Batch) -> Result<(), IoError> {
    write_csv(
        &dir.join("accounts.csv"),
        &["account", "base_currency"],
        |csv| {
            for account in &batch.accounts {
                let base = account
                    .base_currency
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                csv.write_record([account.id.as_str(), &base])?;
            }
            Ok(())
        },
    )?;
    write_csv(
        &dir.join("positions.csv"),
        &[
            "account",
            "symbol",
            "asset_class",
            "currency",
            "quantity",
            "multiplier",
            "mark",
            "underlying",
            "strike",
            "expiry",
            "right",
            "exercise",
        ],
        |csv| {
            for account in &batch.accounts {
                for position in &account.positions {
                    let i = &position.instrument;
                    let (underlying, strike, expiry, right, exercise) = terms(&i.kind);
                    csv.write_record([
                        account.id.as_str(),
                        &i.symbol,
                        i.asset_class().code(),
                        i.currency.as_str(),
                        &position.quantity.to_string(),
                        &i.multiplier.to_string(),
                        &i.mark.to_string(),
                        &underlying,
                        &strike,
                        &expiry,
                        right,
                        exercise,
                    ])?;
                }
            }
            Ok(())
        },
    )?;
    write_csv(
        &dir.join("cash.csv"),
        &["account", "currency", "amount"],
        |csv| {
            for account in &batch.accounts {
                for cash in &account.cash {
                    csv.write_record([
                        account.id.as_str(),
                        cash.currency.as_str(),
                        &cash.amount.to_string(),
                    ])?;
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// The `underlying`, `strike`, `expiry`, `right` and `exercise` cells of a
/// position of `kind` (empty where the kind has no such term).
fn terms(kind: &InstrumentKind) -> (String, String, String, &'static str, &'static str) {
    match kind {
        InstrumentKind::Future { underlying, expiry } => (
            underlying.clone(),
            String::new(),
            expiry.map(|d| d.to_string()).unwrap_or_default(),
            "",
            "",
        ),
        InstrumentKind::Option {
            underlying, terms, ..
        } => (
            underlying.clone(),
            terms.strike.to_string(),
            terms.expiry.to_string(),
            match terms.right {
                OptionRight::Call => "C",
                OptionRight::Put => "P",
            },
            match terms.exercise {
                Exercise::American => "american",
                Exercise::European => "european",
            },
        ),
        _ => Default::default(),
    }
}

/// `market/fx.csv`, `factors.csv`, `underlyings.csv` and `rates.csv` in
/// `market_dir`: the valid entries only.
fn write_market(market_dir: &Path, market: &MarketData) -> Result<(), IoError> {
    write_csv(
        &market_dir.join("fx.csv"),
        &["currency", "usd_per_unit"],
        |csv| {
            for (currency, rate) in &market.fx {
                if let Ok(rate) = rate {
                    csv.write_record([currency.as_str(), &rate.to_string()])?;
                }
            }
            Ok(())
        },
    )?;
    write_csv(
        &market_dir.join("factors.csv"),
        &["symbol", "factor", "beta", "idio_vol"],
        |csv| {
            for (symbol, mapping) in &market.factors {
                if let Ok(m) = mapping {
                    let idio = m.idio_vol.map(|v| v.to_string()).unwrap_or_default();
                    csv.write_record([symbol.as_str(), &m.factor, &m.beta.to_string(), &idio])?;
                }
            }
            Ok(())
        },
    )?;
    write_csv(
        &market_dir.join("underlyings.csv"),
        &[
            "symbol",
            "currency",
            "price",
            "implied_vol",
            "dividend_yield",
        ],
        |csv| {
            for (symbol, underlying) in &market.underlyings {
                if let Ok(u) = underlying {
                    let vol = u.implied_vol.map(|v| v.to_string()).unwrap_or_default();
                    csv.write_record([
                        symbol.as_str(),
                        u.currency.as_str(),
                        &u.price.to_string(),
                        &vol,
                        &u.dividend_yield.to_string(),
                    ])?;
                }
            }
            Ok(())
        },
    )?;
    write_csv(
        &market_dir.join("rates.csv"),
        &["currency", "rate"],
        |csv| {
            for (currency, rate) in &market.rates {
                if let Ok(rate) = rate {
                    csv.write_record([currency.as_str(), &rate.to_string()])?;
                }
            }
            Ok(())
        },
    )
}

fn write_csv(
    path: &Path,
    header: &[&str],
    rows: impl FnOnce(&mut csv::Writer<&mut dyn std::io::Write>) -> Result<(), csv::Error>,
) -> Result<(), IoError> {
    write_atomically(path, |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(header).map_err(csv_error)?;
        rows(&mut csv).map_err(csv_error)?;
        csv.flush()
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use exfee_model::{
        AccountInput, CashBalance, Currency, Decimal, InputError, Instrument, OptionTerms, Position,
    };

    use super::*;

    fn position(symbol: &str, kind: InstrumentKind, quantity: i64, mark: &str) -> Position {
        Position {
            instrument: Instrument {
                symbol: symbol.into(),
                kind,
                currency: Currency::USD,
                multiplier: Decimal::ONE_HUNDRED,
                mark: Decimal::from_str_exact(mark).unwrap(),
            },
            quantity: Decimal::from(quantity),
        }
    }

    /// Each file holds exactly the valid entries, in the drop's columns; a
    /// rate that is an error is not written.
    #[test]
    fn a_batch_is_written_as_the_files_of_a_drop() {
        let expiry = NaiveDate::from_ymd_opt(2027, 3, 19).unwrap();
        let mut batch = Batch::default();
        batch.accounts.push(AccountInput {
            id: "U1".into(),
            base_currency: Some(Currency::USD),
            positions: vec![
                position(
                    "ESH7",
                    InstrumentKind::Future {
                        underlying: "SPX".into(),
                        expiry: Some(expiry),
                    },
                    -2,
                    "5000.25",
                ),
                position(
                    "SPX 270319P",
                    InstrumentKind::Option {
                        underlying: "SPX".into(),
                        on_future: false,
                        terms: OptionTerms {
                            strike: Decimal::from(4800),
                            expiry,
                            right: OptionRight::Put,
                            exercise: Exercise::European,
                        },
                    },
                    3,
                    "61.5",
                ),
            ],
            cash: vec![CashBalance {
                currency: Currency::USD,
                amount: Decimal::from(-1500),
            }],
            ..AccountInput::default()
        });
        batch.market.fx.insert(Currency::USD, Ok(Decimal::ONE));
        let eur: Currency = "EUR".parse().unwrap();
        batch.market.fx.insert(eur, Err(InputError::new("bad")));
        let dir = tempfile::tempdir().unwrap();
        write_drop(dir.path(), &batch).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("accounts.csv"), "account,base_currency\nU1,USD\n");
        assert_eq!(
            read("positions.csv"),
            "account,symbol,asset_class,currency,quantity,multiplier,mark,underlying,strike,\
             expiry,right,exercise\n\
             U1,ESH7,FUT,USD,-2,100,5000.25,SPX,,2027-03-19,,\n\
             U1,SPX 270319P,OPT,USD,3,100,61.5,SPX,4800,2027-03-19,P,european\n"
        );
        assert_eq!(read("cash.csv"), "account,currency,amount\nU1,USD,-1500\n");
        assert_eq!(read("market/fx.csv"), "currency,usd_per_unit\nUSD,1\n");
        assert_eq!(read("market/rates.csv"), "currency,rate\n");
    }
}
