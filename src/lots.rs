//! Trading units of the suggested adjustments: the lot table
//! (`scenarios/lots.csv`, built in).

use exfee_engine::LegInfo;
use exfee_model::Currency;

/// The built-in lot table.
pub const DEFAULT_LOTS_CSV: &str = include_str!("../scenarios/lots.csv");

/// Lot sizes by asset class and currency (first matching row wins).
#[derive(Debug, Clone, PartialEq)]
pub struct LotTable {
    rows: Vec<(String, Option<Currency>, f64)>,
}

impl Default for LotTable {
    /// The built-in table (`scenarios/lots.csv`).
    fn default() -> Self {
        // The built-in table is checked by a test; a broken one would give
        // lots of 1 everywhere rather than a panic.
        LotTable::parse(DEFAULT_LOTS_CSV).unwrap_or(LotTable { rows: Vec::new() })
    }
}

impl LotTable {
    /// Reads a lot table: `asset_class,currency,lot` (a header line, `#`
    /// comments), `currency` an ISO code or `*`, `lot` a positive number.
    ///
    /// # Errors
    ///
    /// The 1-based line and what is wrong.
    pub fn parse(text: &str) -> Result<LotTable, String> {
        let mut rows = Vec::new();
        let mut header = false;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header {
                if line != "asset_class,currency,lot" {
                    return Err(format!(
                        "line {}: expected the header asset_class,currency,lot",
                        index + 1
                    ));
                }
                header = true;
                continue;
            }
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let [class, currency, lot] = cells[..] else {
                return Err(format!("line {}: expected 3 cells", index + 1));
            };
            let currency = match currency {
                "*" => None,
                code => Some(
                    code.parse::<Currency>()
                        .map_err(|_| format!("line {}: bad currency {code:?}", index + 1))?,
                ),
            };
            let lot: f64 = lot
                .parse()
                .ok()
                .filter(|l: &f64| l.is_finite() && *l > 0.0)
                .ok_or_else(|| format!("line {}: bad lot {lot:?}", index + 1))?;
            rows.push((class.to_string(), currency, lot));
        }
        Ok(LotTable { rows })
    }

    /// The lot of a holding (1 when no row matches).
    pub fn lot(&self, info: &LegInfo) -> f64 {
        let class = asset_code(info);
        self.rows
            .iter()
            .find(|(c, currency, _)| {
                c == class && currency.is_none_or(|currency| currency == info.currency)
            })
            .map_or(1.0, |&(_, _, lot)| lot)
    }
}

/// The asset-class code of a holding: `CASH` for cash, else the code in its
/// label `SYMBOL (CODE CCY)`.
pub fn asset_code(info: &LegInfo) -> &str {
    if info.class == "FX" && info.label.starts_with("cash ") {
        return "CASH";
    }
    info.label
        .rsplit_once(" (")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("")
}

/// `units` rounded to a multiple of `lot`, without float noise (8 decimals).
pub fn clean(units: f64) -> f64 {
    (units * 1e8).round() / 1e8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_parses_and_bad_ones_are_refused() {
        let table = LotTable::parse(DEFAULT_LOTS_CSV).unwrap();
        assert_eq!(table.rows.len(), 8);
        assert_eq!(
            table.rows[0],
            ("STK".to_string(), Some("JPY".parse().unwrap()), 100.0)
        );
        assert!(LotTable::parse("asset_class,currency,lot\nSTK,*,0\n").is_err());
        assert!(LotTable::parse("asset_class,currency,lot\nSTK,XX,1\n").is_err());
        assert!(LotTable::parse("class,lot\n").is_err());
    }
}
