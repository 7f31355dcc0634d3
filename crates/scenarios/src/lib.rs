//! Scenario sets for exfee: the moves of every primary risk factor, every
//! currency and every single stock, scenario by scenario.
//!
//! A [`ScenarioSet`] is a list of scenarios; the revaluation engine asks it
//! for the moves of a block of consecutive scenarios ([`MoveBlock`]) and never
//! holds the whole set in memory. No IO happens here.

mod fixed;
mod set;

pub use fixed::{FixedScenario, Shock, format_move};
pub use set::{MoveBlock, ScenarioSet, SingleStock};
