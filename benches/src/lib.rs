//! Criterion benchmarks of exfee; see `benches/`. Nothing is exported: the
//! crate exists so the benchmarks build apart from the published crates.
