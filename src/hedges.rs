//! The listed instruments a hedge suggestion may trade
//! (`scenarios/hedge-instruments.csv`, built in).

use exfee_model::{Currency, Decimal, Instrument, InstrumentKind, MarketData};

/// The built-in hedge-instrument table.
pub const DEFAULT_HEDGES_CSV: &str = include_str!("../scenarios/hedge-instruments.csv");

/// One listed hedge instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeInstrument {
    /// The primary factor it hedges (a factor-table name).
    pub factor: String,
    /// Its symbol (`ES`, `SPY`).
    pub symbol: String,
    /// `true` for a future, `false` for ETF shares.
    pub future: bool,
    /// Units of the underlying per contract (1 for ETF shares).
    pub multiplier: Decimal,
    /// Its currency.
    pub currency: Currency,
    /// A future's underlying (whose price prices it).
    pub underlying: String,
    /// What it is, in words.
    pub name: String,
}

impl HedgeInstrument {
    /// The instrument at today's price (the underlying's for a future, its
    /// own for ETF shares, from `market/underlyings.csv`), or `None` without
    /// a usable price in its currency.
    pub fn priced(&self, market: &MarketData) -> Option<Instrument> {
        let price_symbol = if self.future {
            &self.underlying
        } else {
            &self.symbol
        };
        let row = market.underlyings.get(price_symbol)?.as_ref().ok()?;
        if row.currency != self.currency || row.price <= Decimal::ZERO {
            return None;
        }
        Some(Instrument {
            symbol: self.symbol.clone(),
            kind: if self.future {
                InstrumentKind::Future {
                    underlying: self.underlying.clone(),
                    expiry: None,
                }
            } else {
                InstrumentKind::Stock
            },
            currency: self.currency,
            multiplier: self.multiplier,
            mark: row.price,
        })
    }
}

/// Reads the hedge-instrument table (header
/// `factor,symbol,asset_class,multiplier,currency,underlying,name`, `#`
/// comments; `name` may hold commas).
///
/// # Errors
///
/// The 1-based line and what is wrong.
pub fn parse_hedges(text: &str) -> Result<Vec<HedgeInstrument>, String> {
    let mut out = Vec::new();
    let mut header = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("hedge instruments line {}: {what}", index + 1);
        if !header {
            if line != "factor,symbol,asset_class,multiplier,currency,underlying,name" {
                return Err(bad("not the expected header"));
            }
            header = true;
            continue;
        }
        let cells: Vec<&str> = line.splitn(7, ',').map(str::trim).collect();
        let [
            factor,
            symbol,
            class,
            multiplier,
            currency,
            underlying,
            name,
        ] = cells[..]
        else {
            return Err(bad("expected 7 cells"));
        };
        let future = match class {
            "FUT" => true,
            "STK" => false,
            _ => return Err(bad("asset_class must be FUT or STK")),
        };
        if future && underlying.is_empty() {
            return Err(bad("a future needs its underlying"));
        }
        out.push(HedgeInstrument {
            factor: factor.to_string(),
            symbol: symbol.to_string(),
            future,
            multiplier: multiplier
                .parse()
                .ok()
                .filter(|m: &Decimal| *m > Decimal::ZERO)
                .ok_or_else(|| bad("bad multiplier"))?,
            currency: currency.parse().map_err(|_| bad("bad currency"))?,
            underlying: underlying.to_string(),
            name: name.to_string(),
        });
    }
    Ok(out)
}

/// The built-in table (empty if it did not parse, which a test rules out).
pub fn default_hedges() -> Vec<HedgeInstrument> {
    parse_hedges(DEFAULT_HEDGES_CSV).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_parses_and_names_real_contracts() {
        let table = parse_hedges(DEFAULT_HEDGES_CSV).unwrap();
        let es = table.iter().find(|h| h.symbol == "ES").unwrap();
        assert!(es.future);
        assert_eq!(es.multiplier, Decimal::from(50));
        assert_eq!(es.underlying, "SPX");
        let cl = table.iter().find(|h| h.symbol == "CL").unwrap();
        assert_eq!(cl.multiplier, Decimal::from(1000));
        // gold is hedged with the ETF, never with "GLD futures"
        let gold: Vec<_> = table
            .iter()
            .filter(|h| h.factor == "Prec. Metals")
            .collect();
        assert!(gold.iter().all(|h| !(h.future && h.symbol == "GLD")));
        assert!(parse_hedges("factor,symbol,asset_class,multiplier,currency,underlying,name\nEquity,ES,FUT,0,USD,SPX,x\n").is_err());
        assert!(parse_hedges("factor,symbol,asset_class,multiplier,currency,underlying,name\nEquity,ES,FUT,50,USD,,x\n").is_err());
    }
}
