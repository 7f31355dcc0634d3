//! The instruments a synthetic batch draws from, and their market data.

use std::ops::Range;

use chrono::{Days, NaiveDate};
use exfee_model::{
    Currency, Decimal, Exercise, FactorMapping, Instrument, InstrumentKind, MarketData,
    OptionRight, OptionTerms, Underlying,
};
use exfee_pricing::Right;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use rust_decimal::prelude::FromPrimitive;

/// FX rates (USD per unit) and interest rates of the synthetic market.
const CURRENCIES: [(&str, f64, f64); 10] = [
    ("USD", 1.0, 0.043),
    ("EUR", 1.08, 0.021),
    ("GBP", 1.27, 0.039),
    ("JPY", 0.0067, 0.005),
    ("CHF", 1.13, 0.002),
    ("CAD", 0.73, 0.027),
    ("AUD", 0.66, 0.036),
    ("HKD", 0.128, 0.035),
    ("SEK", 0.095, 0.022),
    ("SGD", 0.75, 0.024),
];

/// Stock markets: currency, symbol prefix, number of names, equity factor.
const STOCK_MARKETS: [(&str, &str, usize, &str); 8] = [
    ("USD", "US", 3000, "Equity"),
    ("EUR", "EU", 800, "European Equity"),
    ("GBP", "GB", 400, "United Kingdom Equity"),
    ("JPY", "JP", 600, "Japanese Equity"),
    ("HKD", "HK", 300, "Hong Kong Equity"),
    ("CAD", "CA", 300, "Equity"),
    ("CHF", "CH", 150, "Equity"),
    ("AUD", "AU", 250, "Australia Equity"),
];

/// ETFs: symbol, factor (`None`: the symbol is a factor's own), beta, price.
const ETFS: [(&str, Option<&str>, f64, f64); 8] = [
    ("SPY", Some("Equity"), 1.0, 680.0),
    ("QQQ", Some("Equity"), 1.2, 600.0),
    ("IWM", Some("Equity"), 1.15, 240.0),
    ("EEM", Some("Equity"), 1.1, 48.0),
    ("EWJ", Some("Japanese Equity"), 1.0, 75.0),
    ("XLE", Some("Oil (Crude Oil)"), 0.6, 90.0),
    ("TLT", None, 1.0, 92.0),
    ("GLD", None, 1.0, 245.0),
];

/// A listed future: root, currency, factor (`None`: the root is a factor's
/// own symbol), beta, multiplier, price, and the implied vol of options on
/// it (0: no options listed).
struct FutureSpec {
    root: &'static str,
    currency: &'static str,
    factor: Option<&'static str>,
    beta: f64,
    multiplier: f64,
    price: f64,
    option_vol: f64,
}

const fn future(
    root: &'static str,
    currency: &'static str,
    factor: Option<&'static str>,
    (beta, multiplier, price, option_vol): (f64, f64, f64, f64),
) -> FutureSpec {
    FutureSpec {
        root,
        currency,
        factor,
        beta,
        multiplier,
        price,
        option_vol,
    }
}

const FUTURES: [FutureSpec; 9] = [
    future("ES", "USD", Some("Equity"), (1.0, 50.0, 6800.0, 0.18)),
    future("NQ", "USD", Some("Equity"), (1.2, 20.0, 24000.0, 0.0)),
    future("CL", "USD", None, (1.0, 1000.0, 70.0, 0.38)),
    future("COIL", "USD", None, (1.0, 1000.0, 74.0, 0.0)),
    future(
        "GC",
        "USD",
        Some("Prec. Metals"),
        (1.0, 100.0, 2650.0, 0.17),
    ),
    future("SI", "USD", Some("Silver"), (1.0, 5000.0, 31.0, 0.0)),
    future("HG", "USD", Some("Ind. Metals"), (1.0, 25000.0, 4.2, 0.0)),
    future("N225", "JPY", None, (1.0, 1000.0, 48000.0, 0.0)),
    future("GBL", "EUR", None, (1.0, 1000.0, 128.0, 0.0)),
];

/// Coins: symbol, beta to Crypto, price.
const COINS: [(&str, f64, f64); 3] = [
    ("BTC", 1.0, 95000.0),
    ("ETH", 1.2, 3500.0),
    ("SOL", 1.5, 180.0),
];

/// Option expiries, in days from the valuation date.
const EXPIRIES: [u64; 4] = [30, 91, 182, 365];

/// How many of the (most popular) US stocks have listed options.
const OPTIONABLE: usize = 200;

/// The instruments and market data of a synthetic batch.
#[derive(Debug, Clone)]
pub struct Universe {
    instruments: Vec<Instrument>,
    stocks: Vec<(Currency, Range<usize>)>,
    etfs: Range<usize>,
    futures: Range<usize>,
    index_options: Range<usize>,
    stock_options: Range<usize>,
    future_options: Range<usize>,
    coins: Range<usize>,
    bonds: Range<usize>,
    market: MarketData,
    usd: Vec<(Currency, f64)>,
}

fn ccy(code: &str) -> Currency {
    code.parse().unwrap_or(Currency::USD)
}

fn price(value: f64, currency: Currency) -> Decimal {
    let places = if currency.as_str() == "JPY" { 0 } else { 2 };
    Decimal::from_f64(value)
        .unwrap_or_default()
        .round_dp(places)
}

fn mapping(factor: &str, beta: f64, idio_vol: f64) -> FactorMapping {
    FactorMapping {
        factor: factor.to_string(),
        beta,
        idio_vol: Some(idio_vol),
    }
}

struct Builder<'a> {
    universe: Universe,
    rng: ChaCha8Rng,
    date: NaiveDate,
    rates: &'a [(Currency, f64)],
}

impl Builder<'_> {
    fn push(&mut self, instrument: Instrument) -> usize {
        self.universe.instruments.push(instrument);
        self.universe.instruments.len() - 1
    }

    fn map(&mut self, symbol: &str, mapping: FactorMapping) {
        self.universe
            .market
            .factors
            .insert(symbol.to_string(), Ok(mapping));
    }

    fn underlying(
        &mut self,
        symbol: &str,
        currency: Currency,
        spot: f64,
        vol: f64,
        dividend_yield: f64,
    ) {
        self.universe.market.underlyings.insert(
            symbol.to_string(),
            Ok(Underlying {
                currency,
                price: price(spot, currency),
                implied_vol: Some(vol),
                dividend_yield,
            }),
        );
    }

    fn rate(&self, currency: Currency) -> f64 {
        self.rates
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(0.0, |(_, r)| *r)
    }

    /// Listed options on `underlying`: every strike × expiry × right, marked
    /// at the model price.
    #[allow(clippy::too_many_arguments)]
    fn options(
        &mut self,
        underlying: &str,
        currency: Currency,
        spot: f64,
        vol: f64,
        carry_yield: Option<f64>,
        multiplier: f64,
        strikes: &[f64],
        expiries: &[u64],
        exercise: Exercise,
    ) {
        let rate = self.rate(currency);
        for &days in expiries {
            let expiry = self
                .date
                .checked_add_days(Days::new(days))
                .unwrap_or(self.date);
            let t = days as f64 / 365.0;
            for &moneyness in strikes {
                let strike = (spot * moneyness).round().max(1.0);
                for (right, model_right) in [
                    (OptionRight::Call, Right::Call),
                    (OptionRight::Put, Right::Put),
                ] {
                    // carry_yield: Some(q) for stocks and indices (b = r − q), None for futures (b = 0).
                    let carry = carry_yield.map_or(0.0, |q| rate - q);
                    let value = match exercise {
                        Exercise::American => {
                            exfee_pricing::american(model_right, spot, strike, t, rate, carry, vol)
                        }
                        Exercise::European => {
                            exfee_pricing::gbs(model_right, spot, strike, t, rate, carry, vol)
                        }
                    };
                    let symbol = format!(
                        "{underlying} {} {}{strike}",
                        expiry.format("%y%m%d"),
                        if right == OptionRight::Call { 'C' } else { 'P' }
                    );
                    self.push(Instrument {
                        symbol,
                        kind: InstrumentKind::Option {
                            underlying: underlying.to_string(),
                            on_future: carry_yield.is_none(),
                            terms: OptionTerms {
                                strike: Decimal::from_f64(strike).unwrap_or_default(),
                                expiry,
                                right,
                                exercise,
                            },
                        },
                        currency,
                        multiplier: Decimal::from_f64(multiplier).unwrap_or(Decimal::ONE),
                        mark: price(value.max(0.01), currency),
                    });
                }
            }
        }
    }
}

impl Builder<'_> {
    /// Stocks of every market; returns the optionable US ones as (symbol,
    /// spot, vol) for [`Builder::stock_options`].
    fn stocks(&mut self) -> Vec<(String, f64, f64)> {
        let price_dist = LogNormal::new(60f64.ln(), 0.8).ok();
        let mut us_stocks = Vec::new();
        for (code, prefix, count, factor) in STOCK_MARKETS {
            let currency = ccy(code);
            let usd = self.universe.usd_per_unit(currency);
            let start = self.universe.instruments.len();
            for n in 0..count {
                let symbol = format!("{prefix}{n:04}");
                let usd_price = price_dist
                    .as_ref()
                    .map_or(60.0, |d| d.sample(&mut self.rng))
                    .clamp(1.0, 3000.0);
                let beta = self.rng.random_range(0.6..1.8);
                let idio = self.rng.random_range(0.15..0.6);
                let mark = price(usd_price / usd, currency);
                self.map(&symbol, mapping(factor, beta, idio));
                if currency == Currency::USD && n < OPTIONABLE {
                    let vol = ((beta * 0.18f64).powi(2) + idio * idio).sqrt();
                    us_stocks.push((symbol.clone(), usd_price, vol));
                }
                self.push(Instrument {
                    symbol,
                    kind: InstrumentKind::Stock,
                    currency,
                    multiplier: Decimal::ONE,
                    mark,
                });
            }
            let end = self.universe.instruments.len();
            self.universe.stocks.push((currency, start..end));
        }
        us_stocks
    }

    fn etfs(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        for (symbol, factor, beta, spot) in ETFS {
            if let Some(factor) = factor {
                self.map(symbol, mapping(factor, beta, 0.0));
            }
            self.push(Instrument {
                symbol: symbol.to_string(),
                kind: InstrumentKind::Stock,
                currency: Currency::USD,
                multiplier: Decimal::ONE,
                mark: price(spot, Currency::USD),
            });
        }
        start..self.universe.instruments.len()
    }

    /// Two expiries (28 and 119 days) of every listed future.
    fn futures(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        let date = self.date;
        for FutureSpec {
            root,
            currency,
            factor,
            beta,
            multiplier,
            price: spot,
            ..
        } in FUTURES
        {
            if let Some(factor) = factor {
                self.map(root, mapping(factor, beta, 0.0));
            }
            let currency = ccy(currency);
            for days in [28u64, 119] {
                let expiry = date.checked_add_days(Days::new(days)).unwrap_or(date);
                self.push(Instrument {
                    symbol: format!("{root}{}", expiry.format("%y%m")),
                    kind: InstrumentKind::Future {
                        underlying: root.to_string(),
                        expiry: Some(expiry),
                    },
                    currency,
                    multiplier: Decimal::from_f64(multiplier).unwrap_or(Decimal::ONE),
                    mark: price(spot, currency),
                });
            }
        }
        start..self.universe.instruments.len()
    }

    /// European options on the S&P 500 index.
    fn index_options(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        self.underlying("SPX", Currency::USD, 6800.0, 0.17, 0.013);
        self.options(
            "SPX",
            Currency::USD,
            6800.0,
            0.17,
            Some(0.013),
            100.0,
            &[0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1],
            &EXPIRIES,
            Exercise::European,
        );
        start..self.universe.instruments.len()
    }

    /// American options on the optionable US stocks.
    fn stock_options(&mut self, us_stocks: Vec<(String, f64, f64)>) -> Range<usize> {
        let start = self.universe.instruments.len();
        for (symbol, spot, vol) in us_stocks {
            self.underlying(&symbol, Currency::USD, spot, vol, 0.01);
            self.options(
                &symbol,
                Currency::USD,
                // The option's underlying price must be the stock's mark.
                price(spot, Currency::USD).try_into().unwrap_or(spot),
                vol,
                Some(0.01),
                100.0,
                &[0.8, 0.9, 1.0, 1.1, 1.2],
                &EXPIRIES,
                Exercise::American,
            );
        }
        start..self.universe.instruments.len()
    }

    /// American options on the futures that list them.
    fn future_options(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        for FutureSpec {
            root,
            currency,
            multiplier,
            price: spot,
            option_vol: vol,
            ..
        } in FUTURES
        {
            if vol > 0.0 {
                let currency = ccy(currency);
                self.underlying(root, currency, spot, vol, 0.0);
                self.options(
                    root,
                    currency,
                    spot,
                    vol,
                    None,
                    multiplier,
                    &[0.9, 1.0, 1.1],
                    &EXPIRIES[..2],
                    Exercise::American,
                );
            }
        }
        start..self.universe.instruments.len()
    }

    fn coins(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        for (symbol, beta, spot) in COINS {
            self.map(symbol, mapping("Crypto", beta, 0.0));
            self.push(Instrument {
                symbol: symbol.to_string(),
                kind: InstrumentKind::Crypto,
                currency: Currency::USD,
                multiplier: Decimal::ONE,
                mark: price(spot, Currency::USD),
            });
        }
        start..self.universe.instruments.len()
    }

    /// US Treasuries and German Bunds.
    fn bonds(&mut self) -> Range<usize> {
        let start = self.universe.instruments.len();
        for (prefix, code, factor, count) in [
            ("UST", "USD", "Treasury", 20),
            ("DBR", "EUR", "EuroBund", 5),
        ] {
            for n in 0..count {
                let symbol = format!("{prefix} {n:02}");
                let beta = self.rng.random_range(0.2..1.2);
                let clean = self.rng.random_range(88.0..106.0);
                self.map(&symbol, mapping(factor, beta, 0.0));
                self.push(Instrument {
                    symbol,
                    kind: InstrumentKind::Bond,
                    currency: ccy(code),
                    multiplier: Decimal::from(10),
                    mark: price(clean, ccy(code)),
                });
            }
        }
        start..self.universe.instruments.len()
    }
}

impl Universe {
    /// Builds the universe from `seed` (its own ChaCha8 stream, apart from
    /// the accounts'), with option expiries counted from `date`.
    pub fn new(seed: u64, date: NaiveDate) -> Universe {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        let rates: Vec<(Currency, f64)> = CURRENCIES.iter().map(|(c, _, r)| (ccy(c), *r)).collect();
        let mut market = MarketData::default();
        for (code, usd, rate) in CURRENCIES {
            market.fx.insert(
                ccy(code),
                Ok(Decimal::from_f64(usd).unwrap_or(Decimal::ONE)),
            );
            market.rates.insert(ccy(code), Ok(rate));
        }
        let universe = Universe {
            instruments: Vec::new(),
            stocks: Vec::new(),
            etfs: 0..0,
            futures: 0..0,
            index_options: 0..0,
            stock_options: 0..0,
            future_options: 0..0,
            coins: 0..0,
            bonds: 0..0,
            market,
            usd: CURRENCIES.iter().map(|(c, u, _)| (ccy(c), *u)).collect(),
        };
        let mut b = Builder {
            universe,
            rng,
            date,
            rates: &rates,
        };
        // In this order: the stocks and bonds draw from the stream.
        let us_stocks = b.stocks();
        b.universe.etfs = b.etfs();
        b.universe.futures = b.futures();
        b.universe.index_options = b.index_options();
        b.universe.stock_options = b.stock_options(us_stocks);
        b.universe.future_options = b.future_options();
        b.universe.coins = b.coins();
        b.universe.bonds = b.bonds();
        b.universe
    }

    /// The market data covering every instrument.
    pub fn market(&self) -> MarketData {
        self.market.clone()
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether the universe is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// Instrument `index`.
    pub fn instrument(&self, index: usize) -> &Instrument {
        &self.instruments[index]
    }

    /// USD per unit of `currency`.
    pub fn usd_per_unit(&self, currency: Currency) -> f64 {
        self.usd
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(1.0, |(_, u)| *u)
    }

    /// A currency of the market, uniformly.
    pub fn random_currency(&self, rng: &mut impl Rng) -> Currency {
        self.usd[rng.random_range(0..self.usd.len())].0
    }

    /// A popular-first index into `range`: low indices are drawn far more
    /// often (index = n × u³), as a few names carry most of the holdings.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 <= len × u³ < len: u is drawn from [0, 1)"
    )]
    fn skewed(range: &Range<usize>, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        range.start + ((range.len() as f64 * u * u * u) as usize).min(range.len().saturating_sub(1))
    }

    /// Draws a position worth about `target_usd` for an account with base
    /// `base`: the instrument's index and a signed quantity.
    pub fn draw_position(
        &self,
        rng: &mut impl Rng,
        target_usd: f64,
        base: Currency,
    ) -> (usize, f64) {
        let category: f64 = rng.random();
        let (index, short_probability) = if category < 0.55 {
            let home = self.stocks.iter().find(|(c, _)| *c == base);
            let range = match home {
                Some((_, range)) if rng.random_bool(0.55) => range,
                _ if rng.random_bool(0.6) => &self.stocks[0].1,
                _ => &self.stocks[rng.random_range(0..self.stocks.len())].1,
            };
            (Self::skewed(range, rng), 0.12)
        } else if category < 0.63 {
            (rng.random_range(self.etfs.clone()), 0.1)
        } else if category < 0.71 {
            (Self::skewed(&self.stock_options, rng), 0.45)
        } else if category < 0.74 {
            (rng.random_range(self.index_options.clone()), 0.45)
        } else if category < 0.75 {
            (rng.random_range(self.future_options.clone()), 0.45)
        } else if category < 0.80 {
            (rng.random_range(self.futures.clone()), 0.35)
        } else if category < 0.83 {
            (rng.random_range(self.coins.clone()), 0.05)
        } else if category < 0.87 {
            (rng.random_range(self.bonds.clone()), 0.0)
        } else {
            (Self::skewed(&self.stocks[0].1, rng), 0.12)
        };
        let instrument = &self.instruments[index];
        let usd = self.usd_per_unit(instrument.currency);
        let multiplier: f64 = instrument.multiplier.try_into().unwrap_or(1.0);
        // Size derivatives by the notional of their underlying.
        let unit_price: f64 = match &instrument.kind {
            InstrumentKind::Option { underlying, .. } => self
                .market
                .underlyings
                .get(underlying)
                .and_then(|u| u.as_ref().ok())
                .and_then(|u| f64::try_from(u.price).ok())
                .unwrap_or(1.0),
            _ => instrument.mark.try_into().unwrap_or(1.0),
        };
        let contract_usd = multiplier * unit_price * usd;
        if contract_usd > 2.0 * target_usd && !matches!(instrument.kind, InstrumentKind::Stock) {
            // One contract would dwarf the intended position: hold a
            // popular US stock instead, as a small account would.
            let index = Self::skewed(&self.stocks[0].1, rng);
            let mark: f64 = self.instruments[index].mark.try_into().unwrap_or(1.0);
            let sign = if rng.random_bool(0.12) { -1.0 } else { 1.0 };
            return (index, sign * (target_usd / mark).round().max(1.0));
        }
        let quantity = (target_usd / contract_usd).round().max(1.0);
        let sign = if rng.random_bool(short_probability) {
            -1.0
        } else {
            1.0
        };
        (index, sign * quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn universe() -> Universe {
        Universe::new(7, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
    }

    #[test]
    fn every_kind_of_instrument_is_there_in_its_count() {
        let u = universe();
        // Stocks 3000 + 800 + 400 + 600 + 300 + 300 + 150 + 250.
        let stocks: usize = u.stocks.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(stocks, 5_800);
        assert_eq!(u.etfs.len(), 8);
        // Nine futures, two expiries each.
        assert_eq!(u.futures.len(), 18);
        // SPX: 7 strikes × 4 expiries × 2 rights.
        assert_eq!(u.index_options.len(), 56);
        // 200 US stocks × 5 strikes × 4 expiries × 2 rights.
        assert_eq!(u.stock_options.len(), 8_000);
        // ES, CL, GC list options: 3 × 3 strikes × 2 expiries × 2 rights.
        assert_eq!(u.future_options.len(), 36);
        assert_eq!(u.coins.len(), 3);
        assert_eq!(u.bonds.len(), 25);
        assert_eq!(u.len(), 5_800 + 8 + 18 + 56 + 8_000 + 36 + 3 + 25);
        assert_eq!(u.instrument(0).symbol, "US0000");
        assert_eq!(u.instrument(u.etfs.start).symbol, "SPY");
        assert_eq!(u.instrument(u.bonds.end - 1).symbol, "DBR 04");
    }

    #[test]
    fn the_same_seed_builds_the_same_universe() {
        let (a, b) = (universe(), universe());
        assert_eq!(a.instruments, b.instruments);
        let c = Universe::new(8, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert_ne!(a.instruments, c.instruments);
    }

    #[test]
    fn options_are_marked_at_the_model_price_on_their_underlying() {
        let u = universe();
        let market = u.market();
        let option = u.instrument(u.index_options.start);
        let InstrumentKind::Option {
            underlying, terms, ..
        } = &option.kind
        else {
            panic!("an option");
        };
        assert_eq!(underlying, "SPX");
        // The first SPX option: 30 days, strike 0.8 × 6800 = 5440, a call.
        assert_eq!(terms.strike, Decimal::from(5440));
        assert_eq!(terms.right, OptionRight::Call);
        let value = exfee_pricing::gbs(
            Right::Call,
            6800.0,
            5440.0,
            30.0 / 365.0,
            0.043,
            0.043 - 0.013,
            0.17,
        );
        assert_eq!(option.mark, price(value, Currency::USD));
        assert!(market.underlyings.contains_key("SPX"));
        assert!(market.factors.contains_key("US0000"));
    }

    #[test]
    fn prices_keep_cents_but_yen_whole() {
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(price(1234.567, Currency::USD), Decimal::new(123457, 2));
        assert_eq!(price(1234.567, jpy), Decimal::from(1235));
        assert_eq!(universe().usd_per_unit(jpy), 0.0067);
    }

    #[test]
    fn draws_stay_in_the_universe_and_favour_popular_names() {
        let u = universe();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let range = 100..200;
        let mut low = 0;
        for _ in 0..1_000 {
            let i = Universe::skewed(&range, &mut rng);
            assert!(range.contains(&i));
            low += usize::from(i < 150);
        }
        // P(u³ < 1/2) = 0.5^(1/3) ≈ 0.79.
        assert!((740..=840).contains(&low), "{low}");
        for _ in 0..200 {
            let (index, quantity) = u.draw_position(&mut rng, 10_000.0, Currency::USD);
            assert!(index < u.len());
            assert!(quantity != 0.0 && quantity.fract() == 0.0);
        }
    }
}
