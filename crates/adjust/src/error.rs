/// Why an adjustment could not be computed.
///
/// Every input is checked before any arithmetic: a NaN or an infinity in a
/// P&L vector, a cost or a limit is an error, never a panic or a silent NaN.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdjustError {
    /// A reduction was asked for an account with no position.
    #[error("there is no position to reduce")]
    NoPositions,
    /// The P&L vectors have no scenario.
    #[error("the scenario P&L vectors are empty")]
    NoScenarios,
    /// A position's P&L vector does not have one value per scenario (the first
    /// position's length sets the scenario count).
    #[error("position {position} has {found} scenario P&L values, expected {expected}")]
    PositionLength {
        /// The position's index.
        position: usize,
        /// The scenario count (the first position's length).
        expected: usize,
        /// The position's length.
        found: usize,
    },
    /// A vector that must have one value per position or per scenario does
    /// not.
    #[error("{what} has {found} values, expected {expected}")]
    LengthMismatch {
        /// Which input: `"costs"`, `"lots"`, `"fractions"`, `"hedge unit P&L"`.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// A position's P&L in a scenario is NaN or infinite.
    #[error("position {position} has a non-finite P&L in scenario {scenario}")]
    NonFinitePnl {
        /// The position's index.
        position: usize,
        /// The scenario's index.
        scenario: usize,
    },
    /// Another input value is NaN or infinite.
    #[error("{what} {index} is not a finite number")]
    NonFinite {
        /// Which input: `"cost"`, `"lot"`, `"fraction"`, `"limit"`,
        /// `"account P&L"`, `"hedge unit P&L"`.
        what: &'static str,
        /// Its index (0 for a single value such as the limit).
        index: usize,
    },
    /// The P&L of a scenario summed over positions (in absolute value)
    /// overflows `f64`.
    #[error("the P&L of scenario {scenario} overflows")]
    Overflow {
        /// The scenario's index.
        scenario: usize,
    },
    /// A cost is negative.
    #[error("the cost of position {position} is negative")]
    NegativeCost {
        /// The position's index.
        position: usize,
    },
    /// A lot is negative.
    #[error("the lot of position {position} is negative")]
    NegativeLot {
        /// The position's index.
        position: usize,
    },
    /// A fraction to close is outside `[0, 1]`.
    #[error("the fraction {fraction} of position {position} is outside [0, 1]")]
    FractionOutOfRange {
        /// The position's index.
        position: usize,
        /// The fraction given.
        fraction: f64,
    },
    /// The rounding precision is not in `[1e-12, 1]`.
    #[error("the precision {0} is not in [1e-12, 1]")]
    InvalidPrecision(f64),
    /// A tail average over zero scenarios.
    #[error("the tail average needs k of at least 1")]
    ZeroK,
    /// No reduction brings the measure down to the limit: the limit is below
    /// what closing positions can reach (with every position closed the
    /// measure is 0, so this needs a negative limit, or the greedy fallback
    /// got stuck). `lowest` is the lowest measure the greedy method reached.
    #[error("no reduction reaches the limit {limit}; the lowest measure found is {lowest}")]
    Unreachable {
        /// The limit asked for.
        limit: f64,
        /// The lowest measure found.
        lowest: f64,
    },
    /// The measure decreases without bound as the hedge grows (the hedge
    /// gains in every tail scenario): there is no best hedge.
    #[error("the measure decreases without bound along the hedge: there is no best hedge")]
    UnboundedHedge,
}
