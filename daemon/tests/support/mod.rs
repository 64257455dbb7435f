//! Test support for the corpus and crash tests (beside `common`, which the other daemon tests
//! share): raw HTTP, a restartable daemon on one store, generated models (the loopback hub is
//! `ollmlx-testhub`).
#![allow(dead_code)]

pub mod model;
pub mod proc;
pub mod raw;
