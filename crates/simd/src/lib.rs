//! Which instruction set exfee's vector kernels run with: the widest one
//! the CPU has, capped by the `EXFEE_SIMD` environment variable.
//!
//! The aggregation kernel (`exfee-engine`), the option pricers
//! (`exfee-pricing`) and the scenario draws (`exfee-scenarios`) each have
//! AVX-512, AVX2 and baseline builds chosen at run time, and every build
//! gives the same bits. One rule picks the build for all of them:
//! [`widest`]. `EXFEE_SIMD=avx2` runs the AVX2 builds on an AVX-512
//! machine (to take the figures of an AVX2-only one); `EXFEE_SIMD=portable`
//! runs the baseline builds; `avx512` or no variable: no cap. The variable
//! is read once per process; [`check_env`] tells the command line about a
//! value it does not know (which otherwise caps nothing).
//!
//! Whether the CPU has a feature is `std`'s cached CPUID check; this crate
//! only adds the cap, so it has no `unsafe` code.

use std::sync::OnceLock;

/// The environment variable that caps the instruction set.
pub const ENV: &str = "EXFEE_SIMD";

/// An instruction-set level of the vector kernels, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// The target's baseline (SSE2 on x86-64).
    Portable,
    /// AVX2 (with FMA where a kernel needs it).
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl Isa {
    /// Lower-case name: `portable`, `avx2`, `avx512` (the values of
    /// `EXFEE_SIMD`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level named `text` (as [`Isa::name`], case-insensitive, spaces
    /// around ignored).
    pub fn parse(text: &str) -> Option<Isa> {
        let text = text.trim();
        [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(text))
    }

    /// Whether this CPU has the level's features (AVX2: AVX2 and FMA;
    /// AVX-512: AVX-512F, AVX2 and FMA), whatever the cap.
    pub fn on_cpu(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }

    /// Whether kernels may run this level here: the CPU has it and the
    /// cap allows it.
    pub fn allowed(self) -> bool {
        self <= cap() && self.on_cpu()
    }
}

/// The cap a value of `EXFEE_SIMD` sets: `Ok(None)` for no value (or an
/// empty one), `Err` with the value for one that names no level.
pub fn parse_cap(value: Option<&str>) -> Result<Option<Isa>, String> {
    match value {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => Isa::parse(text).map(Some).ok_or_else(|| text.to_string()),
    }
}

/// The cap of this process: `EXFEE_SIMD` read once (no value, or one that
/// names no level: [`Isa::Avx512`], no cap).
pub fn cap() -> Isa {
    static CAP: OnceLock<Isa> = OnceLock::new();
    *CAP.get_or_init(|| {
        let value = std::env::var(ENV).ok();
        parse_cap(value.as_deref())
            .ok()
            .flatten()
            .unwrap_or(Isa::Avx512)
    })
}

/// The level the kernels run with: the widest [`Isa::allowed`] one
/// (checked once).
pub fn widest() -> Isa {
    static WIDEST: OnceLock<Isa> = OnceLock::new();
    *WIDEST.get_or_init(|| {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|isa| isa.allowed())
            .unwrap_or(Isa::Portable)
    })
}

/// `Err` with a message when `EXFEE_SIMD` holds a value that names no
/// level (for the command line to refuse it rather than run uncapped).
pub fn check_env() -> Result<(), String> {
    let value = std::env::var(ENV).ok();
    parse_cap(value.as_deref()).map(|_| ()).map_err(|bad| {
        format!("{ENV}={bad:?} is not an instruction set: use portable, avx2 or avx512")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_order_narrowest_first() {
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn a_cap_is_a_known_level_or_nothing() {
        assert_eq!(parse_cap(None), Ok(None));
        assert_eq!(parse_cap(Some("")), Ok(None));
        assert_eq!(parse_cap(Some("avx2")), Ok(Some(Isa::Avx2)));
        assert_eq!(parse_cap(Some("Portable")), Ok(Some(Isa::Portable)));
        assert_eq!(parse_cap(Some("avx-2")), Err("avx-2".to_string()));
    }

    #[test]
    fn the_widest_level_is_allowed_and_within_the_cap() {
        let widest = widest();
        assert!(widest.allowed());
        assert!(widest <= cap());
        assert!(Isa::Portable.allowed());
        // Nothing wider than the chosen level is allowed.
        for isa in [Isa::Avx2, Isa::Avx512] {
            if isa > widest {
                assert!(!isa.allowed());
            }
        }
    }
}
