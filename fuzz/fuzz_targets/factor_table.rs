#![no_main]
//! cargo-fuzz target `factor_table`: see `exfee_fuzz_harness::factor_table`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::factor_table(data));
