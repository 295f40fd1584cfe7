//! `cargo +nightly fuzz run manifest`: see `ferry_fuzz::checks::manifest` for what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::checks::manifest(data));
