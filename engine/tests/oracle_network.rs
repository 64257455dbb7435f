//! Token-level equality with mlx-lm on the same folders (no text side involved).
mod common;
use common::*;
use ollmlx_engine::{LoadOptions, Network, Sampler, SamplingParams, TokenStream};

const PROMPTS: &[&[u32]] = &[
    &[1, 9690, 198, 2683, 314, 260, 6933, 3110, 47, 2],
    &[504, 3250, 282, 4649, 314],
    &[17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40],
    &[1],
    &[28120, 905, 30, 1690, 4010, 28, 3595, 10887, 1183, 253, 1097, 16330, 30],
];

fn ours(net: &Network, prompt: &[u32], n: usize) -> (Vec<u32>, Vec<f32>) {
    let sampler = Sampler::new(SamplingParams::default()).unwrap();
    let mut s = TokenStream::new(net, prompt.to_vec(), sampler, None).unwrap();
    let logits = s.prefill().unwrap().to_vec::<f32>().unwrap();
    let tokens = (0..n).map(|i| s.next_token(i + 1 < n).unwrap()).collect();
    (tokens, logits)
}

fn check(name: &str, dequantize: bool, tol: f32) {
    let dir = model_dir(name);
    let net = Network::load(&dir, &LoadOptions::default()).unwrap();
    let prompts: Vec<Vec<u32>> = PROMPTS.iter().map(|p| p.to_vec()).collect();
    let want = oracle(&dir, &prompts, 64, dequantize);
    for (p, w) in prompts.iter().zip(&want) {
        let (tokens, logits) = ours(&net, p, 64);
        let rel = max_rel_diff(&logits, &w.logits);
        assert!(rel <= tol, "{name}: logits differ by {rel} (tolerance {tol}) for prompt {p:?}");
        assert_eq!(tokens, w.tokens, "{name}: greedy tokens differ for prompt {p:?}");
    }
}

#[test]
fn tiny_llama_f32_matches_mlx_lm() {
    check("tiny-llama-f32", true, 1e-4);
}

#[test]
fn smollm2_f32_matches_mlx_lm() {
    check("smollm2-135m-instruct-f32", true, 1e-4);
}
