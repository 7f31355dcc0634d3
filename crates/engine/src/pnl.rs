//! Leg P&L: what one unit of a leg gains or loses, in base currency, under
//! each scenario of a block (linear legs priced from their driver's move,
//! options repriced by the batch pricers), and when only its stock moves or
//! nothing moves (the sparse single-stock scenarios).

use std::ops::Range;

use exfee_scenarios::MoveBlock;

use crate::leg::{Leg, LegDriver, LegKind, OptionLeg};

/// What the leg pricer reads of the moves of a range of scenarios: a
/// [`MoveBlock`], or the moves a set keeps read in place
/// ([`DrawsView`](crate::detail)). Columns are indexed from the range's
/// first scenario.
pub(crate) trait Moves {
    /// Moves of primary factor `index`.
    fn factor(&self, index: usize) -> &[f64];
    /// Moves of currency `index` (FX-table order).
    fn currency(&self, index: usize) -> &[f64];
    /// Own moves of single stock `index` (set order).
    fn stock(&self, index: usize) -> &[f64];
    /// Moves of the equity-volatility factor.
    fn vol(&self) -> &[f64];
    /// Number of scenarios.
    fn len(&self) -> usize;
}

impl Moves for MoveBlock {
    fn factor(&self, index: usize) -> &[f64] {
        MoveBlock::factor(self, index)
    }
    fn currency(&self, index: usize) -> &[f64] {
        MoveBlock::currency(self, index)
    }
    fn stock(&self, index: usize) -> &[f64] {
        MoveBlock::stock(self, index)
    }
    fn vol(&self) -> &[f64] {
        MoveBlock::vol(self)
    }
    fn len(&self) -> usize {
        MoveBlock::len(self)
    }
}

/// The relative price move of what a leg's driver tracks over scenarios
/// `cols` of the block: beta × factor move, plus a single stock's own move
/// with the total kept within the single-stock bounds; never below −100 %.
#[inline]
pub(crate) fn driver_move<M: Moves + ?Sized>(
    driver: &LegDriver,
    block: &M,
    cols: Range<usize>,
    lo: f64,
    hi: f64,
    out: &mut [f64],
) {
    let factor = &block.factor(driver.factor)[cols.clone()];
    match driver.stock {
        Some(stock) => {
            let own = &block.stock(stock)[cols];
            for ((m, &f), &own) in out.iter_mut().zip(factor).zip(own) {
                *m = (driver.beta * f + own).clamp(lo, hi);
            }
        }
        None => {
            for (m, &f) in out.iter_mut().zip(factor) {
                *m = (driver.beta * f).max(-1.0);
            }
        }
    }
}

/// Per-thread buffers of the leg pricer.
pub(crate) struct Scratch {
    pub(crate) zeros: Vec<f64>,
    pub(crate) spots: Vec<f64>,
    pub(crate) vols: Vec<f64>,
}

impl Scratch {
    pub(crate) fn new(len: usize) -> Self {
        Scratch {
            zeros: vec![0.0; len],
            spots: vec![0.0; len],
            vols: vec![0.0; len],
        }
    }
}

/// Single-stock bounds and the implied-vol floor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub lo: f64,
    pub hi: f64,
    pub vol_floor: f64,
}

/// P&L in base currency of one unit of the leg under each scenario of the
/// block.
pub(crate) fn price_leg<M: Moves + ?Sized>(
    leg: &Leg,
    block: &M,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    price_leg_cols(leg, block, 0..block.len(), bounds, scratch, out);
}

/// [`price_leg`] over scenarios `cols` of the block (`out` has their count).
pub(crate) fn price_leg_cols<M: Moves + ?Sized>(
    leg: &Leg,
    block: &M,
    cols: Range<usize>,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    if let Some(driver) = leg.kind.driver() {
        driver_move(driver, block, cols.clone(), bounds.lo, bounds.hi, out);
    }
    value_moved_leg(leg, block, cols, bounds, scratch, out);
}

/// [`price_leg_cols`] of a leg whose driver's moves over scenarios `cols`
/// are `moves` ([`driver_move`]): the same operations, reading the moves
/// where they are instead of a copy of them in `out` (linear legs and
/// futures; any other leg is copied and valued as [`value_moved_leg`]).
pub(crate) fn price_moved_leg<M: Moves + ?Sized>(
    leg: &Leg,
    moves: &[f64],
    block: &M,
    cols: Range<usize>,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    let rate = leg.rate;
    let value = match leg.kind {
        LegKind::Linear { value, .. } => Some((rate * value, true)),
        LegKind::Future { notional, .. } => Some((rate * notional, false)),
        _ => None,
    };
    match (value, leg.fx) {
        (Some((v, linear)), fx) => {
            let width = out.len();
            scratch.zeros.resize(width, 0.0);
            let fx: &[f64] = match fx {
                Some(i) => &block.currency(i)[cols],
                None => &scratch.zeros[..width],
            };
            let rows = out.iter_mut().zip(moves).zip(fx);
            if linear {
                for ((o, &m), &f) in rows {
                    *o = linear_pnl(v, m, f);
                }
            } else {
                for ((o, &m), &f) in rows {
                    *o = future_pnl(v, m, f);
                }
            }
        }
        (None, _) => {
            out.copy_from_slice(moves);
            value_moved_leg(leg, block, cols, bounds, scratch, out);
        }
    }
}

/// The rest of [`price_leg_cols`] once `out` holds the moves of the leg's
/// driver over scenarios `cols` ([`driver_move`]; ignored for cash).
pub(crate) fn value_moved_leg<M: Moves + ?Sized>(
    leg: &Leg,
    block: &M,
    cols: Range<usize>,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    let len = out.len();
    scratch.zeros.resize(len, 0.0);
    let fx: &[f64] = match leg.fx {
        Some(i) => &block.currency(i)[cols.clone()],
        None => &scratch.zeros[..len],
    };
    leg_value(
        leg,
        fx,
        &block.vol()[cols],
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        out,
    );
}

/// P&L in base currency of one unit of a stock-driven leg when only its
/// stock moves, by `own` (clamped to the single-stock bounds).
pub(crate) fn own_move_pnl(leg: &Leg, own: f64, bounds: Bounds, scratch: &mut Scratch) -> f64 {
    let mut out = [own.clamp(bounds.lo, bounds.hi)];
    leg_value(
        leg,
        &[0.0],
        &[0.0],
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        &mut out,
    );
    out[0]
}

/// [`still_pnl`] and [`own_move_pnl`] under each of `own`'s moves (the
/// stock-driven leg's own moves, unclamped) in one call of the leg's
/// pricer: returns the P&L when nothing moves and writes the own-move P&L
/// into `out` (one per move). Equal bit for bit to the separate calls: the
/// batch pricers price each scenario on its own, and the P&L when nothing
/// moves is the batch's first scenario (move 0), kept only where
/// [`still_pnl`] prices it (zero elsewhere).
pub(crate) fn still_and_own_pnl(
    leg: &Leg,
    horizon_days: u32,
    own: impl ExactSizeIterator<Item = f64>,
    bounds: Bounds,
    scratch: &mut Scratch,
    out: &mut Vec<f64>,
) -> f64 {
    let priced_still = match &leg.kind {
        LegKind::Option(option) => horizon_days > 0 || option.vol < bounds.vol_floor,
        _ => false,
    };
    out.clear();
    if own.len() == 0 && !priced_still {
        return 0.0;
    }
    out.push(0.0);
    out.extend(own.map(|m| m.clamp(bounds.lo, bounds.hi)));
    let len = out.len();
    scratch.zeros.clear();
    scratch.zeros.resize(len, 0.0);
    leg_value(
        leg,
        &scratch.zeros,
        &scratch.zeros,
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        out,
    );
    let still = out.remove(0);
    if priced_still { still } else { 0.0 }
}

/// P&L in base currency of one unit of the leg when nothing moves: zero
/// but for an option repriced at the horizon (its time decay). Only an
/// option can move without a move: aged by a horizon (`horizon_days` > 0),
/// or with an implied volatility below the floor the scenarios apply;
/// anything else is exactly zero and is not priced.
pub(crate) fn still_pnl(
    leg: &Leg,
    horizon_days: u32,
    bounds: Bounds,
    scratch: &mut Scratch,
) -> f64 {
    match &leg.kind {
        LegKind::Option(option) if horizon_days > 0 || option.vol < bounds.vol_floor => {}
        _ => return 0.0,
    }
    let mut out = [0.0];
    leg_value(
        leg,
        &[0.0],
        &[0.0],
        bounds.vol_floor,
        (&mut scratch.spots, &mut scratch.vols),
        &mut out,
    );
    out[0]
}

/// Turns the underlying moves in `out` into the leg's P&L per unit in base
/// currency: rate × (V_s × (1 + fx_s) − V_0), where V is the unit value in
/// the leg's currency (a future's V_0 is 0: its value is settled in cash; an
/// option's V_s is its mark plus the model's change, model(scenario) −
/// model(base), so that the base P&L is exactly zero). Cash ignores `out`.
fn leg_value(
    leg: &Leg,
    fx: &[f64],
    vol_moves: &[f64],
    vol_floor: f64,
    scratch: (&mut Vec<f64>, &mut Vec<f64>),
    out: &mut [f64],
) {
    let rate = leg.rate;
    match &leg.kind {
        LegKind::Cash => {
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = rate * f;
            }
        }
        LegKind::Linear { value, .. } => {
            let v = rate * value;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = linear_pnl(v, *o, f);
            }
        }
        LegKind::Future { notional, .. } => {
            let v = rate * notional;
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = future_pnl(v, *o, f);
            }
        }
        LegKind::Option(option) => {
            reprice(option, vol_moves, vol_floor, scratch, out);
            for (o, &f) in out.iter_mut().zip(fx) {
                *o = option_pnl(rate, option, *o, f);
            }
        }
    }
}

/// A linear leg's P&L in base currency, `v` its value (rate × value per
/// unit), under the move `m` of its driver and `fx` of its currency.
#[inline(always)]
fn linear_pnl(v: f64, m: f64, fx: f64) -> f64 {
    v * ((1.0 + m) * (1.0 + fx) - 1.0)
}

/// A future's P&L in base currency, `v` its notional (rate × notional per
/// unit), under the move `m` of its driver and `fx` of its currency.
#[inline(always)]
fn future_pnl(v: f64, m: f64, fx: f64) -> f64 {
    v * m * (1.0 + fx)
}

/// An option leg's P&L per unit in base currency from its model price `p`
/// under a scenario and the move `fx` of its currency: rate × ((V₀ + m ×
/// (p − model(base))) × (1 + fx) − V₀), V₀ being the position value per
/// unit as read (multiplier × mark).
#[inline(always)]
pub(crate) fn option_pnl(rate: f64, option: &OptionLeg, p: f64, fx: f64) -> f64 {
    let (m, v0, base) = (option.multiplier, option.value, option.model_base);
    rate * ((v0 + m * (p - base)) * (1.0 + fx) - v0)
}

/// Replaces the underlying moves in `out` by the option's model price under
/// each scenario: spot × (1 + move), implied vol × (1 + vol move) floored.
pub(crate) fn reprice(
    option: &OptionLeg,
    vol_moves: &[f64],
    vol_floor: f64,
    (spots, vols): (&mut Vec<f64>, &mut Vec<f64>),
    out: &mut [f64],
) {
    let len = out.len();
    spots.resize(len, 0.0);
    vols.resize(len, 0.0);
    let (spots, vols) = (&mut spots[..len], &mut vols[..len]);
    for (s, &m) in spots.iter_mut().zip(out.iter()) {
        *s = option.spot * (1.0 + m);
    }
    for (v, &dv) in vols.iter_mut().zip(vol_moves) {
        *v = (option.vol * (1.0 + dv)).max(vol_floor);
    }
    let priced = if option.american {
        exfee_pricing::price_american_batch(
            option.right,
            spots,
            option.strike,
            option.t,
            option.rate,
            option.carry,
            vols,
            out,
        )
    } else {
        exfee_pricing::price_european_batch(
            option.right,
            spots,
            option.strike,
            option.t,
            option.rate,
            option.carry,
            vols,
            out,
        )
    };
    // The three slices have the block's length by construction.
    debug_assert!(priced.is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{driver, leg, put};
    use exfee_pricing::{Right, gbs};

    fn option(american: bool) -> OptionLeg {
        put(
            american,
            100.0,
            gbs(Right::Put, 100.0, 100.0, 0.5, 0.03, 0.01, 0.2),
        )
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    const BOUNDS: Bounds = Bounds {
        lo: -0.6,
        hi: 0.5,
        vol_floor: 0.01,
    };

    fn value(leg: &Leg, moves: &[f64], fx: &[f64], vol_moves: &[f64]) -> Vec<f64> {
        let mut out = moves.to_vec();
        let mut scratch = Scratch::new(out.len());
        leg_value(
            leg,
            fx,
            vol_moves,
            0.01,
            (&mut scratch.spots, &mut scratch.vols),
            &mut out,
        );
        out
    }

    #[test]
    fn cash_moves_with_its_currency_only() {
        let cash = leg(LegKind::Cash, 1.25);
        // 1.25 × fx; the underlying "moves" are ignored.
        let out = value(&cash, &[9.0, 9.0], &[0.1, -0.2], &[0.0, 0.0]);
        assert!(close(out[0], 0.125, 1e-15) && close(out[1], -0.25, 1e-15));
    }

    #[test]
    fn a_linear_leg_gains_its_move_compounded_with_fx() {
        let stock = leg(
            LegKind::Linear {
                value: 50.0,
                driver: driver(Some(0)),
            },
            2.0,
        );
        // 100 × (1.1 × 1.05 − 1) = 15.5; 100 × (0.8 × 1 − 1) = −20.
        let out = value(&stock, &[0.1, -0.2], &[0.05, 0.0], &[0.0, 0.0]);
        assert!(close(out[0], 15.5, 1e-13) && close(out[1], -20.0, 1e-13));
    }

    #[test]
    fn a_future_gains_notional_times_move_in_its_currency() {
        let future = leg(
            LegKind::Future {
                notional: 1000.0,
                driver: driver(Some(0)),
            },
            0.5,
        );
        // 500 × 0.02 × 1.1 = 11.
        let out = value(&future, &[0.02], &[0.1], &[0.0]);
        assert!(close(out[0], 11.0, 1e-13));
    }

    #[test]
    fn an_option_gains_the_model_change_times_its_multiplier() {
        let put = leg(LegKind::Option(Box::new(option(false))), 1.0);
        // Spot 100 → 90, vol 20 % → 30 %; the textbook price as the oracle.
        let base = gbs(Right::Put, 100.0, 100.0, 0.5, 0.03, 0.01, 0.2);
        let moved = gbs(Right::Put, 90.0, 100.0, 0.5, 0.03, 0.01, 0.3);
        let out = value(&put, &[-0.1, 0.0], &[0.0, 0.0], &[0.5, 0.0]);
        assert!(close(out[0], 100.0 * (moved - base), 1e-9), "{out:?}");
        // Nothing moves: exactly zero (the base is priced by the same kernel).
        let put = leg(LegKind::Option(Box::new(option(false))), 1.0);
        let LegKind::Option(o) = &put.kind else {
            unreachable!()
        };
        let mut base_out = [0.0];
        exfee_pricing::price_european_batch(
            Right::Put,
            &[100.0],
            100.0,
            0.5,
            0.03,
            0.01,
            &[0.2],
            &mut base_out,
        )
        .unwrap();
        let mut zeroed = (**o).clone();
        zeroed.model_base = base_out[0];
        let put = leg(LegKind::Option(Box::new(zeroed)), 1.0);
        assert_eq!(value(&put, &[0.0], &[0.0], &[0.0]), vec![0.0]);
    }

    #[test]
    fn option_pnl_converts_a_model_price_worked_by_hand() {
        let mut o = option(false);
        o.model_base = 5.0;
        // rate 2 × ((600 + 100 × (7 − 5)) × 1.1 − 600) = 2 × (880 − 600) = 560.
        assert!(close(option_pnl(2.0, &o, 7.0, 0.1), 560.0, 1e-13));
    }

    #[test]
    fn an_own_move_is_clamped_to_the_single_stock_bounds() {
        let stock = leg(
            LegKind::Linear {
                value: 10.0,
                driver: driver(Some(0)),
            },
            1.0,
        );
        let mut scratch = Scratch::new(1);
        // +300 % is clamped to +50 %; −90 % to −60 %.
        assert!(close(
            own_move_pnl(&stock, 3.0, BOUNDS, &mut scratch),
            5.0,
            1e-14
        ));
        assert!(close(
            own_move_pnl(&stock, -0.9, BOUNDS, &mut scratch),
            -6.0,
            1e-14
        ));
    }

    #[test]
    fn one_batch_gives_the_still_and_own_move_pnl_of_the_separate_calls_bit_for_bit() {
        let mut low_vol = option(true);
        low_vol.vol = 0.005;
        let mut aged = option(true);
        aged.t = 0.4;
        let legs = [
            leg(LegKind::Option(Box::new(option(true))), 1.3),
            leg(LegKind::Option(Box::new(option(false))), 0.7),
            leg(LegKind::Option(Box::new(low_vol)), 1.0),
            leg(LegKind::Option(Box::new(aged)), 1.0),
            leg(
                LegKind::Linear {
                    value: 37.5,
                    driver: driver(Some(0)),
                },
                0.9,
            ),
            leg(
                LegKind::Future {
                    notional: -2500.0,
                    driver: driver(Some(0)),
                },
                1.1,
            ),
            leg(LegKind::Cash, 1.25),
        ];
        let move_sets: [&[f64]; 4] = [&[], &[-0.5], &[-0.5, 0.5], &[-3.0, 0.123, 0.9, -0.0]];
        let mut scratch = Scratch::new(1);
        let mut batch_scratch = Scratch::new(1);
        let mut out = Vec::new();
        for leg in &legs {
            for horizon in [0, 30] {
                for moves in move_sets {
                    let still = still_and_own_pnl(
                        leg,
                        horizon,
                        moves.iter().copied(),
                        BOUNDS,
                        &mut batch_scratch,
                        &mut out,
                    );
                    let oracle = still_pnl(leg, horizon, BOUNDS, &mut scratch);
                    assert_eq!(still.to_bits(), oracle.to_bits(), "{leg:?} {horizon}");
                    assert_eq!(out.len(), moves.len());
                    for (&m, &p) in moves.iter().zip(&out) {
                        let oracle = own_move_pnl(leg, m, BOUNDS, &mut scratch);
                        assert_eq!(p.to_bits(), oracle.to_bits(), "{leg:?} {m}");
                    }
                }
            }
        }
    }

    #[test]
    fn only_an_aged_or_floored_option_moves_when_nothing_moves() {
        let mut scratch = Scratch::new(1);
        let stock = leg(
            LegKind::Linear {
                value: 10.0,
                driver: driver(Some(0)),
            },
            1.0,
        );
        assert_eq!(still_pnl(&stock, 30, BOUNDS, &mut scratch), 0.0);
        let put = leg(LegKind::Option(Box::new(option(false))), 1.0);
        assert_eq!(still_pnl(&put, 0, BOUNDS, &mut scratch), 0.0);
        // Aged: the model priced at the scenario's time (t) against the base
        // priced at the base time (here the leg's base is the textbook price
        // at t = 0.5 and the scenarios price at t = 0.4).
        let mut aged = option(false);
        aged.t = 0.4;
        let base = aged.model_base;
        let put = leg(LegKind::Option(Box::new(aged)), 1.0);
        let later = gbs(Right::Put, 100.0, 100.0, 0.4, 0.03, 0.01, 0.2);
        let decay = still_pnl(&put, 36, BOUNDS, &mut scratch);
        assert!(close(decay, 100.0 * (later - base), 1e-9), "{decay}");
        assert!(decay < 0.0, "a put at the money loses time value");
    }
}
