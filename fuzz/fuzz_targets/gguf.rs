//! `cargo +nightly fuzz run gguf`: see [`ollmlx_fuzz::gguf`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Refusals are the expected outcome for most inputs; only a panic, abort, leak or hang is a finding.
    let _ = ollmlx_fuzz::gguf(data);
});
