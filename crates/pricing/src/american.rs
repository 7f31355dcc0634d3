//! The engine's American option pricer: the Andersen-Lake-Offengenden
//! integral-equation method ([`alo`](crate::alo)) through the vectorised
//! batch kernel (`batch.rs`), its exercise boundary tabulated per vol node;
//! Barone-Adesi-Whaley ([`baw`](crate::baw)) outside ALO's domain. One
//! scenario ([`american`]) or many ([`price_american_batch`]) give the same
//! bits. The scalar references are [`american_alo`](crate::american_alo)
//! (boundary solved at the exact vol), [`american_baw`](crate::american_baw)
//! and [`american_bs2002`](crate::american_bs2002) (Bjerksund-Stensland).

use crate::batch::{Kernel, LengthMismatch, american_batch_with, check_lengths};
use crate::right::Right;

/// American option price: the engine's model, the Andersen-Lake-Offengenden
/// (2016) integral-equation method ([`american_alo`](crate::american_alo)) as
/// priced by [`price_american_batch`](crate::price_american_batch) on a
/// one-element batch, so that a contract's base price and its scenario prices
/// come from the same formula, bit for bit.
///
/// Accuracy: over moneyness 0.7-1.3, vol 15-60 %, 3 months-2 years, r 0-8 %,
/// q 0-6 %, puts and calls, within `max(0.05 % of value, 1e-5 × strike)` of a
/// 2001-step Leisen-Reimer tree (the test `accuracy_grid_against_binomial_tree`;
/// measured worst 0.28 of that tolerance). Outside the method's domain (see
/// [`price_american_batch`](crate::price_american_batch)) the price is BAW's
/// ([`american_baw`]). Never below the European price or the intrinsic value.
///
/// Arguments as for [`gbs`]: spot `s`, strike `k`, time `t` in years, rate `r`,
/// cost of carry `b` (`r - q` for a stock with yield `q`, 0 for a future),
/// volatility `sigma`.
///
/// Cost: the first call for a contract's (r, q, T) solves the boundary at a
/// few vol nodes (about 0.2 ms each, cached for the process); price many
/// scenarios of one contract with the batch function.
///
/// # Examples
///
/// ```
/// use exfee_pricing::{Right, american, american_alo, gbs};
///
/// let put = american(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
/// assert!(put > gbs(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2));
/// let exact = american_alo(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.2);
/// assert!((put - exact).abs() < 1e-4 * exact);
/// ```
pub fn american(right: Right, s: f64, k: f64, t: f64, r: f64, b: f64, sigma: f64) -> f64 {
    let mut out = [0.0];
    american_batch_with(
        Kernel::detect(),
        right,
        &[s],
        k,
        t,
        r,
        b,
        &[sigma],
        &mut out,
    );
    out[0]
}

/// Prices one American contract under many scenarios with the
/// Andersen-Lake-Offengenden (2016) method: `out[i]` is
/// [`american_alo`](crate::american_alo)`(right, spots[i], k, t, r, b, vols[i])`
/// up to the interpolation below, and [`american`](crate::american) is this
/// function on a one-element batch.
///
/// # Method
///
/// The contract is worked as a put with strike 1 (a call by put-call symmetry
/// with `r` and `q = r - b` swapped), whose exercise boundary does not depend
/// on the spot. At the nodes of a **fixed** vol grid (128 intervals uniform in
/// `ln σ` from 0.005 to 5, only the nodes around the vols present) the
/// boundary is solved by ALO's fixed-point iteration and the early-exercise
/// premium integral is tabulated against `ζ = (ln x − ln b(T)) / (σ√T)`, the
/// distance from the boundary in standard deviations, on 65 nodes
/// `ζ = 0, 0.125, …, 8`. Node tables are a pure function of (r, q, T, σ) and
/// are cached for the process, so every contract with the same rates and
/// expiry shares them, across blocks and threads. Each scenario is then
/// priced by a branch-free formula vectorised like [`price_european_batch`]
/// (same run-time choice of AVX-512 / AVX2+FMA / portable kernel):
/// the European price plus the premium, bicubic (Lagrange) in `(ζ, ln σ)`,
/// the intrinsic value on the exercise side of the interpolated boundary,
/// floored at `max(European, intrinsic)`.
///
/// A scenario's price depends only on its own spot and vol (and the
/// contract): the nodes are fixed and each node's table is computed from its
/// own σ alone, so a one-element batch gives bit for bit the price that
/// scenario gets in any batch.
///
/// Outside the method's domain the price is BAW's (the interpolated-boundary
/// BAW kernel of earlier versions, or the scalar
/// [`american_baw`](crate::american_baw)): a put with `r <= 0` or a call with
/// `q <= 0` (no early exercise, or the negative-rate corners), `r` or `|q|`
/// above 100 %, `T` outside `[1e-4, 100]` years, and vol nodes with
/// `σ√T < 0.01` or `σ√T < |r − q| T` (drift-dominated: the premium would
/// reach beyond the table). Scenarios with a vol outside `[0.005, 5]`, a spot
/// outside `[1e-150, 1e150]`, or a grid node outside the domain are priced by
/// the scalar [`american_alo`](crate::american_alo).
///
/// # Accuracy
///
/// Against the scalar [`american_alo`](crate::american_alo) (boundary solved
/// at the scenario's vol): within `max(2e-4 × value, 1e-5 × strike)`, tested
/// on every kernel over moneyness 0.05-20, vols across the grid, maturities
/// 1 day to 30 years, both rights and several `(r, b)`. Against a 2001-step
/// binomial tree on the grid moneyness 0.7-1.3, vol 15-60 %, 3 months-2
/// years, r 0-8 %, q 0-6 %: within `max(0.05 % of value, 1e-5 × strike)`.
///
/// # Errors
///
/// [`LengthMismatch`] if `spots`, `vols` and `out` differ in length; `out` is
/// then left unchanged.
///
/// # Examples
///
/// ```
/// use exfee_pricing::{Right, american, american_alo, price_american_batch};
///
/// let spots = [80.0, 100.0];
/// let vols = [0.25, 0.3];
/// let mut out = [0.0; 2];
/// price_american_batch(Right::Put, &spots, 100.0, 1.0, 0.05, 0.05, &vols, &mut out)?;
/// assert_eq!(out[0], american(Right::Put, 80.0, 100.0, 1.0, 0.05, 0.05, 0.25));
/// let exact = american_alo(Right::Put, 100.0, 100.0, 1.0, 0.05, 0.05, 0.3);
/// assert!((out[1] - exact).abs() < 1e-4 * exact);
/// # Ok::<(), exfee_pricing::LengthMismatch>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn price_american_batch(
    right: Right,
    spots: &[f64],
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    vols: &[f64],
    out: &mut [f64],
) -> Result<(), LengthMismatch> {
    check_lengths(spots, vols, out)?;
    american_batch_with(Kernel::detect(), right, spots, k, t, r, b, vols, out);
    Ok(())
}
