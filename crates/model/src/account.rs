use rust_decimal::Decimal;

use crate::{Currency, InputError, Instrument, MarketData};

/// A holding of an instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// What is held.
    pub instrument: Instrument,
    /// How much; negative for a short position.
    pub quantity: Decimal,
}

/// A cash balance in one currency; negative when borrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct CashBalance {
    /// The currency.
    pub currency: Currency,
    /// The amount (negative = borrowed).
    pub amount: Decimal,
}

/// One account as read from a drop, with every problem found in its rows.
///
/// An account with any error is not evaluated; it is reported as failed with
/// those errors, and the rest of the batch goes on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountInput {
    /// The account id, as read.
    pub id: String,
    /// The base currency, when `accounts.csv` gives exactly one valid one.
    pub base_currency: Option<Currency>,
    /// Every valid position row.
    pub positions: Vec<Position>,
    /// Every valid cash row.
    pub cash: Vec<CashBalance>,
    /// Every problem with this account's rows.
    pub errors: Vec<InputError>,
    /// A daily overnight inventory fee in base currency, when the account has
    /// one: it then pays the greater of that and the exposure fee.
    pub inventory_fee: Option<Decimal>,
}

impl AccountInput {
    /// A valid, empty account.
    pub fn new(id: impl Into<String>, base_currency: Currency) -> Self {
        AccountInput {
            id: id.into(),
            base_currency: Some(base_currency),
            ..AccountInput::default()
        }
    }
}

/// Everything a nightly run reads: the accounts, the market data, and the
/// problems that belong to no account (e.g. a row with an empty account id).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The accounts, in the order they first appear in the inputs.
    pub accounts: Vec<AccountInput>,
    /// FX rates, factor mapping, underlyings, rates.
    pub market: MarketData,
    /// Problems that no account can carry.
    pub errors: Vec<InputError>,
}
