//! A synthetic daily price history with fat tails and volatility
//! clustering, for tests and the shipped example (`examples/history/`).
//!
//! Process (every choice documented in docs/methodology.md §13):
//!
//! - five latent factors — market M, oil O, rates R, gold G, dollar D — each
//!   a GARCH(1,1) with standardised Student-t(5) innovations:
//!   ε_t = σ_t·z_t, σ²_{t+1} = ω + α·ε_t² + β·σ²_t, α = 0.08, β = 0.90,
//!   ω = σ²_LR·(1 − α − β), z_t = T₅/√(5/3) (unit variance);
//! - each symbol's daily log return = Σ loading × factor shock + its own
//!   GARCH(1,1)-t(5) shock (same α, β; its own long-run volatility);
//! - the volatility index: ln VIX_{t+1} = ln VIX_t + 0.05·(ln 18 − ln VIX_t)
//!   − 0.06·z_M + 0.05·η (η standard normal): falls when the market rises;
//! - calendar: weekdays; US symbols skip 9 "holidays" a year (the same
//!   days for all), N225 its own 12; AMZN starts 250 days late;
//! - ChaCha8 seeded: same seed, same file.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, StudentT};

/// GARCH α.
const ALPHA: f64 = 0.08;
/// GARCH β.
const BETA: f64 = 0.90;
/// Degrees of freedom of the innovations.
const NU: f64 = 5.0;

struct Garch {
    var: f64,
    omega: f64,
}

impl Garch {
    fn new(annual_vol: f64) -> Garch {
        let long_run = annual_vol * annual_vol / 252.0;
        Garch {
            var: long_run,
            omega: long_run * (1.0 - ALPHA - BETA),
        }
    }

    /// The shock for standardised innovation z, then the variance update.
    fn step(&mut self, z: f64) -> f64 {
        let e = self.var.sqrt() * z;
        self.var = self.omega + ALPHA * e * e + BETA * self.var;
        e
    }
}

/// Where a symbol trades (its holidays).
#[derive(Clone, Copy, PartialEq)]
enum Market {
    Us,
    Japan,
    Fx,
}

struct Spec {
    symbol: &'static str,
    start: f64,
    /// Loadings on M, O, R, G, D.
    loadings: [f64; 5],
    own_vol: f64,
    market: Market,
    late_days: usize,
}

const fn spec(
    symbol: &'static str,
    start: f64,
    loadings: [f64; 5],
    own_vol: f64,
    market: Market,
) -> Spec {
    Spec {
        symbol,
        start,
        loadings,
        own_vol,
        market,
        late_days: 0,
    }
}

fn specs() -> Vec<Spec> {
    use Market::*;
    let mut v = vec![
        spec("SPX", 5300.0, [1.0, 0.0, 0.0, 0.0, 0.0], 0.01, Us),
        spec("SPY", 530.0, [1.0, 0.0, 0.0, 0.0, 0.0], 0.015, Us),
        spec("N225", 38_000.0, [0.7, 0.0, 0.0, 0.0, -0.3], 0.13, Japan),
        spec("CL", 78.0, [0.3, 1.0, 0.0, 0.0, 0.0], 0.05, Us),
        spec("TLT", 92.0, [-0.25, 0.0, 1.0, 0.0, 0.0], 0.02, Us),
        spec("GLD", 220.0, [0.05, 0.0, 0.2, 1.0, 0.3], 0.03, Us),
        spec("EUR.USD", 1.08, [0.05, 0.0, 0.0, 0.0, 1.0], 0.03, Fx),
        spec("USD.JPY", 155.0, [0.1, 0.0, -0.2, 0.0, -0.6], 0.06, Fx),
        spec("AAPL", 190.0, [1.15, 0.0, 0.0, 0.0, 0.0], 0.24, Us),
        spec("MSFT", 420.0, [1.05, 0.0, 0.0, 0.0, 0.0], 0.21, Us),
        spec("NVDA", 95.0, [1.7, 0.0, 0.0, 0.0, 0.0], 0.45, Us),
        spec("AMZN", 185.0, [1.25, 0.0, 0.0, 0.0, 0.0], 0.28, Us),
        spec("JPM", 200.0, [1.1, 0.0, 0.1, 0.0, 0.0], 0.22, Us),
        spec("UNH", 500.0, [0.7, 0.0, 0.0, 0.0, 0.0], 0.28, Us),
        spec("XOM", 115.0, [0.5, 0.4, 0.0, 0.0, 0.0], 0.2, Us),
        spec("XLE", 92.0, [0.6, 0.5, 0.0, 0.0, 0.0], 0.1, Us),
    ];
    for s in &mut v {
        if s.symbol == "AMZN" {
            s.late_days = 250;
        }
    }
    v
}

/// Long-run annual volatility of the factors M, O, R, G, D.
const FACTOR_VOLS: [f64; 5] = [0.17, 0.30, 0.13, 0.14, 0.07];

/// The most weekdays a synthetic history has (some 380 years; about 1.7
/// million rows, 50 MB of CSV, well under the 1 GiB `exfee calibrate`
/// reads).
pub const MAX_DAYS: usize = 100_000;

/// Why a synthetic history cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// `days` is 0 or more than [`MAX_DAYS`].
    #[error("the number of days must be 1 to {MAX_DAYS}, not {0}")]
    Days(usize),
    /// The calendar (chrono's, to +262142-12-31) ends before `days`
    /// weekdays from the start.
    #[error("only {got} weekdays from {start} to the end of the calendar ({end}); {days} asked")]
    CalendarEnd {
        /// The start asked.
        start: NaiveDate,
        /// The last date of the calendar.
        end: NaiveDate,
        /// Weekdays found.
        got: usize,
        /// Weekdays asked.
        days: usize,
    },
}

/// `days` weekdays from `start` (moved to the first weekday on or after
/// it), ascending.
///
/// # Errors
///
/// [`GenerateError`] when `days` is not 1 to [`MAX_DAYS`] or the calendar
/// ends first.
pub fn weekdays(start: NaiveDate, days: usize) -> Result<Vec<NaiveDate>, GenerateError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(GenerateError::Days(days));
    }
    let mut dates = Vec::with_capacity(days);
    let mut d = start;
    loop {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            dates.push(d);
        }
        if dates.len() == days {
            return Ok(dates);
        }
        d = d.succ_opt().ok_or(GenerateError::CalendarEnd {
            start,
            end: d,
            got: dates.len(),
            days,
        })?;
    }
}

/// Rows `(date, symbol, close)` of `days` weekdays from `start` (moved to
/// the first weekday on or after it), seeded.
///
/// # Errors
///
/// [`GenerateError`] from [`weekdays`].
pub fn synthetic_history(
    seed: u64,
    start: NaiveDate,
    days: usize,
) -> Result<Vec<(NaiveDate, String, f64)>, GenerateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t5 = StudentT::new(NU).unwrap_or_else(|_| unreachable!("ν = 5 is valid"));
    let scale = (NU / (NU - 2.0)).sqrt();
    let z = |rng: &mut ChaCha8Rng| -> f64 { t5.sample(rng) / scale };

    let dates = weekdays(start, days)?;
    // Holidays: a fixed draw per year and market.
    let holiday = |market: Market, date: NaiveDate| -> bool {
        let (n, salt) = match market {
            Market::Us => (9u64, 17u64),
            Market::Japan => (12, 29),
            Market::Fx => return false,
        };
        let day = u64::from(date.ordinal());
        let year = u64::from(date.year().unsigned_abs());
        (0..n).any(|i| {
            let mut h = year
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(salt * 1_000 + i);
            h ^= h >> 29;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 32;
            (h % 365) + 1 == day
        })
    };

    let specs = specs();
    let mut factors: Vec<Garch> = FACTOR_VOLS.iter().map(|v| Garch::new(*v)).collect();
    let mut own: Vec<Garch> = specs.iter().map(|s| Garch::new(s.own_vol)).collect();
    let mut log_price: Vec<f64> = specs.iter().map(|s| s.start.ln()).collect();
    let mut ln_vix = 15f64.ln();
    let mut rows = Vec::new();
    for (t, &date) in dates.iter().enumerate() {
        if t > 0 {
            let zf: Vec<f64> = (0..5).map(|_| z(&mut rng)).collect();
            let shocks: Vec<f64> = factors
                .iter_mut()
                .zip(&zf)
                .map(|(g, z)| g.step(*z))
                .collect();
            for (i, s) in specs.iter().enumerate() {
                let idio = own[i].step(z(&mut rng));
                let common: f64 = s.loadings.iter().zip(&shocks).map(|(l, e)| l * e).sum();
                log_price[i] += common + idio;
            }
            let eta: f64 = StandardNormal.sample(&mut rng);
            ln_vix += 0.05 * (18f64.ln() - ln_vix) - 0.06 * zf[0] + 0.05 * eta;
        }
        for (i, s) in specs.iter().enumerate() {
            if t < s.late_days || holiday(s.market, date) {
                continue;
            }
            rows.push((date, s.symbol.to_string(), log_price[i].exp()));
        }
        if !holiday(Market::Us, date) {
            rows.push((date, "VIX".to_string(), ln_vix.exp()));
        }
    }
    Ok(rows)
}

/// The rows as `date,symbol,close` CSV, closes to 6 significant digits.
pub fn history_csv(rows: &[(NaiveDate, String, f64)]) -> String {
    let mut out = String::from("date,symbol,close\n");
    for (date, symbol, close) in rows {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 0..=10"
        )]
        let digits = (5.0 - close.abs().log10().floor()).clamp(0.0, 10.0) as usize;
        out.push_str(&format!("{date},{symbol},{close:.digits$}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weekdays_skip_weekends_and_stop_at_the_calendars_end() {
        // 2024-06-01 is a Saturday: Mon 3 to Fri 7, then Mon 10.
        let got = weekdays(d("2024-06-01"), 6).unwrap();
        let want: Vec<NaiveDate> = ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06"]
            .into_iter()
            .chain(["2024-06-07", "2024-06-10"])
            .map(d)
            .collect();
        assert_eq!(got, want);
        assert_eq!(weekdays(d("2024-06-01"), 0), Err(GenerateError::Days(0)));
        assert_eq!(
            weekdays(d("2024-06-01"), MAX_DAYS + 1),
            Err(GenerateError::Days(MAX_DAYS + 1))
        );
        assert_eq!(
            weekdays(d("2024-06-03"), MAX_DAYS).map(|v| v.len()),
            Ok(MAX_DAYS)
        );
        // +262142-12-31, the calendar's last date (NaiveDate::MAX), is a
        // Monday: 262142 ≡ 2142 (mod 400), the Gregorian cycle of 146,097
        // days = 20,871 weeks, and 2142-12-31 is a Monday. One weekday,
        // then the calendar ends.
        let last = NaiveDate::MAX;
        assert_eq!(last.weekday(), Weekday::Mon);
        assert_eq!(weekdays(last, 1), Ok(vec![last]));
        assert_eq!(
            weekdays(last, 3),
            Err(GenerateError::CalendarEnd {
                start: last,
                end: last,
                got: 1,
                days: 3
            })
        );
        // From Friday the 28th: Friday, (the weekend,) Monday, no third.
        let fri = last - chrono::Days::new(3);
        assert_eq!(fri.weekday(), Weekday::Fri);
        assert_eq!(
            weekdays(fri, 3),
            Err(GenerateError::CalendarEnd {
                start: fri,
                end: last,
                got: 2,
                days: 3
            })
        );
    }
}
