//! End-to-end tests that drive the real ollmlxd binary over HTTP. See tests/ in this crate.
