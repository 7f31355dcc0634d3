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
