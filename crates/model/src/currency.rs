use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency code: three ASCII letters, held upper case. The
/// text may be all upper or all lower case; mixed case is refused, being
/// the market's notation of a minor unit (`GBp` pence, `ZAc` cents, `ILa`
/// agorot), which read as its major unit would value a price 100 times
/// too high.
///
/// Whether a code is *known* is a question for the market data (does it have
/// an FX rate?), not for this type.
///
/// # Examples
///
/// ```
/// use exfee_model::Currency;
/// let eur: Currency = "eur".parse().unwrap();
/// assert_eq!(eur.as_str(), "EUR");
/// assert!("EURO".parse::<Currency>().is_err());
/// assert!("GBp".parse::<Currency>().is_err());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Why a text is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a currency code ({why})")]
pub struct CurrencyError {
    text: String,
    why: &'static str,
}

impl Currency {
    /// The US dollar, the unit of `market/fx.csv` rates.
    pub const USD: Currency = Currency(*b"USD");

    /// The code as text, e.g. `"EUR"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.trim().as_bytes();
        let error = |why| {
            Err(CurrencyError {
                text: text.to_string(),
                why,
            })
        };
        let [a, b, c] = bytes else {
            return error("three letters, e.g. USD");
        };
        if !bytes.iter().all(u8::is_ascii_alphabetic) {
            return error("three letters, e.g. USD");
        }
        let upper = bytes.iter().all(u8::is_ascii_uppercase);
        let lower = bytes.iter().all(u8::is_ascii_lowercase);
        if !upper && !lower {
            return error(
                "mixed case is the notation of a minor unit, as GBp for pence: give the \
                 amount in the major unit, with the code in capitals",
            );
        }
        Ok(Currency([
            a.to_ascii_uppercase(),
            b.to_ascii_uppercase(),
            c.to_ascii_uppercase(),
        ]))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!("usd".parse::<Currency>().unwrap(), Currency::USD);
        assert_eq!(" JPY ".parse::<Currency>().unwrap().as_str(), "JPY");
    }

    #[test]
    fn rejects_non_codes() {
        for bad in ["", "US", "USDT", "U$D", "12A", "ÉUR"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?} accepted");
        }
    }

    /// `GBp` is pence and `ZAc` South African cents: read as GBP and ZAR
    /// they value a price 100 times too high.
    #[test]
    fn refuses_the_mixed_case_of_minor_units() {
        for bad in ["GBp", "ZAc", "ILa", "gBP", "Usd", "usD"] {
            let error = bad.parse::<Currency>().unwrap_err().to_string();
            assert!(error.contains("minor unit"), "{bad:?}: {error}");
        }
        assert_eq!("gbp".parse::<Currency>().unwrap().as_str(), "GBP");
        assert_eq!("GBP".parse::<Currency>().unwrap().as_str(), "GBP");
    }
}
