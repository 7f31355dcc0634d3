//! Synthetic nightly drops: realistic batches of any size for benchmarks,
//! throughput runs and tests, reproducible from a seed.
//!
//! A batch holds stocks in eight currencies, ETFs, index options (European)
//! and stock options (American), long and short, futures on equity indices,
//! oil, metals and bonds, options on futures, crypto coins, government bonds
//! and cash in many currencies, with heavy-tailed (Pareto) account sizes and
//! about 20 positions per account. Option marks are model prices at the
//! underlyings' implied volatilities, so re-centring moves them little.
//!
//! Account `i` is drawn from its own ChaCha8 stream (`seed`, stream `i`), so
//! the first `n` accounts of a larger batch are the accounts of a batch of
//! `n`, and generation is parallel yet reproducible. No IO happens here.
//!
//! # Examples
//!
//! ```
//! use exfee_synth::{SynthConfig, synthesize};
//! let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
//! let small = synthesize(&SynthConfig::new(10, 7, date));
//! let large = synthesize(&SynthConfig::new(20, 7, date));
//! assert_eq!(small.accounts.len(), 10);
//! assert_eq!(small.accounts[..], large.accounts[..10]);
//! ```

mod universe;

use chrono::NaiveDate;
use exfee_model::{AccountInput, Batch, CashBalance, Currency, Decimal, Position};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Pareto};
use rayon::prelude::*;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

pub use universe::Universe;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Number of accounts.
    pub accounts: usize,
    /// The seed; the same seed gives the same batch.
    pub seed: u64,
    /// Valuation date: option expiries are set from it.
    pub valuation_date: NaiveDate,
    /// Mean number of positions per account (default 20).
    pub mean_positions: f64,
}

impl SynthConfig {
    /// `accounts` accounts from `seed`, valued on `valuation_date`, 20
    /// positions per account on average.
    pub fn new(accounts: usize, seed: u64, valuation_date: NaiveDate) -> Self {
        SynthConfig {
            accounts,
            seed,
            valuation_date,
            mean_positions: 20.0,
        }
    }
}

/// Generates a batch: accounts, and market data (FX rates, factor mapping,
/// option underlyings, rates) that covers everything they hold.
pub fn synthesize(config: &SynthConfig) -> Batch {
    let universe = Universe::new(config.seed, config.valuation_date);
    let accounts = (0..config.accounts)
        .into_par_iter()
        .map(|i| account(&universe, config, i))
        .collect();
    Batch {
        accounts,
        market: universe.market(),
        errors: Vec::new(),
    }
}

/// Base currencies and their shares of accounts.
const BASES: [(&str, f64); 8] = [
    ("USD", 0.60),
    ("EUR", 0.12),
    ("GBP", 0.08),
    ("CHF", 0.04),
    ("JPY", 0.04),
    ("CAD", 0.04),
    ("AUD", 0.04),
    ("HKD", 0.04),
];

fn pick_base(u: f64) -> Currency {
    let mut acc = 0.0;
    for (code, share) in BASES {
        acc += share;
        if u < acc {
            return code.parse().unwrap_or(Currency::USD);
        }
    }
    Currency::USD
}

fn money(value: f64) -> Decimal {
    Decimal::from_f64(value).unwrap_or_default().round_dp(2)
}

fn account(universe: &Universe, config: &SynthConfig, index: usize) -> AccountInput {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(index as u64);
    let base = pick_base(rng.random());
    let base_usd = universe.usd_per_unit(base);
    // Heavy-tailed size: Pareto NLV from 20,000 USD, capped at 50 million.
    let nlv_usd = Pareto::new(20_000.0, 1.2)
        .map_or(20_000.0_f64, |p| p.sample(&mut rng))
        .min(50_000_000.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an exponential draw capped at 400: 0 to 400"
    )]
    let positions = 1 + Exp::new(1.0 / (config.mean_positions - 1.0).max(0.1))
        .map_or(0.0, |e| e.sample(&mut rng))
        .min(400.0) as usize;
    let leverage: f64 = rng.random_range(0.4..2.2);
    let mut account = AccountInput::new(format!("S{index:07}"), base);
    let mut invested_base = 0.0;
    let mut seen: Vec<usize> = Vec::with_capacity(positions);
    for _ in 0..positions {
        let target_usd = nlv_usd * leverage / positions as f64 * rng.random_range(0.3..1.7);
        let (instrument_index, quantity) = universe.draw_position(&mut rng, target_usd, base);
        if seen.contains(&instrument_index) {
            continue;
        }
        seen.push(instrument_index);
        let instrument = universe.instrument(instrument_index).clone();
        let value_usd = quantity
            * instrument.multiplier.to_f64().unwrap_or(1.0)
            * instrument.mark.to_f64().unwrap_or(0.0)
            * universe.usd_per_unit(instrument.currency);
        if !instrument.settles_daily() {
            invested_base += value_usd / base_usd;
        }
        account.positions.push(Position {
            instrument,
            quantity: Decimal::from_f64(quantity).unwrap_or_default(),
        });
    }
    // Cash makes up the NLV; a third of accounts also hold a foreign balance.
    let mut base_cash = nlv_usd / base_usd - invested_base;
    if rng.random_bool(0.33) {
        let foreign = universe.random_currency(&mut rng);
        if foreign != base {
            let amount_usd = nlv_usd * rng.random_range(-0.3..0.3);
            account.cash.push(CashBalance {
                currency: foreign,
                amount: money(amount_usd / universe.usd_per_unit(foreign)),
            });
            base_cash -= amount_usd / base_usd;
        }
    }
    account.cash.push(CashBalance {
        currency: base,
        amount: money(base_cash),
    });
    account
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    #[test]
    fn base_currencies_follow_their_shares() {
        // Cumulative shares: USD < 0.60 ≤ EUR < 0.72 ≤ GBP < 0.80 … HKD < 1.
        assert_eq!(pick_base(0.0), Currency::USD);
        assert_eq!(pick_base(0.59), Currency::USD);
        assert_eq!(pick_base(0.61).as_str(), "EUR");
        assert_eq!(pick_base(0.75).as_str(), "GBP");
        assert_eq!(pick_base(0.999).as_str(), "HKD");
        // Beyond the shares (never drawn): USD.
        assert_eq!(pick_base(1.5), Currency::USD);
    }

    #[test]
    fn money_is_rounded_to_cents() {
        assert_eq!(money(12.345_6), Decimal::new(1235, 2));
        assert_eq!(money(-0.004), Decimal::ZERO);
        assert_eq!(money(f64::NAN), Decimal::ZERO);
    }

    #[test]
    fn accounts_are_valid_and_their_cash_makes_up_a_positive_nlv() {
        let batch = synthesize(&SynthConfig::new(40, 11, date()));
        assert_eq!(batch.accounts.len(), 40);
        assert!(batch.errors.is_empty());
        for (i, account) in batch.accounts.iter().enumerate() {
            assert_eq!(account.id, format!("S{i:07}"));
            assert!(account.errors.is_empty());
            assert!(!account.positions.is_empty());
            // The base cash balance comes last.
            assert_eq!(
                account.cash.last().map(|c| c.currency),
                account.base_currency
            );
            // No instrument twice.
            let mut symbols: Vec<&str> = account
                .positions
                .iter()
                .map(|p| p.instrument.symbol.as_str())
                .collect();
            symbols.sort_unstable();
            symbols.dedup();
            assert_eq!(symbols.len(), account.positions.len());
            let nlv = exfee_model::net_liquidation_value(account, &batch.market).unwrap();
            assert!(nlv > Decimal::ZERO, "{}: {nlv}", account.id);
        }
    }

    #[test]
    fn seeds_give_their_own_batches() {
        let a = synthesize(&SynthConfig::new(5, 1, date()));
        let b = synthesize(&SynthConfig::new(5, 2, date()));
        assert_ne!(a.accounts, b.accounts);
        assert_eq!(
            a.accounts,
            synthesize(&SynthConfig::new(5, 1, date())).accounts
        );
    }
}
