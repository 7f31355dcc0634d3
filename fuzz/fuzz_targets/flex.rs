#![no_main]
//! cargo-fuzz target `flex`: see `exfee_fuzz_harness::flex`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::flex(data));
