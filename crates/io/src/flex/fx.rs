//! Base currencies and FX rates: which currency is each account's base, and
//! the USD rates the files give (see [`read_flex`](super::read_flex),
//! "Base currency" and "FX rates").

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use exfee_model::{AccountInput, Currency, Decimal, InputError, MarketData};

use super::{ConversionRow, Kind, NavRow, RateRow, Spot};

/// Each account's base currency and where it was read; the problems go to
/// the accounts.
pub(super) fn base_currencies(
    files: &[String],
    accounts: &mut [AccountInput],
    rates: &[RateRow],
    navs: &[NavRow],
) -> Vec<Option<(Currency, Spot)>> {
    let mut bases: Vec<Option<(Currency, Spot)>> = vec![None; accounts.len()];
    let mut from_nav = vec![false; accounts.len()];
    // The NAV section first, then Account Information.
    let named = navs
        .iter()
        .filter(|n| n.source == Kind::Nav)
        .chain(navs.iter().filter(|n| n.source != Kind::Nav));
    let mut first_source = vec![Kind::Nav; accounts.len()];
    for nav in named {
        let Some((currency, location)) = nav.currency else {
            continue;
        };
        from_nav[nav.account] = true;
        match &bases[nav.account] {
            None => {
                bases[nav.account] = Some((currency, location));
                first_source[nav.account] = nav.source;
            }
            Some((base, first)) if *base != currency => {
                let sections = match (first_source[nav.account], nav.source) {
                    (Kind::Nav, Kind::Nav) => "the NAV section gives",
                    (Kind::Nav, _) => "the NAV and Account Information sections give",
                    _ => "the Account Information section gives",
                };
                let reason = format!(
                    "{sections} account {} two base currencies: {base} (at {}) and {currency}",
                    accounts[nav.account].id,
                    first.at(files),
                );
                accounts[nav.account]
                    .errors
                    .push(InputError::at(location.at(files), reason));
            }
            Some(_) => {}
        }
    }
    let mut ones: Vec<Vec<&RateRow>> = vec![Vec::new(); accounts.len()];
    for rate in rates {
        let list = &mut ones[rate.account];
        if rate.rate == Decimal::ONE && !list.iter().any(|r| r.currency == rate.currency) {
            list.push(rate);
        }
    }
    for (i, account) in accounts.iter_mut().enumerate() {
        if from_nav[i] {
            continue;
        }
        match ones[i].as_slice() {
            [one] => bases[i] = Some((one.currency, one.currency_location)),
            [] => account.errors.push(InputError::new(format!(
                "base currency of account {} unknown: the files have no NAV (EQUT) row with a \
                 currency for it and none of its rows has FXRateToBase 1 (add the NAV section \
                 to the Flex Query)",
                account.id
            ))),
            several => account.errors.push(InputError::new(format!(
                "base currency of account {} ambiguous: FXRateToBase is 1 for {} (add the NAV \
                 section, EQUT, to the Flex Query)",
                account.id,
                several
                    .iter()
                    .map(|r| format!("{} (at {})", r.currency, r.location.at(files)))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
    }
    for rate in rates {
        if let Some((base, _)) = &bases[rate.account]
            && rate.currency == *base
            && rate.rate != Decimal::ONE
        {
            accounts[rate.account].errors.push(InputError::at(
                rate.location.at(files),
                format!(
                    "FXRateToBase of {base}, the account's base currency, must be 1, got {}",
                    rate.rate
                ),
            ));
        }
    }
    bases
}

/// Conversion rates (XML `ConversionRate`) to an account's base fill the
/// currencies the account's rows give no rate for (cash-only currencies):
/// each is added to `rates` as an `FXRateToBase` of the account.
pub(super) fn fill_conversions(
    bases: &[Option<(Currency, Spot)>],
    conversions: &[ConversionRow],
    rates: &mut Vec<RateRow>,
) {
    for conversion in conversions {
        let account = conversion.account;
        if bases[account].as_ref().map(|(c, _)| *c) == Some(conversion.to)
            && conversion.from != conversion.to
            && !rates
                .iter()
                .any(|r| r.account == account && r.currency == conversion.from)
        {
            rates.push(RateRow {
                account,
                currency: conversion.from,
                rate: conversion.rate,
                location: conversion.location,
                currency_location: conversion.from_location,
                date: None,
            });
        }
    }
}

/// Puts the files' FX rates into `market` (see the module documentation).
pub(super) fn merge_fx(
    files: &[String],
    market: &mut MarketData,
    bases: &[Option<(Currency, Spot)>],
    rates: &[RateRow],
) {
    let base_of = |rate: &RateRow| bases[rate.account].as_ref().map(|(c, _)| *c);

    // 1. USD-based accounts: the rate is USD per unit.
    let mut direct: BTreeMap<Currency, Result<(Decimal, Spot), InputError>> = BTreeMap::new();
    for rate in rates {
        if base_of(rate) != Some(Currency::USD) || rate.currency == Currency::USD {
            continue;
        }
        match direct.entry(rate.currency) {
            Entry::Vacant(slot) => {
                slot.insert(Ok((rate.rate, rate.location)));
            }
            Entry::Occupied(mut slot) => {
                if let Ok((first, at)) = slot.get()
                    && *first != rate.rate
                {
                    let reason = format!(
                        "FXRateToBase of {} to USD is {} here but {first} at {}: the files \
                         disagree",
                        rate.currency,
                        rate.rate,
                        at.at(files)
                    );
                    *slot.get_mut() = Err(InputError::at(rate.location.at(files), reason));
                }
            }
        }
    }

    // 2. Other bases: the base from a USD row, then cross rates.
    let mut derived: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for rate in rates {
        if let Some(base) = base_of(rate)
            && base != Currency::USD
            && rate.currency == Currency::USD
            && !direct.contains_key(&base)
            && !derived.contains_key(&base)
            && let Some(usd) = Decimal::ONE.checked_div(rate.rate)
        {
            derived.insert(base, usd);
        }
    }
    for rate in rates {
        let Some(base) = base_of(rate) else {
            continue;
        };
        if base == Currency::USD
            || rate.currency == Currency::USD
            || rate.currency == base
            || direct.contains_key(&rate.currency)
            || derived.contains_key(&rate.currency)
        {
            continue;
        }
        let base_usd = match direct.get(&base) {
            Some(Ok((usd, _))) => Some(*usd),
            Some(Err(_)) => None,
            None => derived
                .get(&base)
                .copied()
                .or_else(|| market.usd_per_unit(base).ok()),
        };
        if let Some(usd) = base_usd.and_then(|usd| rate.rate.checked_mul(usd)) {
            derived.insert(rate.currency, usd);
        }
    }

    // 3. The files win over the market folder.
    for (currency, usd) in derived {
        market.fx.insert(currency, Ok(usd));
    }
    for (currency, usd) in direct {
        market.fx.insert(currency, usd.map(|(usd, _)| usd));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::test_accounts as accounts;

    const FILES: &[&str] = &["f.csv"];

    fn files() -> Vec<String> {
        FILES.iter().map(|f| f.to_string()).collect()
    }

    fn cur(code: &str) -> Currency {
        code.parse().unwrap()
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn spot(line: u64, column: usize, name: &'static str) -> Spot {
        Spot {
            file: 0,
            line,
            column: Some((column, name)),
        }
    }

    /// `account`'s `FXRateToBase` of `currency`, on `line`.
    fn rate(account: usize, currency: &str, rate: &str, line: u64) -> RateRow {
        RateRow {
            account,
            currency: cur(currency),
            rate: dec(rate),
            location: spot(line, 3, "FXRateToBase"),
            currency_location: spot(line, 2, "CurrencyPrimary"),
            date: None,
        }
    }

    fn base(currency: &str) -> Option<(Currency, Spot)> {
        Some((cur(currency), spot(1, 2, "CurrencyPrimary")))
    }

    /// A USD account gives USD per unit directly; a EUR account's USD row
    /// (0.8 EUR per USD) gives EUR = 1 / 0.8 = 1.25 USD, and its GBP row
    /// (1.2 EUR per GBP) GBP = 1.2 × 1.25 = 1.5 USD. The USD account's CHF
    /// wins over the EUR account's cross rate.
    #[test]
    fn usd_rates_come_direct_then_through_the_base() {
        let mut market = MarketData::default();
        let bases = [base("USD"), base("EUR")];
        let rates = [
            rate(0, "CHF", "1.1", 2),
            rate(1, "USD", "0.8", 3),
            rate(1, "GBP", "1.2", 4),
            rate(1, "CHF", "0.9", 5),
        ];
        merge_fx(&files(), &mut market, &bases, &rates);
        assert_eq!(market.usd_per_unit(cur("CHF")), Ok(dec("1.1")));
        assert_eq!(market.usd_per_unit(cur("EUR")), Ok(dec("1.25")));
        assert_eq!(market.usd_per_unit(cur("GBP")), Ok(dec("1.5")));
    }

    #[test]
    fn two_usd_accounts_that_disagree_make_the_currency_unusable() {
        let mut market = MarketData::default();
        let bases = [base("USD"), base("USD")];
        let rates = [rate(0, "CHF", "1.1", 2), rate(1, "CHF", "1.2", 7)];
        merge_fx(&files(), &mut market, &bases, &rates);
        let error = market.fx[&cur("CHF")].clone().unwrap_err();
        assert_eq!(
            error.to_string(),
            "f.csv line 7 column 3 (FXRateToBase): FXRateToBase of CHF to USD is 1.2 here but \
             1.1 at f.csv line 2 column 3 (FXRateToBase): the files disagree"
        );
    }

    /// U1: the NAV section names EUR, over its one USD row at rate 1. U2: two
    /// currencies at rate 1, no NAV: ambiguous. U3: one row at rate 1: USD.
    /// U1's EUR row at 1.1 contradicts its base.
    #[test]
    fn the_base_is_the_nav_currency_else_the_one_currency_at_rate_one() {
        let mut accounts = accounts(3);
        let navs = [NavRow {
            account: 0,
            source: Kind::Nav,
            currency: base("EUR"),
            total: None,
            date: None,
        }];
        let rates = [
            rate(0, "USD", "1", 2),
            rate(0, "EUR", "1.1", 3),
            rate(1, "USD", "1", 4),
            rate(1, "CAD", "1", 5),
            rate(2, "USD", "1", 6),
        ];
        let bases = base_currencies(&files(), &mut accounts, &rates, &navs);
        let currencies: Vec<Option<Currency>> = bases.iter().map(|b| b.map(|(c, _)| c)).collect();
        assert_eq!(currencies, [Some(cur("EUR")), None, Some(cur("USD"))]);
        let reasons = |i: usize| -> Vec<String> {
            accounts[i].errors.iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            reasons(0),
            [
                "f.csv line 3 column 3 (FXRateToBase): FXRateToBase of EUR, the account's base \
                 currency, must be 1, got 1.1"
            ]
        );
        assert_eq!(
            reasons(1),
            [
                "base currency of account U2 ambiguous: FXRateToBase is 1 for USD (at f.csv line \
                 4 column 3 (FXRateToBase)) and CAD (at f.csv line 5 column 3 (FXRateToBase)) \
                 (add the NAV section, EQUT, to the Flex Query)"
            ]
        );
        assert!(reasons(2).is_empty());
    }

    /// A conversion to the base fills a currency the rows give no rate
    /// for, once; a conversion to another currency, or for a currency the
    /// rows rate, is left out.
    #[test]
    fn conversions_fill_only_the_missing_rates() {
        let conversion = |from: &str, to: &str, rate: &str, line: u64| ConversionRow {
            account: 0,
            from: cur(from),
            to: cur(to),
            rate: dec(rate),
            location: spot(line, 3, "rate"),
            from_location: spot(line, 1, "fromCurrency"),
            date: None,
        };
        let mut rates = vec![rate(0, "GBP", "1.3", 2)];
        let conversions = [
            conversion("GBP", "USD", "1.25", 10),
            conversion("JPY", "USD", "0.0065", 11),
            conversion("JPY", "USD", "0.0066", 12),
            conversion("CHF", "EUR", "1.05", 13),
        ];
        fill_conversions(&[base("USD")], &conversions, &mut rates);
        let filled: Vec<(Currency, Decimal, u64)> = rates
            .iter()
            .map(|r| (r.currency, r.rate, r.location.line))
            .collect();
        assert_eq!(
            filled,
            [(cur("GBP"), dec("1.3"), 2), (cur("JPY"), dec("0.0065"), 11)]
        );
    }
}
