//! `cargo +nightly fuzz run model_name`: see [`ollmlx_fuzz::model_name`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Refusals are the expected outcome for most inputs; only a panic, abort, leak or hang is a finding.
    let _ = ollmlx_fuzz::model_name(data);
});
