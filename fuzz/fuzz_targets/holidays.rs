#![no_main]
//! cargo-fuzz target `holidays`: see `exfee_fuzz_harness::holidays`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::holidays(data));
