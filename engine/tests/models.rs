//! Every architecture against mlx-lm, token for token, on the tiny random-weight fixtures
//! (`.cache/models/tiny`, made by `tests/fixtures/make_tiny_models.py`), plus mlx-lm-style runner
//! checks (shapes, dtypes, one cached decode step, batch 2) and bad-input errors.
//!
//! Policies compared, one oracle process per folder:
//! - "f32": our CPU policy (quantized weights expanded, everything float32) against
//!   `oracle.py --dequantize-f32`: equal greedy tokens, first-step logits within 1e-4 relative;
//! - "stored" (every folder that is not plain float32): weights kept as stored
//!   (`dequantize: Some(false)`) against mlx-lm as it loads the folder: equal greedy tokens,
//!   logits within 2e-2 (bf16/f16 arithmetic), on fewer prompts and tokens (see [`runs`]).
mod common;
use common::*;
use ollmlx_engine::mlx::{Array, Dtype};
use ollmlx_engine::{EngineError, LoadOptions, Network, Sampler, SamplingParams, TokenStream};
use std::path::Path;

/// Greedy tokens compared per prompt under the f32 policy.
const MAX_TOKENS: usize = 64;
/// Greedy tokens compared per prompt under the stored policy.
const STORED_TOKENS: usize = 12;

/// Prompts as token ids; the last two are longer than the 16-token sliding windows of the
/// fixtures, so rotating caches wrap during prefill and again while decoding.
fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![1, 9690, 198, 2683, 314, 260, 6933, 3110, 47, 2],
        vec![1],
        vec![
            28120, 905, 30, 1690, 4010, 28, 3595, 10887, 1183, 253, 1097, 16330, 30,
        ],
        (17..34).collect(),
        (0..48u32).map(|i| (i * 7919 + 13) % 49152).collect(),
    ]
}

fn options(mode: &str) -> LoadOptions {
    let dequantize = if mode == "stored" { Some(false) } else { None };
    LoadOptions { dequantize }
}

/// Our greedy tokens and first-step logits (as f32).
fn ours(net: &Network, prompt: &[u32], n: usize) -> (Vec<u32>, Vec<f32>) {
    let sampler = Sampler::new(SamplingParams::default()).unwrap();
    let mut s = TokenStream::new(net, prompt.to_vec(), sampler, None).unwrap();
    let logits = s
        .prefill()
        .unwrap()
        .astype(Dtype::Float32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let tokens = (0..n).map(|i| s.next_token(i + 1 < n).unwrap()).collect();
    (tokens, logits)
}

/// The index entry of a fixture folder.
fn index_entry(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(".cache/models/tiny/index.json"))
        .expect(".cache/models/tiny/index.json missing: run scripts/setup.sh");
    let index: serde_json::Value = serde_json::from_str(&text).unwrap();
    let models = index["models"].as_array().unwrap();
    models
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in index.json"))
        .clone()
}

/// The oracle runs with OpenBLAS preloaded; so must we, or float32 sums differ in the last bits
/// and near-tied greedy picks flip. Calling `blas_info` also keeps OpenBLAS linked (under
/// `--as-needed` with section GC nothing else references it).
fn same_blas_as_the_oracle() {
    let info = ollmlx_engine::mlx::blas_info();
    if Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0").exists() {
        assert!(
            info.to_lowercase().contains("openblas"),
            "engine BLAS is {info:?}, the oracle's is OpenBLAS"
        );
    }
}

/// The runs of one folder: the f32 policy on every prompt for [`MAX_TOKENS`] tokens, and, unless
/// the folder is plain float32, the stored policy on three prompts (short, single-token and
/// longer than the window) for [`STORED_TOKENS`] tokens: MLX's CPU kernels for quantized and
/// half-precision matmuls are 5-20x slower than f32 BLAS, and both sides pay it.
fn runs<'a>(name: &str, all: &'a [Vec<u32>], stored: &'a [Vec<u32>]) -> Vec<OracleRun<'a>> {
    let entry = index_entry(name);
    let mut runs = vec![OracleRun {
        mode: "f32",
        prompts: all,
        max_tokens: MAX_TOKENS,
    }];
    if entry["dtype"] != "float32" || !entry["bits"].is_null() {
        runs.push(OracleRun {
            mode: "stored",
            prompts: stored,
            max_tokens: STORED_TOKENS,
        });
    }
    runs
}

/// Compares our answers under each run's policy with mlx-lm's; returns every mismatch.
fn compare(dir: &Path, runs: &[OracleRun]) -> Vec<String> {
    same_blas_as_the_oracle();
    let want = oracle_modes(dir, runs);
    let mut failures = Vec::new();
    for run in runs {
        let mode = run.mode;
        let tol = if mode == "f32" { 1e-4 } else { 2e-2 };
        let net = match Network::load(dir, &options(mode)) {
            Ok(net) => net,
            Err(e) => {
                failures.push(format!("{mode}: load failed: {e}"));
                continue;
            }
        };
        for (p, w) in run.prompts.iter().zip(&want[mode]) {
            let (tokens, logits) = ours(&net, p, run.max_tokens);
            let rel = max_rel_diff(&logits, &w.logits);
            if rel > tol {
                failures.push(format!(
                    "{mode}: logits differ by {rel:.3e} (tolerance {tol:e}) for a {}-token prompt",
                    p.len()
                ));
            }
            if let Some(i) = tokens.iter().zip(&w.tokens).position(|(a, b)| a != b) {
                failures.push(format!(
                    "{mode}: token {i} differs ({} vs mlx-lm {}) for a {}-token prompt",
                    tokens[i],
                    w.tokens[i],
                    p.len()
                ));
            }
        }
    }
    failures
}

/// Checks one fixture folder under each policy.
fn check_folder(name: &str) {
    let all = prompts();
    let stored: Vec<Vec<u32>> = [0, 1, 4].iter().map(|&i| all[i].clone()).collect();
    let failures = compare(&model_dir(name), &runs(name, &all, &stored));
    assert!(failures.is_empty(), "{name}:\n  {}", failures.join("\n  "));
}

macro_rules! oracle_tests {
    ($($test:ident => $folder:literal),* $(,)?) => {
        $(#[test] fn $test() { check_folder($folder); })*
        /// Every folder with an oracle test.
        const CHECKED: &[&str] = &[$($folder),*];
    };
}

oracle_tests! {
    llama_f32 => "tiny-llama-f32",
    llama_q4g64 => "tiny-llama-q4g64",
    llama_f16 => "tiny-llama-f16",
    llama_bf16 => "tiny-llama-bf16",
    llama_q2g32 => "tiny-llama-q2g32",
    llama_q3g128 => "tiny-llama-q3g128",
    llama_q4g32_f16 => "tiny-llama-q4g32-f16",
    llama_q4g128 => "tiny-llama-q4g128",
    llama_q5g64 => "tiny-llama-q5g64",
    llama_q6g128 => "tiny-llama-q6g128",
    llama_q8g32 => "tiny-llama-q8g32",
    llama_q8g64_f16 => "tiny-llama-q8g64-f16",
    llama_mixed_q4g64 => "tiny-llama-mixed-q4g64",
    llama_untied_f32 => "tiny-llama-untied-f32",
    llama_untied_q4g64 => "tiny-llama-untied-q4g64",
    mistral_f32 => "tiny-mistral-f32",
    mistral_q4g64 => "tiny-mistral-q4g64",
    qwen2_f32 => "tiny-qwen2-f32",
    qwen2_q4g64 => "tiny-qwen2-q4g64",
    qwen3_f32 => "tiny-qwen3-f32",
    qwen3_q4g64 => "tiny-qwen3-q4g64",
    gemma_f32 => "tiny-gemma-f32",
    gemma_q4g64 => "tiny-gemma-q4g64",
    gemma2_f32 => "tiny-gemma2-f32",
    gemma2_q4g64 => "tiny-gemma2-q4g64",
    gemma3_text_f32 => "tiny-gemma3_text-f32",
    gemma3_text_q4g64 => "tiny-gemma3_text-q4g64",
    phi3_f32 => "tiny-phi3-f32",
    phi3_q4g64 => "tiny-phi3-q4g64",
}

#[test]
fn every_fixture_has_an_oracle_test() {
    let text = std::fs::read_to_string(root().join(".cache/models/tiny/index.json")).unwrap();
    let index: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !CHECKED.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "fixtures without an oracle test: {missing:?}"
    );
}

fn ids(tokens: &[u32], batch: usize) -> Array {
    Array::from_slice(tokens, &[batch, tokens.len() / batch]).unwrap()
}

fn f32s(a: &Array) -> Vec<f32> {
    a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap()
}

fn hidden_of(net: &Network, tokens: &[u32], batch: usize) -> Array {
    let mut cache = net.make_cache();
    net.hidden(&ids(tokens, batch), &mut cache).unwrap()
}

/// mlx-lm's `test_models` checks for one folder: logits shape and dtype, a cached decode step
/// equal to the uncached forward, and a batch of two equal to two single rows. The last two
/// compare final hidden states (the head is row-wise; skipping it keeps quantized runs fast).
fn run_arch(name: &str, mode: &str, dtype: Dtype, tol: f32) {
    let net = Network::load(&model_dir(name), &options(mode)).unwrap();
    let (vocab, width) = (net.info().vocab_size, net.info().hidden_size);
    // 20 prompt tokens, more than the fixtures' 16-token windows, then one decode step.
    let a: Vec<u32> = (0..21u32).map(|i| (i * 131 + 7) % 49152).collect();
    let b: Vec<u32> = (0..20u32).map(|i| (i * 977 + 3) % 49152).collect();

    let mut cache = net.make_cache();
    let prefill = net.forward(&ids(&a[..20], 1), &mut cache).unwrap();
    assert_eq!(
        prefill.shape(),
        vec![1, 20, vocab],
        "{name}: prefill logits shape"
    );
    assert_eq!(prefill.dtype(), dtype, "{name}: logits dtype");
    let step = net.hidden(&ids(&a[20..], 1), &mut cache).unwrap();
    assert_eq!(
        step.shape(),
        vec![1, 1, width],
        "{name}: decode-step hidden shape"
    );
    assert_eq!(
        cache.iter().map(|c| c.offset()).collect::<Vec<_>>(),
        vec![21; cache.len()],
        "{name}: cache offsets"
    );
    let full = hidden_of(&net, &a, 1);
    let rel = max_rel_diff(&f32s(&step), &f32s(&full.slice_axis(1, 20, 21).unwrap()));
    assert!(
        rel <= tol,
        "{name}: cached step differs from the uncached forward by {rel}"
    );

    let both: Vec<u32> = a[..20].iter().chain(&b).copied().collect();
    let batch = hidden_of(&net, &both, 2);
    assert_eq!(
        batch.shape(),
        vec![2, 20, width],
        "{name}: batch hidden shape"
    );
    for (row, seq) in [&a[..20], &b[..]].into_iter().enumerate() {
        let rel = max_rel_diff(
            &f32s(&batch.slice_axis(0, row, row + 1).unwrap()),
            &f32s(&hidden_of(&net, seq, 1)),
        );
        assert!(
            rel <= tol,
            "{name}: batch row {row} differs from its single forward by {rel}"
        );
    }
}

macro_rules! runner_tests {
    ($($test:ident => $arch:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            run_arch(concat!("tiny-", $arch, "-f32"), "f32", Dtype::Float32, 1e-4);
            run_arch(concat!("tiny-", $arch, "-q4g64"), "stored", Dtype::Bfloat16, 2e-2);
        }
    )*};
}

runner_tests! {
    runner_llama => "llama",
    runner_mistral => "mistral",
    runner_qwen2 => "qwen2",
    runner_qwen3 => "qwen3",
    runner_gemma => "gemma",
    runner_gemma2 => "gemma2",
    runner_gemma3_text => "gemma3_text",
    runner_phi3 => "phi3",
}

/// A copy of a fixture folder (weights symlinked unless `weights` replaces them).
fn copy_fixture(name: &str, dst: &Path) {
    let src = model_dir(name);
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let to = dst.join(path.file_name().unwrap());
        if path.extension().is_some_and(|e| e == "safetensors") {
            std::os::unix::fs::symlink(&path, &to).unwrap();
        } else {
            std::fs::copy(&path, &to).unwrap();
        }
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
}

/// Config variants the fixtures lack, on temp copies: every rope scaling we accept, partial
/// rotary embeddings, and llama `layer_types` with sliding layers (f32 policy, two prompts).
#[test]
fn config_variants_match_mlx_lm() {
    use serde_json::json;
    let long: Vec<f64> = (0..16).map(|i| 1.0 + f64::from(i) * 0.25).collect();
    let variants: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "tiny-llama-f32",
            "llama3 rope",
            json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}),
        ),
        (
            "tiny-llama-f32",
            "linear rope",
            json!({"rope_scaling": {"type": "linear", "factor": 4.0}}),
        ),
        // A 32-token training context, so the base grows while the 48-token prompt decodes.
        (
            "tiny-llama-f32",
            "dynamic rope",
            json!({"max_position_embeddings": 32,
            "rope_scaling": {"type": "dynamic", "factor": 2.0}}),
        ),
        (
            "tiny-llama-f32",
            "sliding layer_types",
            json!({"sliding_window": 16,
            "layer_types": ["sliding_attention", "full_attention"]}),
        ),
        (
            "tiny-phi3-f32",
            "longrope",
            json!({"max_position_embeddings": 131072,
            "original_max_position_embeddings": 4096,
            "rope_scaling": {"type": "longrope", "original_max_position_embeddings": 4096, "long_factor": long, "short_factor": vec![1.0; 16]}}),
        ),
        (
            "tiny-phi3-f32",
            "partial rotary longrope",
            json!({"partial_rotary_factor": 0.5,
            "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
            "rope_scaling": {"type": "su", "original_max_position_embeddings": 4096, "long_factor": &long[..8], "short_factor": vec![1.0; 8]}}),
        ),
    ];
    let all = prompts();
    let some: Vec<Vec<u32>> = [0, 4].iter().map(|&i| all[i].clone()).collect();
    let mut failures = Vec::new();
    for (fixture, label, patch) in variants {
        let tmp = tempfile::tempdir().unwrap();
        copy_fixture(fixture, tmp.path());
        edit_config(tmp.path(), |c| {
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
        });
        let runs = [OracleRun {
            mode: "f32",
            prompts: &some,
            max_tokens: MAX_TOKENS,
        }];
        failures.extend(
            compare(tmp.path(), &runs)
                .into_iter()
                .map(|f| format!("{fixture} with {label}: {f}")),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unsupported_rope_scaling_is_refused_by_name() {
    for (fixture, kind) in [("tiny-qwen3-f32", "yarn"), ("tiny-phi3-f32", "dynamic")] {
        let tmp = tempfile::tempdir().unwrap();
        copy_fixture(fixture, tmp.path());
        edit_config(tmp.path(), |c| {
            c["rope_scaling"] = serde_json::json!({"type": kind, "factor": 2.0})
        });
        let err = Network::load(tmp.path(), &LoadOptions::default())
            .err()
            .expect("must be refused");
        assert!(
            matches!(err, EngineError::Config { .. }),
            "{fixture}: wrong error: {err}"
        );
        assert!(
            err.to_string().contains(kind),
            "{fixture}: message {err} does not name {kind}"
        );
    }
}

#[test]
fn unknown_model_type_lists_the_supported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    copy_fixture("tiny-llama-f32", tmp.path());
    edit_config(tmp.path(), |c| c["model_type"] = "mamba9".into());
    let err = Network::load(tmp.path(), &LoadOptions::default())
        .err()
        .expect("an unknown model_type must fail");
    let EngineError::UnsupportedArchitecture {
        model_type,
        supported,
    } = &err
    else {
        panic!("wrong error: {err}")
    };
    assert_eq!(model_type, "mamba9");
    for arch in [
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma",
        "gemma2",
        "gemma3_text",
        "phi3",
    ] {
        assert!(
            supported.contains(&arch),
            "{arch} missing from {supported:?}"
        );
        assert!(
            err.to_string().contains(arch),
            "message {err} does not name {arch}"
        );
    }
}

/// Rewrites the fixture's weights with `tensor` one row short.
fn shrink_tensor(name: &str, tensor: &str, dst: &Path) {
    copy_fixture(name, dst);
    let file = dst.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut kept: Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> = Vec::new();
    for (n, view) in st.tensors() {
        let (mut shape, mut data) = (view.shape().to_vec(), view.data().to_vec());
        if n == tensor {
            let row = data.len() / shape[0];
            shape[0] -= 1;
            data.truncate(data.len() - row);
        }
        kept.push((n, shape, view.dtype(), data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = kept
        .iter()
        .map(|(n, s, d, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &file).unwrap();
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named() {
    for (fixture, tensor) in [
        ("tiny-qwen3-f32", "model.layers.1.self_attn.k_norm.weight"),
        ("tiny-phi3-f32", "model.layers.0.self_attn.qkv_proj.weight"),
        (
            "tiny-gemma2-f32",
            "model.layers.1.post_feedforward_layernorm.weight",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        shrink_tensor(fixture, tensor, tmp.path());
        let err = Network::load(tmp.path(), &LoadOptions::default())
            .err()
            .expect("a wrong shape must fail");
        let EngineError::TensorMismatch { name, .. } = &err else {
            panic!("{fixture}: wrong error: {err}")
        };
        assert_eq!(name, tensor, "{fixture}");
        assert!(
            err.to_string().contains(tensor),
            "{fixture}: message {err} does not name {tensor}"
        );
    }
}
