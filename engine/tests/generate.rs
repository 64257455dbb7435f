//! Text-level generation through the real SmolLM2 and tiny models: chat template + tokenizer
//! against mlx-lm/transformers, stops, limits, seeds.
mod common;
use common::*;
use ollmlx_engine::text::ChatRenderRequest;
use ollmlx_engine::{DoneReason, Event, GenerateParams, LoadOptions, Model, SamplingParams};
use std::ops::ControlFlow;

fn run(model: &Model, params: GenerateParams) -> (String, Vec<u32>, DoneReason) {
    let (mut text, mut ids, mut reason) = (String::new(), Vec::new(), None);
    model
        .generate(params, &mut |e| {
            match e {
                Event::Token { id, text: t } => {
                    ids.push(*id);
                    text.push_str(t);
                }
                Event::Text(t) => text.push_str(t),
                Event::Done(s) => reason = Some(s.done_reason),
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (text, ids, reason.expect("a Done event"))
}

fn chat_prompt(model: &Model, question: &str) -> Vec<u32> {
    let messages = vec![serde_json::json!({"role": "user", "content": question})];
    let text = model.chat_template().expect("template").render(&ChatRenderRequest::new(&messages)).unwrap();
    model.tokenizer().encode(&text, false).unwrap()
}

#[test]
fn smollm2_answers_why_the_sky_is_blue_like_mlx_lm() {
    let dir = model_dir("smollm2-135m-instruct-f32");
    let model = Model::load(&dir, &LoadOptions::default()).unwrap();
    let prompt = chat_prompt(&model, "Why is the sky blue?");
    let want = oracle(&dir, &[prompt.clone()], 64, true);
    let params = GenerateParams { prompt, max_tokens: Some(64), ignore_eos: true, ..Default::default() };
    let (text, ids, _) = run(&model, params);
    assert_eq!(ids, want[0].tokens, "greedy tokens differ from mlx-lm");
    let lower = text.to_lowercase();
    assert!(lower.contains("light") && (lower.contains("scatter") || lower.contains("wavelength")), "incoherent answer: {text}");
    assert_eq!(text, model.tokenizer().decode(&ids, true).unwrap(), "streamed text must equal the full decode");
}

#[test]
fn chat_template_tokens_equal_transformers() {
    // The oracle renders {"messages": ...} with transformers' apply_chat_template and the
    // tokenizer we did not write; our template + tokenizer must give the same ids.
    let dir = model_dir("smollm2-135m-instruct-f32");
    let model = Model::load(&dir, &LoadOptions::default()).unwrap();
    let questions = ["Why is the sky blue?", "Écris 3 mots: été, naïve, 東京 🚀", "Sum 12+30?\n\nThen stop."];
    let file = tempfile::NamedTempFile::new().unwrap();
    let items: Vec<_> = questions.iter().map(|q| serde_json::json!({"messages": [{"role": "user", "content": q}]})).collect();
    std::fs::write(file.path(), serde_json::to_string(&items).unwrap()).unwrap();
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/oracle/oracle.py"))
        .args(["--model", dir.to_str().unwrap(), "--prompts-json", file.path().to_str().unwrap(), "--max-tokens", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<OracleResult> = serde_json::from_slice(&out.stdout).unwrap();
    for (q, w) in questions.iter().zip(want) {
        assert_eq!(chat_prompt(&model, q), w.prompt_tokens, "prompt ids differ for {q:?}");
    }
}

#[test]
fn stop_strings_and_limits() {
    let model = Model::load(&model_dir("tiny-llama-f32"), &LoadOptions::default()).unwrap();
    let prompt = vec![504, 3250, 282, 4649, 314];
    let base = || GenerateParams { prompt: prompt.clone(), max_tokens: Some(24), ignore_eos: true, ..Default::default() };
    let (full, ids, reason) = run(&model, base());
    assert_eq!(ids.len(), 24);
    assert_eq!(reason, DoneReason::Length);
    // A stop string made of the text of tokens 3..5 spans token boundaries and is not emitted.
    let tk = model.tokenizer();
    let before = tk.decode(&ids[..3], true).unwrap();
    let stop = tk.decode(&ids[..5], true).unwrap()[before.len()..].to_string();
    if !stop.trim().is_empty() {
        let (text, _, reason) = run(&model, GenerateParams { stop: vec![stop.clone()], ..base() });
        assert_eq!(reason, DoneReason::Stop);
        assert!(!text.contains(&stop), "stop string {stop:?} leaked into {text:?}");
        assert!(full.starts_with(&text));
    }
    let (_, ids0, _) = run(&model, GenerateParams { max_tokens: Some(0), ..base() });
    assert!(ids0.is_empty());
}

#[test]
fn same_seed_same_tokens() {
    let model = Model::load(&model_dir("tiny-llama-f32"), &LoadOptions::default()).unwrap();
    let params = |seed| GenerateParams {
        prompt: vec![504, 3250, 282],
        max_tokens: Some(32),
        ignore_eos: true,
        sampling: SamplingParams { temperature: 1.0, top_k: 40, top_p: 0.9, min_p: 0.01, repeat_penalty: 1.1, presence_penalty: 0.2, frequency_penalty: 0.1, seed: Some(seed), ..Default::default() },
        ..Default::default()
    };
    let a = run(&model, params(5)).1;
    assert_eq!(a, run(&model, params(5)).1);
    assert_ne!(a, run(&model, params(6)).1);
}

#[test]
fn over_long_prompt_is_a_clear_error() {
    let model = Model::load(&model_dir("tiny-llama-f32"), &LoadOptions::default()).unwrap();
    let params = GenerateParams { prompt: vec![5; 100], context_limit: Some(64), ..Default::default() };
    let err = model.generate(params, &mut |_| ControlFlow::Continue(())).unwrap_err();
    assert!(err.to_string().contains("100 tokens") && err.to_string().contains("64"), "{err}");
}
