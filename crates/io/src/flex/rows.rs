//! The rows of each section, read into the reader's records: accounts,
//! positions, cash, NAV and Account Information, FX and conversion rates.

use exfee_model::{
    AccountInput, AssetClass, CashBalance, Currency, Decimal, InputError, Instrument, Position,
};

use super::instrument::{asset_class, bond_multiplier, kind};
use super::layout::Header;
use super::{
    ACCOUNT, BaseCashRow, CONID, CURRENCY, CashRow, ConversionRow, DateField, ENDING_CASH, EXPIRY,
    FX_TO_BASE, FlexReader, Kind, LEVEL, Level, MARK, MULTIPLIER, NAV_TOTAL, NavRow, PositionRow,
    REPORT_DATE, RateRow, RowProblem, SYMBOL, Spot, Statement, keep, xml,
};
use crate::csvin::{Fields, Row};
use crate::drop::MAX_POSITIONS_PER_ACCOUNT;

/// The Flex columns whose quoted fields may hold a line end: free text.
const FLEX_LINE_BREAKS: &[&str] = &[ACCOUNT, "AccountAlias", "Symbol", "Description"];

impl FlexReader {
    /// A known section begins in the file being read (inside the open
    /// statement, if any).
    pub(super) fn note_section(&mut self, kind: Kind) {
        if matches!(kind, Kind::Positions | Kind::Cash | Kind::Nav) {
            self.sections += 1;
        }
        if kind == Kind::Positions {
            self.any_positions = true;
        }
        if let Some(statement) = self.statement.map(|i| &mut self.statements[i]) {
            match kind {
                Kind::Positions => statement.positions = true,
                Kind::Cash => statement.cash = true,
                _ => {}
            }
        }
    }

    /// Account `id`'s statement begins (at `line` of the file being read).
    pub(super) fn begin_statement(&mut self, id: &str, line: u64, date: Option<DateField>) {
        let account = self.account_index(id);
        self.current = Some(Ok(account));
        self.statement = Some(self.statements.len());
        self.statements.push(Statement {
            account,
            location: Spot {
                file: self.files.len() - 1,
                line,
                column: None,
            },
            positions: false,
            cash: false,
        });
        if let Some(date) = date {
            self.statement_dates.push((account, date));
        }
    }

    /// The statement ends: rows without an account name none any more.
    pub(super) fn end_statement(&mut self) {
        self.statement = None;
        self.current = None;
    }

    /// A file outside statements names account `account` (the BOF line,
    /// Account Information): rows without `ClientAccountID` are its while
    /// the file names no other.
    pub(super) fn name_account(&mut self, account: usize) {
        if self.statement.is_some() {
            return;
        }
        self.current = match self.current {
            None => Some(Ok(account)),
            Some(Ok(a)) if a == account => Some(Ok(a)),
            _ => Some(Err(())),
        };
    }

    /// Where `column` (or, `None`, the whole row) of `row` is.
    pub(super) fn spot(&self, row: &Row<'_>, column: Option<&'static str>) -> Spot {
        Spot {
            file: self.files.len() - 1,
            line: row.line,
            // An XML attribute shows as itself (`markPrice`), not as the
            // column it is read as (`MarkPrice`).
            column: column.and_then(|name| {
                row.columns.get(name).map(|&i| {
                    let shown = if row.header[i] == name {
                        name
                    } else {
                        xml::attribute_of(name)
                    };
                    (i + 1, shown)
                })
            }),
        }
    }

    /// The account a row names, created on first sight; `None` (and an error
    /// of the batch) when the row names none.
    fn account_of(&mut self, row: &Row<'_>) -> Option<usize> {
        if !row.columns.contains_key(ACCOUNT) {
            return match self.current {
                Some(Ok(account)) => Some(account),
                _ => {
                    self.errors.push(row.error_at_row(
                        "the row names no account: the report has no ClientAccountID column \
                         and the file names no single account (BOF or BOA line, Account \
                         Information section, FlexStatement accountId)",
                    ));
                    None
                }
            };
        }
        match row.required(ACCOUNT) {
            Ok(id) => Some(self.account_index(id)),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// The index of account `id`, created on first sight.
    pub(super) fn account_index(&mut self, id: &str) -> usize {
        match self.index.get(id) {
            Some(&index) => index,
            None => {
                self.accounts.push(AccountInput {
                    id: id.to_string(),
                    ..AccountInput::default()
                });
                self.rows.push([0, 0]);
                self.index.insert(id.to_string(), self.accounts.len() - 1);
                self.accounts.len() - 1
            }
        }
    }

    /// Counts a position (`kind` 0) or cash (1) row of `account`; `false`
    /// (and, the first time, an error of the account) past
    /// [`MAX_POSITIONS_PER_ACCOUNT`] rows.
    fn count_row(&mut self, row: &Row<'_>, account: usize, kind: usize) -> bool {
        let count = &mut self.rows[account][kind];
        *count += 1;
        if *count <= MAX_POSITIONS_PER_ACCOUNT {
            return true;
        }
        if *count == MAX_POSITIONS_PER_ACCOUNT + 1 {
            let input = &mut self.accounts[account];
            let what = if kind == 0 { "positions" } else { "cash rows" };
            input.errors.push(row.error(
                ACCOUNT,
                format!(
                    "account {} has more than {MAX_POSITIONS_PER_ACCOUNT} {what}, the limit per \
                     account; its rows from here on are not read",
                    input.id
                ),
            ));
        }
        false
    }

    /// Reads a data row of a section with `header`; `problem` (the field, if
    /// one, and the reason) when the row could not be read whole.
    pub(super) fn data_row(
        &mut self,
        file: &str,
        line: u64,
        record: &csv::ByteRecord,
        header: &Header,
        problem: Option<RowProblem>,
    ) {
        if header.kind == Kind::Skipped {
            return;
        }
        let mut row = Row {
            file,
            line,
            record,
            header: &header.names,
            columns: &header.columns,
            whole: record.len(),
        };
        if let Some(problem) = self.row_problem(&mut row, header, problem) {
            self.broken_row(&row, problem);
            return;
        }
        let Some(account) = self.account_of(&row) else {
            return;
        };
        let counted = match header.kind {
            Kind::Positions => self.count_row(&row, account, 0),
            Kind::Cash => self.count_row(&row, account, 1),
            Kind::AccountInfo => {
                self.name_account(account);
                true
            }
            Kind::Nav | Kind::Conversion | Kind::Skipped => true,
        };
        if !counted {
            return;
        }
        let mut errors = Vec::new();
        match header.kind {
            Kind::Positions => self.position_row(&row, header, account, &mut errors),
            Kind::Cash => self.cash_row(&row, header, account, &mut errors),
            Kind::Nav | Kind::AccountInfo => self.nav_row(&row, header, account, &mut errors),
            Kind::Conversion => {
                // A rate that cannot be read is left out: it fails no
                // account (a currency that needs it then has no rate).
                self.conversion_row(&row, account);
                return;
            }
            Kind::Skipped => {}
        }
        self.accounts[account].errors.extend(errors);
    }

    /// Why `row` cannot be read as its header says, if it cannot: the
    /// reader's `problem`, a quoted field spanning lines where none may (its
    /// error is also of the accounts whose rows it swallowed), or a count of
    /// fields unlike the header's. Narrows `row.whole` to the fields read
    /// whole.
    fn row_problem(
        &mut self,
        row: &mut Row<'_>,
        header: &Header,
        problem: Option<RowProblem>,
    ) -> Option<InputError> {
        // Only a CSV field can swallow rows behind an unclosed quote (one
        // left open at the end of the file too: then the row's problem).
        let line_break = if self.reading_csv {
            row.line_break_problem(FLEX_LINE_BREAKS)
        } else {
            None
        };
        if let (Some((field, reason)), None) = (problem, &line_break) {
            return Some(match field {
                Some(index) => {
                    row.whole = row.whole.min(index);
                    row.error_at_field(index, reason)
                }
                None => row.error_at_row(reason),
            });
        }
        if let Some((index, problem)) = line_break {
            row.whole = index;
            for id in row.swallowed(ACCOUNT) {
                if let Some(&account) = self.index.get(&id)
                    && !self.accounts[account].errors.contains(&problem)
                {
                    self.accounts[account].errors.push(problem.clone());
                }
            }
            return Some(problem);
        }
        let fields = row.record.len();
        if fields == header.names.len() {
            return None;
        }
        if fields < header.names.len() {
            // The last field may be cut short (a truncated line).
            row.whole = fields.saturating_sub(1);
        }
        Some(row.error_at_row(format!(
            "row has {fields} fields but the header has {}",
            header.names.len()
        )))
    }

    /// A row that cannot be read: its error fails the account when the row
    /// names one already seen, whole; a broken row never makes an account of
    /// its own.
    fn broken_row(&mut self, row: &Row<'_>, problem: InputError) {
        let account = if row.columns.contains_key(ACCOUNT) {
            row.whole_text(ACCOUNT)
                .and_then(|id| self.index.get(id))
                .copied()
        } else {
            self.current.and_then(Result::ok)
        };
        match account {
            Some(account) => self.accounts[account].errors.push(problem),
            None => self.errors.push(problem),
        }
    }

    /// A row of the NAV section or of Account Information.
    fn nav_row(
        &mut self,
        row: &Row<'_>,
        header: &Header,
        account: usize,
        errors: &mut Vec<InputError>,
    ) {
        let currency = match header.currency {
            Some(column) if !row.text(column).unwrap_or_default().is_empty() => keep(
                row.currency(column)
                    .map(|c| (c, self.spot(row, Some(column)))),
                errors,
            ),
            _ => None,
        };
        let total = if header.kind == Kind::Nav {
            keep(row.optional_decimal(NAV_TOTAL), errors)
                .flatten()
                .map(|t| (t, self.spot(row, Some(NAV_TOTAL))))
        } else {
            None
        };
        let date = keep(self.date(row, REPORT_DATE), errors).flatten();
        if errors.is_empty() {
            self.navs.push(NavRow {
                account,
                source: header.kind,
                currency,
                total,
                date,
            });
        }
    }

    /// A `ConversionRate` of `account`'s statement, when it reads.
    fn conversion_row(&mut self, row: &Row<'_>, account: usize) {
        let mut errors = Vec::new();
        let from = keep(row.currency("fromCurrency"), &mut errors);
        let to = keep(row.currency("toCurrency"), &mut errors);
        let rate = keep(row.decimal("rate"), &mut errors);
        let date = keep(self.date(row, REPORT_DATE), &mut errors).flatten();
        if let (Some(from), Some(to), Some(rate)) = (from, to, rate)
            && rate > Decimal::ZERO
        {
            let location = self.spot(row, Some("rate"));
            let from_location = self.spot(row, Some("fromCurrency"));
            self.conversions.push(ConversionRow {
                account,
                from,
                to,
                rate,
                location,
                from_location,
                date,
            });
        }
    }

    /// Records the row's `FXRateToBase`, when it has one.
    fn rate_of(
        &mut self,
        row: &Row<'_>,
        account: usize,
        currency: Option<(Currency, &'static str)>,
        date: Option<DateField>,
        errors: &mut Vec<InputError>,
    ) {
        let rate = row
            .optional_decimal(FX_TO_BASE)
            .and_then(|rate| match rate {
                Some(rate) if rate <= Decimal::ZERO => {
                    Err(row.error(FX_TO_BASE, format!("FX rate must be positive, got {rate}")))
                }
                rate => Ok(rate),
            });
        if let (Some((currency, column)), Some(Some(rate))) = (currency, keep(rate, errors)) {
            let location = self.spot(row, Some(FX_TO_BASE));
            let currency_location = self.spot(row, Some(column));
            self.rates.push(RateRow {
                account,
                currency,
                rate,
                location,
                currency_location,
                date,
            });
        }
    }

    fn cash_row(
        &mut self,
        row: &Row<'_>,
        header: &Header,
        account: usize,
        errors: &mut Vec<InputError>,
    ) {
        let column = header.currency.unwrap_or(CURRENCY);
        let level = row.text(LEVEL).unwrap_or_default();
        let date = keep(self.date(row, REPORT_DATE), errors).flatten();
        if row
            .text(column)
            .unwrap_or_default()
            .eq_ignore_ascii_case("BASE_SUMMARY")
            || level.eq_ignore_ascii_case("BaseCurrency")
        {
            // The total over currencies, in the base currency: used only
            // when the account has no row per currency.
            if let Some(amount) = keep(row.decimal(ENDING_CASH), errors)
                && errors.is_empty()
            {
                let location = self.spot(row, Some(ENDING_CASH));
                self.base_cash.push(BaseCashRow {
                    account,
                    amount,
                    location,
                    date,
                });
            }
            return;
        }
        let currency = keep(row.currency(column), errors);
        self.rate_of(row, account, currency.map(|c| (c, column)), date, errors);
        let amount = keep(row.decimal(ENDING_CASH), errors);
        if let (Some(currency), Some(amount)) = (currency, amount) {
            let location = self.spot(row, Some(column));
            self.cash.push(CashRow {
                account,
                balance: CashBalance { currency, amount },
                location,
                date,
            });
        }
    }

    fn position_row(
        &mut self,
        row: &Row<'_>,
        header: &Header,
        account: usize,
        errors: &mut Vec<InputError>,
    ) {
        let currency = keep(row.currency(CURRENCY), errors);
        let date = keep(self.date(row, REPORT_DATE), errors).flatten();
        self.rate_of(row, account, currency.map(|c| (c, CURRENCY)), date, errors);
        let level = keep(
            row.text(LEVEL).and_then(|text| {
                if text.is_empty() || text.eq_ignore_ascii_case("SUMMARY") {
                    Ok(Level::Summary)
                } else if text.eq_ignore_ascii_case("LOT") {
                    Ok(Level::Lot)
                } else {
                    Err(row.error(LEVEL, format!("{text:?} is not SUMMARY or LOT")))
                }
            }),
            errors,
        );
        let symbol = keep(row.required(SYMBOL), errors);
        let class = keep(asset_class(row), errors);
        let quantity = keep(row.decimal(header.quantity), errors);
        let multiplier = keep(row.multiplier(MULTIPLIER), errors);
        let mark = keep(row.price(MARK), errors);
        let expiry = self.date(row, EXPIRY);
        let expiry_field = expiry.as_ref().ok().copied().flatten();
        let kind = class.and_then(|class| {
            kind(
                row,
                class,
                symbol.unwrap_or_default(),
                expiry.map(|e| e.map(|e| e.date)),
            )
            .map_err(|e| errors.extend(e))
            .ok()
        });
        let multiplier = match (class, quantity, multiplier, mark) {
            (Some(AssetClass::Bond), Some(q), Some(m), Some(p)) => {
                keep(bond_multiplier(row, q, m, p), errors)
            }
            _ => multiplier,
        };
        let conid = row.text(CONID).unwrap_or_default().to_string();
        if let (Some(level), Some(symbol), Some(currency), Some(quantity), Some(multiplier)) =
            (level, symbol, currency, quantity, multiplier)
            && let (Some(mark), Some(kind)) = (mark, kind)
            && errors.is_empty()
        {
            self.positions.push(PositionRow {
                account,
                level,
                conid,
                position: Position {
                    instrument: Instrument {
                        symbol: symbol.to_string(),
                        kind,
                        currency,
                        multiplier,
                        mark,
                    },
                    quantity,
                },
                row: self.spot(row, None),
                currency: self.spot(row, Some(CURRENCY)),
                mark: self.spot(row, Some(MARK)),
                date,
                expiry: expiry_field.filter(|e| e.day_first.is_some()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> FlexReader {
        let mut reader = FlexReader::default();
        reader.read("r.csv", text.as_bytes()).unwrap();
        reader
    }

    /// A short row whose account field was read whole fails that (known)
    /// account; one whose only field may be cut short names no account and
    /// is the batch's error.
    #[test]
    fn a_short_row_fails_the_account_it_names_whole() {
        let reader = read("ClientAccountID,CurrencyPrimary,EndingCash\nU1,USD,100\nU1,USD\nU9\n");
        assert_eq!(reader.accounts.len(), 1);
        let reasons: Vec<String> = reader.accounts[0]
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            reasons,
            ["r.csv line 3: row has 2 fields but the header has 3"]
        );
        let batch: Vec<String> = reader.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            batch,
            ["r.csv line 4: row has 1 fields but the header has 3"]
        );
        assert_eq!(reader.cash.len(), 1);
        assert_eq!(reader.cash[0].balance.amount, Decimal::ONE_HUNDRED);
    }

    /// A NAV row gives the base currency and the total, with where each was
    /// read (columns counted from 1).
    #[test]
    fn a_nav_row_keeps_its_currency_and_total() {
        let reader = read("ClientAccountID,CurrencyPrimary,Total\nU1,EUR,1234.5\n");
        let [nav] = reader.navs.as_slice() else {
            panic!("one NAV row expected");
        };
        let (currency, at) = nav.currency.unwrap();
        assert_eq!(currency.as_str(), "EUR");
        assert_eq!((at.line, at.column), (2, Some((2, "CurrencyPrimary"))));
        let (total, at) = nav.total.unwrap();
        assert_eq!(total, Decimal::from_str_exact("1234.5").unwrap());
        assert_eq!((at.line, at.column), (2, Some((3, "Total"))));
        assert_eq!(nav.source, Kind::Nav);
    }
}
