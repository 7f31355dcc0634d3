//! An element-wise map over f64s compiled for the widest instruction set
//! the CPU runs (`exfee_simd::widest`), for the passes that the compiler
//! vectorises by itself once it may use AVX2 (the single stocks' own moves
//! through their bounds). Every build performs the same IEEE operations on
//! each value, so every build gives the same bits.

/// Replaces every value x of `values` by `f(x)`.
#[inline]
pub(crate) fn map(values: &mut [f64], f: impl Fn(f64) -> f64 + Copy) {
    #[cfg(target_arch = "x86_64")]
    {
        if exfee_simd::widest() >= exfee_simd::Isa::Avx2 {
            // SAFETY: `widest` yields AVX2 or wider only when the CPU has
            // AVX2.
            unsafe { map_avx2(values, f) };
            return;
        }
    }
    map_portable(values, f);
}

#[inline(always)]
fn map_portable(values: &mut [f64], f: impl Fn(f64) -> f64 + Copy) {
    for value in values.iter_mut() {
        *value = f(*value);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2(values: &mut [f64], f: impl Fn(f64) -> f64 + Copy) {
    map_portable(values, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_maps_every_value() {
        let values: Vec<f64> = (0..1001).map(|i| f64::from(i) * 0.37 - 150.0).collect();
        let f = |x: f64| (x * 0.25).clamp(-7.5, 9.0);
        let want: Vec<u64> = values.iter().map(|&x| f(x).to_bits()).collect();
        let mut got = values.clone();
        map(&mut got, f);
        assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want);
        let mut portable = values.clone();
        map_portable(&mut portable, f);
        assert_eq!(
            portable.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want
        );
        // Spot values worked out by hand: −150·¼ = −37.5 → −7.5;
        // 20·¼ = 5; 100·¼ = 25 → 9.
        assert_eq!(f(-150.0), -7.5);
        assert_eq!(f(20.0), 5.0);
        assert_eq!(f(100.0), 9.0);
    }
}
