#![no_main]
//! cargo-fuzz target `correlation`: see `exfee_fuzz_harness::correlation`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::correlation(data));
