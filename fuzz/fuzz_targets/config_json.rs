//! `cargo +nightly fuzz run config_json`: see [`ollmlx_fuzz::config_json`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Refusals are the expected outcome for most inputs; only a panic, abort, leak or hang is a finding.
    let _ = ollmlx_fuzz::config_json(data);
});
