//! End-to-end tests across crates (see `tests/`), and the soak harness they share with the
//! `soak` bench: [`soak::run`] drives a real `ollmlxd` under mixed load and reports what must
//! stay zero (docs/reliability.md).
pub mod soak;
