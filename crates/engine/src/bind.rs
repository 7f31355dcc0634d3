//! Binding a prepared batch's legs to a scenario set: each single stock
//! re-indexed to the set's, each factor and currency checked against the
//! set's tables.

use exfee_scenarios::ScenarioSet;

use crate::leg::Leg;
use crate::prepare::Prepared;
use crate::result::EngineError;

/// The batch's legs with their single stocks re-indexed to `set`'s (only
/// the legs `keep` selects are bound; the others are left as they are).
pub(crate) fn bind_legs(
    prepared: &Prepared,
    set: &ScenarioSet,
    keep: impl Fn(usize) -> bool,
) -> Result<Vec<Leg>, EngineError> {
    let stock_map = stock_map(prepared, set)?;
    let mut legs = prepared.legs.clone();
    for (index, leg) in legs.iter_mut().enumerate() {
        if keep(index) {
            bind_leg(leg, set, &stock_map)?;
        }
    }
    Ok(legs)
}

/// Legs `wanted` (indices into the batch's legs) bound to `set` as
/// [`bind_legs`] binds them, in the order of `wanted`; only these are
/// copied.
pub(crate) fn bind_some_legs(
    prepared: &Prepared,
    set: &ScenarioSet,
    wanted: &[usize],
) -> Result<Vec<Leg>, EngineError> {
    bind_some_legs_mapped(prepared, set, &stock_map(prepared, set)?, wanted)
}

/// [`bind_some_legs`] with the batch's [`stock_map`] to `set` made once by
/// the caller (binding chunk after chunk of legs to one set).
pub(crate) fn bind_some_legs_mapped(
    prepared: &Prepared,
    set: &ScenarioSet,
    stock_map: &[usize],
    wanted: &[usize],
) -> Result<Vec<Leg>, EngineError> {
    wanted
        .iter()
        .map(|&index| {
            let mut leg = prepared
                .legs
                .get(index)
                .cloned()
                .ok_or(EngineError::TableMismatch)?;
            bind_leg(&mut leg, set, stock_map)?;
            Ok(leg)
        })
        .collect()
}

/// Where each single stock of the batch is in `set`.
pub(crate) fn stock_map(prepared: &Prepared, set: &ScenarioSet) -> Result<Vec<usize>, EngineError> {
    prepared
        .stocks
        .iter()
        .map(|s| {
            set.stock_index(&s.symbol)
                .ok_or_else(|| EngineError::MissingStock(s.symbol.clone()))
        })
        .collect()
}

/// Re-indexes one leg's stock to `set`'s, checking its factor and currency.
fn bind_leg(leg: &mut Leg, set: &ScenarioSet, stock_map: &[usize]) -> Result<(), EngineError> {
    let factor_count = set.factor_table().factors().len();
    let fx_count = set.fx_table().currencies().len();
    if leg.fx.is_some_and(|i| i >= fx_count) {
        return Err(EngineError::TableMismatch);
    }
    if let Some(driver) = leg.kind.driver_mut() {
        if driver.factor >= factor_count {
            return Err(EngineError::TableMismatch);
        }
        driver.stock = driver.stock.map(|i| stock_map[i]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leg::LegKind;
    use crate::testkit::{fixed_set, leg, linear, prepared};

    #[test]
    fn a_legs_stock_is_re_indexed_to_the_sets() {
        // The batch holds MSFT only (its stock 0); the set moves AAPL, MSFT.
        let p = prepared(
            vec![],
            vec![linear(1.0, Some(0)), leg(LegKind::Cash, 1.0)],
            &["MSFT"],
        );
        let set = fixed_set(&["AAPL", "MSFT"]);
        let legs = bind_legs(&p, &set, |_| true).unwrap();
        assert_eq!(legs[0].kind.driver().unwrap().stock, Some(1));
        assert!(legs[1].kind.driver().is_none());
        // Only the legs asked for are bound, in the order asked.
        let some = bind_some_legs(&p, &set, &[1, 0]).unwrap();
        assert_eq!(some[1].kind.driver().unwrap().stock, Some(1));
        assert_eq!(some[0].kind, LegKind::Cash);
        assert_eq!(
            bind_some_legs(&p, &set, &[2]).unwrap_err(),
            EngineError::TableMismatch
        );
        let unbound = bind_legs(&p, &set, |i| i != 0).unwrap();
        assert_eq!(unbound[0].kind.driver().unwrap().stock, Some(0));
    }

    #[test]
    fn a_set_without_the_batchs_stock_or_its_tables_is_refused() {
        let p = prepared(vec![], vec![linear(1.0, Some(0))], &["TSLA"]);
        let set = fixed_set(&["AAPL"]);
        assert_eq!(
            bind_legs(&p, &set, |_| true).unwrap_err(),
            EngineError::MissingStock("TSLA".into())
        );
        // A factor beyond the set's table (which has one primary factor).
        let mut far = linear(1.0, None);
        if let LegKind::Linear { driver, .. } = &mut far.kind {
            driver.factor = 1;
        }
        let p = prepared(vec![], vec![far], &[]);
        assert_eq!(
            bind_legs(&p, &set, |_| true).unwrap_err(),
            EngineError::TableMismatch
        );
        // A currency beyond the set's FX table (which is empty).
        let mut cash = leg(LegKind::Cash, 1.0);
        cash.fx = Some(0);
        let p = prepared(vec![], vec![cash], &[]);
        assert_eq!(
            bind_legs(&p, &set, |_| true).unwrap_err(),
            EngineError::TableMismatch
        );
    }
}
