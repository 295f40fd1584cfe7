//! `cargo +nightly fuzz run tar`: see `ferry_fuzz::checks::tar` for what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::checks::tar(data));
