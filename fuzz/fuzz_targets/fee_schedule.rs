#![no_main]
//! cargo-fuzz target `fee_schedule`: see `exfee_fuzz_harness::fee_schedule`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::fee_schedule(data));
