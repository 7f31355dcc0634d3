//! The test oracle shared by the American pricers' tests: an independent
//! binomial tree (no boundary, no integral equation).

use crate::Right;

/// Leisen-Reimer (1996) binomial American price with `n` (odd) steps: an
/// independent reference (no boundary, no integral equation).
#[allow(clippy::too_many_arguments)]
pub(crate) fn leisen_reimer(
    right: Right,
    s: f64,
    k: f64,
    t: f64,
    r: f64,
    b: f64,
    sigma: f64,
    n: usize,
) -> f64 {
    let pp2 = |z: f64| {
        let nn = n as f64;
        let a = z / (nn + 1.0 / 3.0 + 0.1 / (nn + 1.0));
        0.5 + z.signum() * 0.5 * (1.0 - (-a * a * (nn + 1.0 / 6.0)).exp()).sqrt()
    };
    let v = sigma * t.sqrt();
    let d1 = ((s / k).ln() + (b + 0.5 * sigma * sigma) * t) / v;
    let dt = t / n as f64;
    let (p, p1) = (pp2(d1 - v), pp2(d1));
    let growth = (b * dt).exp();
    let up = growth * p1 / p;
    let down = (growth - p * up) / (1.0 - p);
    let disc = (-r * dt).exp();
    let ratio = up / down;
    let mut values: Vec<f64> = Vec::with_capacity(n + 1);
    let mut spot = s * down.powi(n as i32);
    for _ in 0..=n {
        values.push(right.intrinsic(spot, k));
        spot *= ratio;
    }
    for step in (0..n).rev() {
        let mut spot = s * down.powi(step as i32);
        for j in 0..=step {
            let cont = disc * (p * values[j + 1] + (1.0 - p) * values[j]);
            values[j] = cont.max(right.intrinsic(spot, k));
            spot *= ratio;
        }
    }
    values[0]
}
