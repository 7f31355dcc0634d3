//! The one integer form of [`f64::total_cmp`]'s order, for the loops that
//! rank many values at once (the fee's worst-scenario measure, the reports'
//! worst scenarios and worst-loss lanes): comparing these keys as `i64` is
//! comparing the values with `total_cmp`.

/// `f64::total_cmp`'s key of a value's bits (`value.to_bits()` as `i64`):
/// the bits as a signed integer with the magnitude bits flipped when the
/// sign bit is set. `total_order_key(a) < total_order_key(b)` exactly when
/// `a.total_cmp(&b)` is `Less`. It is its own inverse, so the bits of the
/// value a largest key belongs to are `total_order_key(key)`.
///
/// # Examples
///
/// ```
/// use exfee_model::total_order_key;
/// let key = |x: f64| total_order_key(x.to_bits().cast_signed());
/// assert!(key(-0.0) < key(0.0));
/// assert!(key(f64::INFINITY) < key(f64::NAN));
/// assert_eq!(total_order_key(key(-2.5)), (-2.5_f64).to_bits().cast_signed());
/// ```
#[inline]
pub fn total_order_key(bits: i64) -> i64 {
    bits ^ ((bits >> 63).cast_unsigned() >> 1).cast_signed()
}

/// The largest of `values` under `f64::total_cmp`, found by plain
/// comparisons, when that is exact: `None` when some value is NaN or
/// infinite, when the largest is zero, or when there are none — the caller
/// then ranks [`total_order_key`]s instead.
///
/// Why it is exact otherwise: without NaN, `total_cmp`'s order differs from
/// the numeric one only between −0 and +0, and a nonzero number has one
/// representation. The numeric maximum is taken in eight independent lanes
/// (packed `max` instructions on any x86-64, where 64-bit integer maxima
/// are emulated on the baseline target), with a lane sum of `value × 0`
/// that turns NaN when any value is NaN or infinite.
#[inline]
pub fn exact_max(values: &[f64]) -> Option<f64> {
    exact_extreme(values, f64::NEG_INFINITY, |value, best| value > best)
}

/// [`exact_max`] for the least value.
#[inline]
pub fn exact_min(values: &[f64]) -> Option<f64> {
    exact_extreme(values, f64::INFINITY, |value, best| value < best)
}

#[inline]
fn exact_extreme(values: &[f64], start: f64, better: impl Fn(f64, f64) -> bool) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut lanes = [start; 8];
    let mut poison = [0.0_f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for j in 0..8 {
            let value = chunk[j];
            lanes[j] = if better(value, lanes[j]) {
                value
            } else {
                lanes[j]
            };
            poison[j] += value * 0.0;
        }
    }
    let mut best = start;
    let mut poisoned = 0.0;
    for &value in chunks.remainder() {
        best = if better(value, best) { value } else { best };
        poisoned += value * 0.0;
    }
    for j in 0..8 {
        best = if better(lanes[j], best) {
            lanes[j]
        } else {
            best
        };
        poisoned += poison[j];
    }
    (poisoned == 0.0 && best != 0.0).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::{exact_max, exact_min, total_order_key};

    /// Values of every kind: both zeros, both infinities, NaNs of both
    /// signs and other payloads, subnormals, the extremes, ordinary numbers.
    fn values() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff8_0000_0000_0042),
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
            0.1,
            -123_456.789,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..500 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            v.push(f64::from_bits(state));
        }
        v
    }

    #[test]
    fn keys_order_as_total_cmp_and_give_the_bits_back() {
        let values = values();
        for &a in &values {
            let ka = total_order_key(a.to_bits().cast_signed());
            assert_eq!(total_order_key(ka), a.to_bits().cast_signed());
            for &b in &values {
                let kb = total_order_key(b.to_bits().cast_signed());
                assert_eq!(ka.cmp(&kb), a.total_cmp(&b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn exact_extremes_are_total_cmps_or_none_when_it_could_differ() {
        let values = values();
        // Every window of the values (lengths 0 to 40, so every lane and
        // remainder position), and the finite ones alone.
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        for list in [&values, &finite] {
            for start in 0..list.len() {
                for len in 0..=40.min(list.len() - start) {
                    let window = &list[start..start + len];
                    let max = window.iter().copied().max_by(f64::total_cmp);
                    let min = window.iter().copied().min_by(f64::total_cmp);
                    let doubtful = |x: Option<f64>| {
                        window.iter().any(|v| !v.is_finite()) || x.is_none_or(|x| x == 0.0)
                    };
                    match exact_max(window) {
                        Some(x) => assert_eq!(Some(x.to_bits()), max.map(f64::to_bits)),
                        None => assert!(doubtful(max), "{window:?}"),
                    }
                    match exact_min(window) {
                        Some(x) => assert_eq!(Some(x.to_bits()), min.map(f64::to_bits)),
                        None => assert!(doubtful(min), "{window:?}"),
                    }
                }
            }
        }
        // A zero extreme is left to the keys (−0 and +0 rank apart there).
        assert_eq!(exact_max(&[-0.0, 0.0, -1.0]), None);
        assert_eq!(exact_min(&[0.0, -0.0, 1.0]), None);
        assert_eq!(exact_max(&[1.0, f64::NAN]), None);
        assert_eq!(exact_min(&[]), None);
        assert_eq!(exact_min(&[3.0, -2.5, 7.0]), Some(-2.5));
    }
}
