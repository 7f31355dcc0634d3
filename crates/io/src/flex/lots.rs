//! Lots and summaries: one position per group of rows that describe it.

use std::collections::HashMap;

use exfee_model::{AccountInput, InputError, Position};

use super::{Level, MARK, PositionRow};

/// A position's identity: account, `Conid` and every term of the instrument
/// but its mark.
struct PositionKey<'a>(&'a PositionRow);

impl PartialEq for PositionKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0.position.instrument, &other.0.position.instrument);
        self.0.account == other.0.account
            && self.0.conid == other.0.conid
            && a.symbol == b.symbol
            && a.kind == b.kind
            && a.currency == b.currency
            && a.multiplier == b.multiplier
    }
}

impl Eq for PositionKey<'_> {}

impl std::hash::Hash for PositionKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let instrument = &self.0.position.instrument;
        self.0.account.hash(state);
        self.0.conid.hash(state);
        instrument.symbol.hash(state);
        instrument.kind.hash(state);
        instrument.currency.hash(state);
        instrument.multiplier.hash(state);
    }
}

/// One position per group of rows with the same [`PositionKey`], in order of
/// first appearance, with the row that gives it: the `SUMMARY` row when there
/// is one (its `LOT` rows are ignored), else the sum of the `LOT` rows. The
/// problems (two summaries, lots that disagree) go to the accounts.
pub(super) fn reconcile_lots<'r>(
    files: &[String],
    accounts: &mut [AccountInput],
    positions: &'r [PositionRow],
) -> Vec<(&'r PositionRow, Position)> {
    let mut groups: Vec<(Vec<&PositionRow>, Vec<&PositionRow>)> = Vec::new();
    let mut group_of: HashMap<PositionKey<'_>, usize> = HashMap::with_capacity(positions.len());
    for row in positions {
        let group = *group_of.entry(PositionKey(row)).or_insert_with(|| {
            groups.push((Vec::new(), Vec::new()));
            groups.len() - 1
        });
        match row.level {
            Level::Summary => groups[group].0.push(row),
            Level::Lot => groups[group].1.push(row),
        }
    }
    let mut resolved = Vec::with_capacity(groups.len());
    for (summaries, lots) in groups {
        if let Some((&first, others)) = summaries.split_first() {
            for other in others {
                accounts[first.account].errors.push(InputError::at(
                    other.row.at(files),
                    format!(
                        "position {} is listed twice (SUMMARY rows here and at {}); exfee never \
                         counts a position twice",
                        first.position.instrument.symbol,
                        first.row.at(files)
                    ),
                ));
            }
            resolved.push((first, first.position.clone()));
            continue;
        }
        let first = lots[0];
        let mut position = first.position.clone();
        let mut bad = false;
        for lot in &lots[1..] {
            if lot.position.instrument.mark != position.instrument.mark {
                accounts[first.account].errors.push(InputError::at(
                    lot.mark.at(files),
                    format!(
                        "LOT rows of {} disagree on {MARK}: {} here, {} at {}",
                        position.instrument.symbol,
                        lot.position.instrument.mark,
                        position.instrument.mark,
                        first.mark.at(files)
                    ),
                ));
                bad = true;
            }
            if let Some(sum) = position.quantity.checked_add(lot.position.quantity) {
                position.quantity = sum;
            } else {
                accounts[first.account].errors.push(InputError::at(
                    lot.row.at(files),
                    "the sum of the LOT quantities overflows",
                ));
                bad = true;
            }
        }
        if !bad {
            resolved.push((first, position));
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use exfee_model::{Currency, Decimal, Instrument, InstrumentKind};

    use super::*;
    use crate::flex::Spot;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn spot(line: u64, column: Option<(usize, &'static str)>) -> Spot {
        Spot {
            file: 0,
            line,
            column,
        }
    }

    /// A row of account 0 for `symbol` on `line`.
    fn row(symbol: &str, level: Level, quantity: &str, mark: &str, line: u64) -> PositionRow {
        PositionRow {
            account: 0,
            level,
            conid: String::new(),
            position: Position {
                instrument: Instrument {
                    symbol: symbol.to_string(),
                    kind: InstrumentKind::Stock,
                    currency: Currency::USD,
                    multiplier: Decimal::ONE,
                    mark: dec(mark),
                },
                quantity: dec(quantity),
            },
            row: spot(line, None),
            currency: spot(line, Some((2, "CurrencyPrimary"))),
            mark: spot(line, Some((5, "MarkPrice"))),
            date: None,
            expiry: None,
        }
    }

    fn resolve(rows: &[PositionRow]) -> (Vec<(String, Decimal, u64)>, Vec<String>) {
        let files = vec!["p.csv".to_string()];
        let mut accounts = vec![AccountInput {
            id: "U1".into(),
            ..AccountInput::default()
        }];
        let resolved = reconcile_lots(&files, &mut accounts, rows)
            .into_iter()
            .map(|(first, p)| (p.instrument.symbol, p.quantity, first.row.line))
            .collect();
        let reasons = accounts[0].errors.iter().map(ToString::to_string).collect();
        (resolved, reasons)
    }

    /// AAPL: lots of 30 and 70 (no summary) are 100. MSFT: the summary of
    /// 50 wins over its lot of 20, whichever comes first.
    #[test]
    fn lots_add_up_unless_a_summary_gives_the_position() {
        let (resolved, reasons) = resolve(&[
            row("AAPL", Level::Lot, "30", "245.3", 2),
            row("MSFT", Level::Lot, "20", "410", 3),
            row("AAPL", Level::Lot, "70", "245.3", 4),
            row("MSFT", Level::Summary, "50", "410", 5),
        ]);
        assert_eq!(
            resolved,
            [
                ("AAPL".to_string(), dec("100"), 2),
                ("MSFT".to_string(), dec("50"), 5)
            ]
        );
        assert!(reasons.is_empty(), "{reasons:?}");
    }

    #[test]
    fn two_summaries_or_lots_that_disagree_are_errors() {
        let (resolved, reasons) = resolve(&[
            row("AAPL", Level::Summary, "100", "245.3", 2),
            row("AAPL", Level::Summary, "100", "245.3", 3),
            row("MSFT", Level::Lot, "20", "410", 4),
            row("MSFT", Level::Lot, "30", "411", 5),
        ]);
        assert_eq!(resolved, [("AAPL".to_string(), dec("100"), 2)]);
        assert_eq!(
            reasons,
            [
                "p.csv line 3: position AAPL is listed twice (SUMMARY rows here and at p.csv \
                 line 2); exfee never counts a position twice",
                "p.csv line 5 column 5 (MarkPrice): LOT rows of MSFT disagree on MarkPrice: 411 \
                 here, 410 at p.csv line 4 column 5 (MarkPrice)"
            ]
        );
    }
}
