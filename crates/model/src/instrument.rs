use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::Currency;

/// The asset classes of `positions.csv`.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetClass {
    /// `STK` (stocks and ETFs; `FUND` is read as this).
    Stock,
    /// `FUT`.
    Future,
    /// `OPT`: option on a stock or an index.
    Option,
    /// `FOP`: option on a future.
    FutureOption,
    /// `BOND`.
    Bond,
    /// `CRYPTO`.
    Crypto,
}

impl AssetClass {
    /// Reads the `asset_class` column (`FUND` is a `STK`). Case-insensitive.
    pub fn parse(text: &str) -> Option<AssetClass> {
        one_of(
            text,
            &[
                ("STK", AssetClass::Stock),
                ("FUND", AssetClass::Stock),
                ("FUT", AssetClass::Future),
                ("OPT", AssetClass::Option),
                ("FOP", AssetClass::FutureOption),
                ("BOND", AssetClass::Bond),
                ("CRYPTO", AssetClass::Crypto),
            ],
        )
    }

    /// The code as written in `positions.csv`.
    pub fn code(self) -> &'static str {
        match self {
            AssetClass::Stock => "STK",
            AssetClass::Future => "FUT",
            AssetClass::Option => "OPT",
            AssetClass::FutureOption => "FOP",
            AssetClass::Bond => "BOND",
            AssetClass::Crypto => "CRYPTO",
        }
    }

    /// Whether the class is an option (`OPT` or `FOP`).
    pub fn is_option(self) -> bool {
        matches!(self, AssetClass::Option | AssetClass::FutureOption)
    }
}

/// Call or put.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OptionRight {
    /// `C`.
    Call,
    /// `P`.
    Put,
}

impl OptionRight {
    /// Reads `C`/`P` (also `CALL`/`PUT`), case-insensitive.
    pub fn parse(text: &str) -> Option<OptionRight> {
        one_of(
            text,
            &[
                ("C", OptionRight::Call),
                ("CALL", OptionRight::Call),
                ("P", OptionRight::Put),
                ("PUT", OptionRight::Put),
            ],
        )
    }
}

/// Exercise style.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exercise {
    /// May be exercised any day (the default for single-stock options).
    American,
    /// Exercised at expiry only.
    European,
}

impl Exercise {
    /// Reads `american`/`european` (also `A`/`E`), case-insensitive.
    pub fn parse(text: &str) -> Option<Exercise> {
        one_of(
            text,
            &[
                ("american", Exercise::American),
                ("a", Exercise::American),
                ("european", Exercise::European),
                ("e", Exercise::European),
            ],
        )
    }
}

/// The value of the code `text` is (trimmed, in any case), without
/// allocating: codes are read for every position of a drop.
fn one_of<T: Copy>(text: &str, codes: &[(&str, T)]) -> Option<T> {
    let text = text.trim();
    codes
        .iter()
        .find(|(code, _)| code.eq_ignore_ascii_case(text))
        .map(|&(_, value)| value)
}

/// The contract terms of an option.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OptionTerms {
    /// Strike, in the instrument's currency.
    pub strike: Decimal,
    /// Last trading day.
    pub expiry: NaiveDate,
    /// Call or put.
    pub right: OptionRight,
    /// Exercise style.
    pub exercise: Exercise,
}

/// What kind of instrument, with the terms that kind needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstrumentKind {
    /// A stock or ETF (`STK`, `FUND`).
    Stock,
    /// A bond.
    Bond,
    /// A crypto coin.
    Crypto,
    /// A future on `underlying` (e.g. `CL`); its value is settled daily
    /// into cash, so it adds nothing to NLV.
    Future {
        /// What the future tracks.
        underlying: String,
        /// Expiry, when given.
        expiry: Option<NaiveDate>,
    },
    /// An option on a stock or index (`OPT`) or on a future (`FOP`).
    Option {
        /// The symbol the option is written on.
        underlying: String,
        /// `true` for `FOP`.
        on_future: bool,
        /// Strike, expiry, right, exercise.
        terms: OptionTerms,
    },
}

/// A tradable instrument, as held in a position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instrument {
    /// The instrument's own symbol (e.g. `AAPL`, `CLZ6`).
    pub symbol: String,
    /// Kind and contract terms.
    pub kind: InstrumentKind,
    /// The currency the instrument is quoted and settled in.
    pub currency: Currency,
    /// Units of the underlying per contract (1 for stocks).
    pub multiplier: Decimal,
    /// Price of one unit, in `currency`, as read.
    pub mark: Decimal,
}

impl Instrument {
    /// The asset class.
    pub fn asset_class(&self) -> AssetClass {
        match &self.kind {
            InstrumentKind::Stock => AssetClass::Stock,
            InstrumentKind::Bond => AssetClass::Bond,
            InstrumentKind::Crypto => AssetClass::Crypto,
            InstrumentKind::Future { .. } => AssetClass::Future,
            InstrumentKind::Option {
                on_future: false, ..
            } => AssetClass::Option,
            InstrumentKind::Option {
                on_future: true, ..
            } => AssetClass::FutureOption,
        }
    }

    /// The symbol whose price drives this instrument: the instrument itself
    /// for stocks, bonds and coins; the underlying for derivatives.
    pub fn risk_symbol(&self) -> &str {
        match &self.kind {
            InstrumentKind::Stock | InstrumentKind::Bond | InstrumentKind::Crypto => &self.symbol,
            InstrumentKind::Future { underlying, .. }
            | InstrumentKind::Option { underlying, .. } => underlying,
        }
    }

    /// Whether the instrument's value is settled into cash every day (a
    /// future): it then adds nothing to NLV and its scenario P&L is the
    /// change of its price alone.
    pub fn settles_daily(&self) -> bool {
        matches!(self.kind, InstrumentKind::Future { .. })
    }

    /// Market value of `quantity` units in the instrument's currency, as it
    /// counts towards NLV: quantity × multiplier × mark, except futures,
    /// whose variation margin is already in cash (0). `None` on overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_model::{Currency, Decimal, Instrument, InstrumentKind};
    /// let es = Instrument {
    ///     symbol: "ESZ6".into(),
    ///     kind: InstrumentKind::Future { underlying: "ES".into(), expiry: None },
    ///     currency: Currency::USD,
    ///     multiplier: Decimal::from(50),
    ///     mark: Decimal::from(6800),
    /// };
    /// assert_eq!(es.market_value(Decimal::from(2)), Some(Decimal::ZERO));
    /// ```
    pub fn market_value(&self, quantity: Decimal) -> Option<Decimal> {
        if self.settles_daily() {
            return Some(Decimal::ZERO);
        }
        quantity
            .checked_mul(self.multiplier)?
            .checked_mul(self.mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_trimmed_in_any_case() {
        assert_eq!(AssetClass::parse(" fund "), Some(AssetClass::Stock));
        assert_eq!(AssetClass::parse("Stk"), Some(AssetClass::Stock));
        assert_eq!(AssetClass::parse("fop"), Some(AssetClass::FutureOption));
        assert_eq!(AssetClass::parse("crypto"), Some(AssetClass::Crypto));
        assert_eq!(AssetClass::parse("CASH"), None);
        assert_eq!(AssetClass::parse(""), None);
        assert_eq!(OptionRight::parse("call"), Some(OptionRight::Call));
        assert_eq!(OptionRight::parse("p"), Some(OptionRight::Put));
        assert_eq!(OptionRight::parse("CP"), None);
        assert_eq!(Exercise::parse(" European "), Some(Exercise::European));
        assert_eq!(Exercise::parse("A"), Some(Exercise::American));
        assert_eq!(Exercise::parse("bermudan"), None);
    }
}
