#![no_main]
//! cargo-fuzz target `drop_files`: see `exfee_fuzz_harness::drop_files`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exfee_fuzz_harness::drop_files(data));
