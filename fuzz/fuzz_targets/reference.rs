//! `cargo +nightly fuzz run reference`: see `ferry_fuzz::checks::reference` for what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::checks::reference(data));
