//! The exercise right of an option.

/// Whether an option is a call (right to buy) or a put (right to sell).
///
/// # Examples
///
/// ```
/// use exfee_pricing::{Right, gbs};
///
/// let call = gbs(Right::Call, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
/// let put = gbs(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
/// assert!(call > put);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Right {
    /// The right to buy the underlying at the strike.
    Call,
    /// The right to sell the underlying at the strike.
    Put,
}

impl Right {
    /// `+1.0` for a call, `-1.0` for a put (Haug's φ).
    #[inline]
    pub(crate) fn sign(self) -> f64 {
        match self {
            Right::Call => 1.0,
            Right::Put => -1.0,
        }
    }

    /// Exercise value `max(φ (s - k), 0)`.
    #[inline]
    pub(crate) fn intrinsic(self, s: f64, k: f64) -> f64 {
        match self {
            Right::Call => (s - k).max(0.0),
            Right::Put => (k - s).max(0.0),
        }
    }
}
