#![no_main]
//! cargo-fuzz target `fx_table`: see `exfee_fuzz_harness::fx_table`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::fx_table(data));
