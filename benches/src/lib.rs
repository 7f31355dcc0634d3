//! Criterion benchmarks of exfee; see `benches/`. The crate exists so the
//! benchmarks build apart from the published crates; its one module is the
//! reference kernel the aggregation is measured against
//! (`benches/kernel_reference.rs`).

// Hand-written SIMD intrinsics: the crate's only `unsafe`.
#[allow(unsafe_code)]
pub mod reference;
