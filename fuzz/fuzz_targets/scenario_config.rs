#![no_main]
//! cargo-fuzz target `scenario_config`: see `exfee_fuzz_harness::scenario_config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::scenario_config(data));
