//! A daily price history in long form: `date,symbol,close`.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// Why a history cannot be used. Row errors name the line (1 = the header).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    /// The header is not exactly `date,symbol,close`.
    #[error("{file}: line 1: the header must be exactly `date,symbol,close`, found `{found}`")]
    Header {
        /// The source, as named by the caller.
        file: String,
        /// The header read.
        found: String,
    },
    /// A row that cannot be read.
    #[error("{file}: line {line}: {column}: {reason}")]
    Row {
        /// The source.
        file: String,
        /// 1-based line.
        line: u64,
        /// The column at fault (`date`, `symbol`, `close` or `row`).
        column: &'static str,
        /// Why.
        reason: String,
    },
    /// No data rows.
    #[error("{file}: no data rows")]
    Empty {
        /// The source.
        file: String,
    },
}

/// Daily closes of every symbol on the union of the dates any symbol
/// trades (a symbol's close is `None` on a date it did not trade: a
/// holiday, a gap, before it starts).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    dates: Vec<NaiveDate>,
    symbols: Vec<String>,
    /// `closes[s][d]`.
    closes: Vec<Vec<Option<f64>>>,
}

impl History {
    /// Builds a history from (date, symbol, close) triples (any order; a
    /// repeated (date, symbol) keeps the last). Closes must be finite and
    /// positive; rows that are not are the parser's job to reject.
    pub fn from_rows(rows: impl IntoIterator<Item = (NaiveDate, String, f64)>) -> History {
        let mut map: BTreeMap<String, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
        let mut all = std::collections::BTreeSet::new();
        for (date, symbol, close) in rows {
            all.insert(date);
            map.entry(symbol).or_default().insert(date, close);
        }
        let dates: Vec<NaiveDate> = all.into_iter().collect();
        let index: BTreeMap<NaiveDate, usize> =
            dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let mut symbols = Vec::new();
        let mut closes = Vec::new();
        for (symbol, series) in map {
            let mut column = vec![None; dates.len()];
            for (date, close) in series {
                column[index[&date]] = Some(close);
            }
            symbols.push(symbol);
            closes.push(column);
        }
        History {
            dates,
            symbols,
            closes,
        }
    }

    /// The union of the trading dates, ascending.
    pub fn dates(&self) -> &[NaiveDate] {
        &self.dates
    }

    /// The symbols, in byte order.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The position of `symbol`.
    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.symbols
            .binary_search_by(|s| s.as_str().cmp(symbol))
            .ok()
    }

    /// Closes of symbol `s` on every date (`None`: no close that day).
    pub fn closes(&self, s: usize) -> &[Option<f64>] {
        &self.closes[s]
    }

    /// The close of `symbol` on `date`.
    pub fn close(&self, symbol: &str, date: NaiveDate) -> Option<f64> {
        let s = self.index_of(symbol)?;
        let d = self.dates.binary_search(&date).ok()?;
        self.closes[s][d]
    }

    /// The history up to and including `date` (no look-ahead); symbols
    /// without a close by then are dropped.
    pub fn up_to(&self, date: NaiveDate) -> History {
        let n = self.dates.partition_point(|d| *d <= date);
        let mut symbols = Vec::new();
        let mut closes = Vec::new();
        for (symbol, column) in self.symbols.iter().zip(&self.closes) {
            if column[..n].iter().any(Option::is_some) {
                symbols.push(symbol.clone());
                closes.push(column[..n].to_vec());
            }
        }
        History {
            dates: self.dates[..n].to_vec(),
            symbols,
            closes,
        }
    }

    /// Log returns of symbol `s` on each date: `ln(close_d / close_{d−1})`
    /// when the symbol closed on date d and on the previous date of the
    /// calendar, otherwise `None` (the return after a holiday of the symbol
    /// is not used, so returns of different symbols are always over the
    /// same day). Index 0 is always `None`.
    pub fn log_returns(&self, s: usize) -> Vec<Option<f64>> {
        let c = &self.closes[s];
        let mut out = vec![None; c.len()];
        for d in 1..c.len() {
            if let (Some(a), Some(b)) = (c[d - 1], c[d]) {
                out[d] = Some((b / a).ln());
            }
        }
        out
    }

    /// The first (symbol, date) index, in symbol then date order, whose
    /// log return ([`History::log_returns`]) is not finite: the ratio of
    /// two closes overflows to ∞ or underflows to 0 (e.g. 1e-300 then
    /// 1e10). `None` when every return is finite. The parser rejects such
    /// a history; [`crate::calibrate`] checks it again for histories built
    /// with [`History::from_rows`].
    pub fn first_non_finite_return(&self) -> Option<(usize, usize)> {
        (0..self.symbols.len()).find_map(|s| {
            self.log_returns(s)
                .iter()
                .position(|r| r.is_some_and(|r| !r.is_finite()))
                .map(|d| (s, d))
        })
    }
}

/// Whether `close` is a usable price: finite, positive and normal (a
/// subnormal such as 5e-324 is not a price, and its ratios overflow).
pub fn is_valid_close(close: f64) -> bool {
    close.is_normal() && close > 0.0
}

/// Reads a history from CSV text: header exactly `date,symbol,close`;
/// dates `YYYY-MM-DD`; a non-empty symbol; a finite positive close; one row
/// per (date, symbol). Every error names the line.
///
/// # Errors
///
/// [`HistoryError`] for the first bad row (or the header, or no rows).
pub fn parse_history(file: &str, text: &[u8]) -> Result<History, HistoryError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let header = reader.headers().map_err(|e| HistoryError::Row {
        file: file.to_string(),
        line: 1,
        column: "row",
        reason: e.to_string(),
    })?;
    let found: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}'))
        .collect();
    if found != ["date", "symbol", "close"] {
        return Err(HistoryError::Header {
            file: file.to_string(),
            found: found.join(","),
        });
    }
    let mut rows = Vec::new();
    let mut seen: BTreeMap<(NaiveDate, String), u64> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| HistoryError::Row {
            file: file.to_string(),
            line: e.position().map_or(0, |p| p.line()),
            column: "row",
            reason: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |column, reason: String| HistoryError::Row {
            file: file.to_string(),
            line,
            column,
            reason,
        };
        if record.len() != 3 {
            return Err(bad("row", format!("{} fields, expected 3", record.len())));
        }
        let date = NaiveDate::parse_from_str(record[0].trim(), "%Y-%m-%d")
            .map_err(|_| bad("date", format!("`{}` is not a date YYYY-MM-DD", &record[0])))?;
        let symbol = record[1].trim();
        if symbol.is_empty() {
            return Err(bad("symbol", "empty".to_string()));
        }
        let close: f64 = record[2]
            .trim()
            .parse()
            .map_err(|_| bad("close", format!("`{}` is not a number", &record[2])))?;
        if !is_valid_close(close) {
            return Err(bad(
                "close",
                format!("{close:e} is not a positive (normal, finite) price"),
            ));
        }
        if let Some(first) = seen.insert((date, symbol.to_string()), line) {
            return Err(bad(
                "row",
                format!("{symbol} on {date} already given on line {first}"),
            ));
        }
        rows.push((date, symbol.to_string(), close));
    }
    if rows.is_empty() {
        return Err(HistoryError::Empty {
            file: file.to_string(),
        });
    }
    let history = History::from_rows(rows);
    if let Some((s, d)) = history.first_non_finite_return() {
        let symbol = &history.symbols[s];
        let (before, date) = (history.dates[d - 1], history.dates[d]);
        let close = |d: usize| history.closes[s][d].unwrap_or(f64::NAN);
        return Err(HistoryError::Row {
            file: file.to_string(),
            line: seen.get(&(date, symbol.clone())).copied().unwrap_or(0),
            column: "close",
            reason: format!(
                "{symbol} on {date}: the log return from {:e} on {before} to {:e} is not finite \
                 (the ratio of the closes overflows)",
                close(d - 1),
                close(d)
            ),
        });
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn reads_long_form_with_gaps_and_late_starters() {
        let text = "date,symbol,close\n\
                    2024-01-03,A,110\n2024-01-02,A,100\n2024-01-02,B,50\n\
                    2024-01-04,A,121\n2024-01-04,B,55\n2024-01-05,C,7\n";
        let h = parse_history("h.csv", text.as_bytes()).unwrap();
        assert_eq!(
            h.dates(),
            &[
                d("2024-01-02"),
                d("2024-01-03"),
                d("2024-01-04"),
                d("2024-01-05")
            ]
        );
        assert_eq!(h.symbols(), &["A", "B", "C"]);
        let a = h.log_returns(0);
        assert_eq!(a[0], None);
        assert!((a[1].unwrap() - 1.1f64.ln()).abs() < 1e-15);
        assert!((a[2].unwrap() - 1.1f64.ln()).abs() < 1e-15);
        assert_eq!(a[3], None);
        // B has a holiday on 01-03: the return over it is not used.
        assert_eq!(h.log_returns(1), vec![None, None, None, None]);
        assert_eq!(h.close("C", d("2024-01-05")), Some(7.0));
        let early = h.up_to(d("2024-01-03"));
        assert_eq!(early.symbols(), &["A", "B"]);
        assert_eq!(early.dates().len(), 2);
    }

    #[test]
    fn extreme_but_finite_ratios_are_kept() {
        // 1e-290 / 1e-300 = 1e10: ln = 10·ln 10; 1e-310 is subnormal but
        // finite as a ratio (1e-10 / 1e300): ln = −310·ln 10.
        let text = "date,symbol,close\n2024-01-02,A,1e-300\n2024-01-03,A,1e-290\n\
                    2024-01-02,B,1e300\n2024-01-03,B,1e-10\n";
        let h = parse_history("h.csv", text.as_bytes()).unwrap();
        let ln10 = 10f64.ln();
        assert!((h.log_returns(0)[1].unwrap() - 10.0 * ln10).abs() < 1e-9);
        assert!((h.log_returns(1)[1].unwrap() + 310.0 * ln10).abs() < 1e-9);
        assert_eq!(h.first_non_finite_return(), None);
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        for (text, expected) in [
            ("date,sym,close\n", "line 1"),
            (
                "date,symbol,close\n2024-01-02,A,1\n2024-13-02,A,1\n",
                "line 3: date",
            ),
            ("date,symbol,close\n2024-01-02,,1\n", "line 2: symbol"),
            ("date,symbol,close\n2024-01-02,A,-1\n", "line 2: close"),
            ("date,symbol,close\n2024-01-02,A,abc\n", "line 2: close"),
            ("date,symbol,close\n2024-01-02,A,NaN\n", "line 2: close"),
            ("date,symbol,close\n2024-01-02,A,1,2\n", "line 2: row"),
            (
                "date,symbol,close\n2024-01-02,A,1\n2024-01-02,A,2\n",
                "line 3: row",
            ),
            ("date,symbol,close\n", "no data rows"),
            // subnormal: not a price
            ("date,symbol,close\n2024-01-02,A,5e-324\n", "line 2: close"),
            // 1e10 / 1e-300 = 1e310 overflows to ∞: ln is +∞
            (
                "date,symbol,close\n2024-01-02,A,1\n2024-01-03,A,1e-300\n2024-01-04,A,1e10\n",
                "line 4: close: A on 2024-01-04: the log return from 1e-300 on 2024-01-03 to 1e10",
            ),
            // 1e-300 / 1e300 = 1e-600 underflows to 0: ln is −∞ (B's
            // second row is line 4)
            (
                "date,symbol,close\n2024-01-02,B,1e300\n2024-01-02,A,1\n2024-01-03,B,1e-300\n",
                "line 4: close: B on 2024-01-03",
            ),
        ] {
            let err = parse_history("h.csv", text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.starts_with("h.csv"), "{err}");
        }
    }
}
