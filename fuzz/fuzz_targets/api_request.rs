//! `cargo +nightly fuzz run api_request`: see [`ollmlx_fuzz::api_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Refusals are the expected outcome for most inputs; only a panic, abort, leak or hang is a finding.
    let _ = ollmlx_fuzz::api_request(data);
});
