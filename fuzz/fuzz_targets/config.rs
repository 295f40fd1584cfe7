//! `cargo +nightly fuzz run config`: see `ferry_fuzz::checks::config` for what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::checks::config(data));
