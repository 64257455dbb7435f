//! Test support for the corpus and crash tests (beside `common`, which the other daemon tests
//! share): raw HTTP, a restartable daemon on one store, a loopback hub, generated models.
#![allow(dead_code)]

pub mod hub;
pub mod model;
pub mod proc;
pub mod raw;
