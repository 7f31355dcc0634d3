//! Rounding fractions to a per-position grid (a lot, or the precision).
//!
//! A grid is given by `per`, the number of grid steps in a whole position
//! (`1 / lot`, or `1 / precision`), rounded to a whole number when it is
//! within 1e-9 of one, so that grid points are `k / per`, correctly rounded
//! (`2 / 3`, not `2 × 0.333…`).

/// The grid steps per whole position for a step of `step` (in `(0, 1]`).
pub(crate) fn per(step: f64) -> f64 {
    let per = 1.0 / step;
    let whole = per.round();
    if (per - whole).abs() <= 1e-9 * per {
        whole
    } else {
        per
    }
}

/// How close (in grid steps) a value must be to a grid point to count as on
/// it: solver noise must not push a fraction one step up.
const SNAP: f64 = 1e-3;

/// The grid point `k / per`, with the top of the range read as exactly 1.
fn point(k: f64, per: f64) -> f64 {
    let value = k / per;
    if value >= 1.0 - 1e-12 {
        1.0
    } else if value <= 0.0 {
        0.0
    } else {
        value
    }
}

/// The smallest grid point at or above `x` (within [`SNAP`]).
pub(crate) fn up(x: f64, per: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        point((x * per - SNAP).ceil(), per)
    }
}

/// The largest grid point at or below `x` (within [`SNAP`]).
pub(crate) fn down(x: f64, per: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        point((x * per + SNAP).floor(), per)
    }
}

/// The nearest grid point.
pub(crate) fn nearest(x: f64, per: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        point((x * per).round(), per)
    }
}

/// The index of grid point `x` (which is on the grid or 1).
pub(crate) fn index(x: f64, per: f64) -> f64 {
    (x * per).round().min(per.ceil())
}

/// Grid point number `k`.
pub(crate) fn at(k: f64, per: f64) -> f64 {
    point(k, per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snaps_noise_and_rounds_up_otherwise() {
        let fine = per(1e-6);
        assert_eq!(fine, 1e6);
        let thirds = per(1.0 / 3.0);
        assert_eq!(thirds, 3.0);
        assert_eq!(up(0.7 + 1e-13, fine), 0.7);
        assert_eq!(up(2.0 / 3.0, fine), 0.666667);
        assert_eq!(down(2.0 / 3.0, fine), 0.666666);
        assert_eq!(nearest(2.0 / 3.0, fine), 0.666667);
        assert_eq!(up(0.34, thirds), 2.0 / 3.0);
        assert_eq!(up(0.9, thirds), 1.0);
        assert_eq!(down(0.9, thirds), 2.0 / 3.0);
        assert_eq!(up(0.2, 1.0), 1.0);
        assert_eq!(down(0.2, 1.0), 0.0);
        assert_eq!(up(-1e-15, fine), 0.0);
        assert_eq!(up(1.0 - 1e-15, per(0.1)), 1.0);
        assert_eq!(at(index(2.0 / 3.0, thirds) - 1.0, thirds), 1.0 / 3.0);
    }
}
