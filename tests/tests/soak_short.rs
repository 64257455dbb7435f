//! A short soak (80 requests, at most 45 s of mixed load) against the real `ollmlxd`: no
//! unexpected errors, no budget overshoot, no memory drift after unloading everything. The
//! long one is `cargo bench -p ollmlx-tests --bench soak` (docs/reliability.md).
use ollmlx_tests::soak::{self, Config};

#[test]
fn short_soak_keeps_every_must_be_zero_at_zero() {
    let report = soak::run(&Config { requests: 80, seconds: 45, workers: 3, seed: 7 }).expect("soak runs");
    println!("{}", report.table());
    let violations = report.violations();
    assert!(
        violations.is_empty(),
        "{violations:#?}\nproblems: {:#?}\n{}\ndaemon log: {}",
        report.stats.problems,
        report.table(),
        report.log
    );
    // The load really mixed what it claims to.
    let s = &report.stats;
    assert_eq!(s.requests, 80, "every planned request ran");
    assert!(s.per_endpoint.iter().all(|&n| n > 0), "all three endpoints: {:?}", s.per_endpoint);
    assert!(s.cancelled > 0 && s.streamed > s.cancelled, "streams and cancellations: {s:?}");
    assert!(s.peak_models == 2, "the budget holds two models and the load fills both: peak {}", s.peak_models);
}
