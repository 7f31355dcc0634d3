//! Single-instrument hedges on hand-computed examples.

use exfee_adjust::{AdjustError, Measure, best_hedge, hedge};

/// A long stock: loses 300 in the down scenario, gains 200 in the up one.
const STOCK: [f64; 2] = [-300.0, 200.0];
/// One short future on it: gains 10 down, loses 10 up.
const SHORT_FUTURE: [f64; 2] = [10.0, -10.0];
/// One long future.
const LONG_FUTURE: [f64; 2] = [-10.0, 10.0];

#[test]
fn worst_loss_hedge_matches_the_hand_answer() {
    // losses with h units: s0 300 − 10h ≤ 100 → h ≥ 20;
    //                      s1 10h − 200 ≤ 100 → h ≤ 30.  Smallest |h|: 20.
    let h = hedge(&STOCK, &SHORT_FUTURE, 100.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert_eq!(h.units, 20.0);
    assert_eq!(h.measure_before, 300.0);
    assert_eq!(h.measure_after, 100.0);
    assert_eq!(h.whole_units, Some(20.0));
    assert_eq!(h.measure_after_whole, Some(100.0));
}

#[test]
fn the_sign_follows_the_instrument() {
    // with a long future as the unit, the same hedge is 20 sold
    let h = hedge(&STOCK, &LONG_FUTURE, 100.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert_eq!(h.units, -20.0);
    assert_eq!(h.whole_units, Some(-20.0));
    // a short stock is hedged by buying the long future:
    // losses −200 − 10h... s0: −300 + 10h ≤ 100 → h ≤ 40; s1: 200 − 10h ≤ 100 → h ≥ 10
    let short_stock = [300.0, -200.0];
    let h = hedge(&short_stock, &LONG_FUTURE, 100.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert_eq!(h.units, 10.0);
}

#[test]
fn a_fractional_answer_rounds_away_from_zero_when_it_can() {
    // s0: 305 − 10h ≤ 100 → h ≥ 20.5; s1: 10h − 200 ≤ 100 → h ≤ 30
    let h = hedge(&[-305.0, 200.0], &SHORT_FUTURE, 100.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert_eq!(h.units, 20.5);
    assert_eq!(h.whole_units, Some(21.0));
    assert_eq!(h.measure_after_whole, Some(95.0));
    // band [20.3, 20.8] holds no whole number
    let h = hedge(&[-303.0, 108.0], &SHORT_FUTURE, 100.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert!((h.units - 20.3).abs() <= 1e-12);
    assert!(h.measure_after <= 100.0);
    assert_eq!(h.whole_units, None);
    assert_eq!(h.measure_after_whole, None);
}

#[test]
fn within_the_limit_needs_no_hedge_and_unreachable_is_none() {
    let h = hedge(&STOCK, &SHORT_FUTURE, 300.0, Measure::Worst)
        .unwrap()
        .unwrap();
    assert_eq!(h.units, 0.0);
    assert_eq!(h.measure_after, 300.0);
    // s0 needs h ≥ 26, s1 h ≤ 24
    assert_eq!(hedge(&STOCK, &SHORT_FUTURE, 40.0, Measure::Worst), Ok(None));
    // an instrument that does not move in a losing scenario
    assert_eq!(
        hedge(&STOCK, &[0.0, -10.0], 100.0, Measure::Worst),
        Ok(None)
    );
}

#[test]
fn tail_average_hedge_matches_the_hand_answer() {
    // three scenarios, losses 300 − 10h, 10h − 200, 0; mean of the worst two.
    // For h ≤ 20 the worst two are s0 and s2: (300 − 10h)/2 ≤ 100 → h ≥ 10.
    let pnl = [-300.0, 200.0, 0.0];
    let measure = Measure::TailAverage { k: 2 };
    let h = hedge(&pnl, &[10.0, -10.0, 0.0], 100.0, measure)
        .unwrap()
        .unwrap();
    assert!((h.units - 10.0).abs() <= 1e-9, "{}", h.units);
    assert_eq!(h.measure_before, 150.0);
    assert!(h.measure_after <= 100.0);
    assert_eq!(h.whole_units, Some(10.0));
    // the other direction
    let h = hedge(&pnl, &[-10.0, 10.0, 0.0], 100.0, measure)
        .unwrap()
        .unwrap();
    assert!((h.units + 10.0).abs() <= 1e-9, "{}", h.units);
    // for 20 ≤ h ≤ 30 the worst two are s0 and s1, mean 50: nothing lower
    assert_eq!(hedge(&pnl, &[10.0, -10.0, 0.0], 40.0, measure), Ok(None));
}

#[test]
fn a_hedge_that_gains_everywhere_still_stops_at_the_limit() {
    // losses 300 − 10h, 100 − 10h, −50 − 10h: worst two mean 200 − 10h ≤ 100
    let pnl = [-300.0, -100.0, 50.0];
    let unit = [10.0, 10.0, 10.0];
    let h = hedge(&pnl, &unit, 100.0, Measure::TailAverage { k: 2 })
        .unwrap()
        .unwrap();
    assert!((h.units - 10.0).abs() <= 1e-9, "{}", h.units);
    let h = hedge(&pnl, &unit, 100.0, Measure::Worst).unwrap().unwrap();
    assert_eq!(h.units, 20.0);
    assert_eq!(
        best_hedge(&pnl, &unit, Measure::Worst),
        Err(AdjustError::UnboundedHedge)
    );
}

#[test]
fn best_hedge_minimises_the_measure() {
    // worst loss: max(300 − 10h, 10h − 200) is lowest at h = 25, 50
    let best = best_hedge(&STOCK, &SHORT_FUTURE, Measure::Worst).unwrap();
    assert!((best.units - 25.0).abs() <= 1e-6, "{}", best.units);
    assert!((best.measure_after - 50.0).abs() <= 1e-6);
    assert_eq!(best.whole_units, Some(25.0));
    // tail of two over three scenarios: 50 for every h in [20, 30]; the
    // smallest such h is 20
    let best = best_hedge(
        &[-300.0, 200.0, 0.0],
        &[10.0, -10.0, 0.0],
        Measure::TailAverage { k: 2 },
    )
    .unwrap();
    assert!((best.units - 20.0).abs() <= 1e-6, "{}", best.units);
    assert!((best.measure_after - 50.0).abs() <= 1e-6);
    // an instrument that never moves: no hedge
    let best = best_hedge(&STOCK, &[0.0, 0.0], Measure::Worst).unwrap();
    assert_eq!(best.units, 0.0);
    assert_eq!(best.measure_after, 300.0);
}

#[test]
#[allow(
    clippy::let_underscore_must_use,
    reason = "the extreme cases test only that no panic happens"
)]
fn bad_inputs_are_errors() {
    assert_eq!(
        hedge(&STOCK, &[1.0], 100.0, Measure::Worst),
        Err(AdjustError::LengthMismatch {
            what: "hedge unit P&L",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        hedge(&[f64::NAN, 1.0], &SHORT_FUTURE, 100.0, Measure::Worst),
        Err(AdjustError::NonFinite {
            what: "account P&L",
            index: 0
        })
    );
    assert_eq!(
        hedge(&STOCK, &[1.0, f64::INFINITY], 100.0, Measure::Worst),
        Err(AdjustError::NonFinite {
            what: "hedge unit P&L",
            index: 1
        })
    );
    assert_eq!(
        hedge(&STOCK, &SHORT_FUTURE, f64::NAN, Measure::Worst),
        Err(AdjustError::NonFinite {
            what: "limit",
            index: 0
        })
    );
    assert_eq!(
        hedge(&[], &[], 100.0, Measure::Worst),
        Err(AdjustError::NoScenarios)
    );
    assert_eq!(
        best_hedge(&STOCK, &SHORT_FUTURE, Measure::TailAverage { k: 0 }),
        Err(AdjustError::ZeroK)
    );
    // extreme but finite values do not panic
    let huge = [f64::MAX, -f64::MAX];
    let _ = hedge(&huge, &[f64::MIN_POSITIVE, -1.0], 0.0, Measure::Worst);
    let _ = hedge(
        &huge,
        &[f64::MIN_POSITIVE, 1.0],
        0.0,
        Measure::TailAverage { k: 2 },
    );
    let _ = best_hedge(
        &huge,
        &[f64::MIN_POSITIVE, -1.0],
        Measure::TailAverage { k: 1 },
    );
}
