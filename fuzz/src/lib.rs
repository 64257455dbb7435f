//! Fuzz entry points for every parser that reads outside input: request bodies, model names,
//! safetensors headers, config.json and GGUF files. Each takes arbitrary bytes and drives the
//! same public functions the daemon and the store call, returning `Ok` when the input was
//! accepted all the way and `Err(reason)` when it was refused; a panic is a bug.
//!
//! The functions live in `entry.rs`, which `tests/tests/fuzz_corpus.rs` also compiles (by path),
//! so stable `cargo test` replays the committed seeds and regressions without nightly.
#![forbid(unsafe_code)]

mod entry;

pub use entry::*;
