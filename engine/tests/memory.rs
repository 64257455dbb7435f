//! Loading and dropping a model gives every byte back to MLX. In its own test binary: MLX's
//! counters are per process, and other tests would load models concurrently.
mod common;
use common::*;
use ollmlx_engine::{GenerateParams, LoadOptions, Model};
use std::ops::ControlFlow;

fn run(m: &Model) -> usize {
    let mut n = 0;
    let params = GenerateParams { prompt: vec![1, 2, 3], max_tokens: Some(4), ignore_eos: true, ..Default::default() };
    m.generate(params, &mut |e| {
        if matches!(e, ollmlx_engine::Event::Token { .. }) {
            n += 1;
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    n
}

#[test]
fn loading_and_dropping_returns_memory() {
    let dir = model_dir("tiny-llama-q4g64");
    let warm = Model::load(&dir, &LoadOptions::default()).unwrap();
    drop(warm);
    ollmlx_engine::mlx::memory::clear_cache();
    let baseline = ollmlx_engine::mlx::memory::active();
    for _ in 0..20 {
        let m = Model::load(&dir, &LoadOptions::default()).unwrap();
        assert_eq!(run(&m), 4);
    }
    ollmlx_engine::mlx::memory::clear_cache();
    let after = ollmlx_engine::mlx::memory::active();
    assert!(after <= baseline + 64 * 1024, "MLX active memory grew from {baseline} to {after} over 20 loads");
}
