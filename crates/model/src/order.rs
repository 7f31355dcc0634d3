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

#[cfg(test)]
mod tests {
    use super::total_order_key;

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
}
