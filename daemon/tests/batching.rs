//! Continuous batching and the prefix cache through the real daemon: concurrent requests get
//! exactly the answers they get one at a time; a chat's second turn reuses the first turn's KV
//! (Ollama's `prompt_eval_count` counts only the tokens processed), also after an unload and a
//! restart; changed model files invalidate it.
mod common;

use serde_json::{json, Value};

const MODEL: &str = "tiny";

fn generate(d: &common::Daemon, prompt: &str, predict: u32) -> String {
    let body = json!({"model": MODEL, "prompt": prompt, "stream": false, "raw": true,
        "options": {"num_predict": predict, "temperature": 0}});
    let (status, v) = d.post("/api/generate", &body);
    assert_eq!(status, 200, "{v}");
    v["response"].as_str().unwrap().to_string()
}

#[test]
fn concurrent_requests_get_the_answers_they_get_alone() {
    let d = common::start(&[(MODEL, "tiny-llama-f32")], &[("OLLMLX_NUM_PARALLEL", "4")]);
    let prompts: Vec<String> = (0..6).map(|i| format!("Request {i}: {}", "tell me more ".repeat(i * 7 + 1))).collect();
    let alone: Vec<String> = prompts.iter().map(|p| generate(&d, p, 24 + 3 * p.len() as u32 % 17)).collect();
    let together: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = prompts.iter().map(|p| s.spawn(|| generate(&d, p, 24 + 3 * p.len() as u32 % 17))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert!(!a.is_empty());
        assert_eq!(t, a, "request {i}: the batched answer differs from the answer alone");
    }
}

/// Turn one, then turn two (turn one + its answer + a new question); returns both final
/// chunks and the answers.
fn two_turns(d: &common::Daemon) -> (Value, Value) {
    let first = json!([{"role": "user", "content": format!("Here is a long story. {}", "Once upon a time there was a model. ".repeat(20))}]);
    let body = json!({"model": MODEL, "messages": first, "stream": false, "options": {"num_predict": 12, "temperature": 0}});
    let (status, one) = d.post("/api/chat", &body);
    assert_eq!(status, 200, "{one}");
    let mut messages = first.as_array().unwrap().clone();
    messages.push(one["message"].clone());
    messages.push(json!({"role": "user", "content": "And then?"}));
    let body = json!({"model": MODEL, "messages": messages, "stream": false, "options": {"num_predict": 12, "temperature": 0}});
    let (status, two) = d.post("/api/chat", &body);
    assert_eq!(status, 200, "{two}");
    (one, two)
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

#[test]
fn a_second_turn_reuses_the_first_and_answers_as_a_cold_run() {
    // The reference: no prefix cache, every prompt token processed.
    let cold = common::start(&[(MODEL, "tiny-llama-f32")], &[("OLLMLX_PREFIX_CACHE", "off")]);
    let (cold_one, cold_two) = two_turns(&cold);
    drop(cold);

    let d = common::start(&[(MODEL, "tiny-llama-f32")], &[]);
    let (one, two) = two_turns(&d);
    assert_eq!(one["message"], cold_one["message"]);
    assert_eq!(two["message"], cold_two["message"], "a prefix-cache hit changed the answer");
    let full = count(&cold_two, "prompt_eval_count");
    assert!(count(&two, "prompt_eval_count") * 3 < full, "turn two processed {} of {full} prompt tokens", count(&two, "prompt_eval_count"));

    // Unloaded: the cache is written beside the store and read back at the next load (the
    // path a restart takes too).
    unload(&d);
    let saved = walk(&d.store.join(".prefix-cache"));
    assert!(saved.iter().any(|p| p.extension().is_some_and(|e| e == "safetensors")), "nothing saved: {saved:?}");
    let (again_one, again_two) = two_turns(&d);
    assert_eq!(again_two["message"], cold_two["message"]);
    let full_one = count(&cold_one, "prompt_eval_count");
    assert!(count(&again_one, "prompt_eval_count") * 3 < full_one, "turn one after a reload: {again_one}");
    assert!(count(&again_two, "prompt_eval_count") * 3 < full, "turn two after a reload: {again_two}");

    // The model's files change (a new mtime is a new version): the saved KV must not be used.
    unload(&d);
    let config = d.store.join("library").join(MODEL).join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&config, text).unwrap();
    let (changed_one, _) = two_turns(&d);
    assert_eq!(count(&changed_one, "prompt_eval_count"), full_one, "stale KV was reused after the files changed: {changed_one}");
}

fn unload(d: &common::Daemon) {
    let (status, v) = d.post("/api/generate", &json!({"model": MODEL, "keep_alive": 0}));
    assert_eq!(status, 200, "{v}");
    // /api/ps drops a model when its unload starts; /ollmlx/status lists it until the engine
    // has freed it (and saved its prefix cache).
    d.wait_for("the unload", 30, |d| d.get("/ollmlx/status").1["models"].as_array().is_some_and(Vec::is_empty));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// OpenAI's usage after a prefix-cache hit: `prompt_tokens` is the whole prompt, and
/// `prompt_tokens_details.cached_tokens` the part that was reused.
#[test]
fn openai_usage_counts_the_whole_prompt_and_names_the_cached_part() {
    let d = common::start(&[(MODEL, "tiny-llama-f32")], &[]);
    let messages = json!([{"role": "user", "content": format!("A long note. {}", "The tower was painted blue. ".repeat(20))}]);
    let body = json!({"model": MODEL, "messages": messages, "max_tokens": 4, "temperature": 0});
    let (status, first) = d.post("/v1/chat/completions", &body);
    assert_eq!(status, 200, "{first}");
    assert!(first["usage"].get("prompt_tokens_details").is_none(), "nothing was cached yet: {first}");
    let (status, again) = d.post("/v1/chat/completions", &body);
    assert_eq!(status, 200, "{again}");
    let prompt = first["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(again["usage"]["prompt_tokens"], prompt, "{again}");
    let cached = again["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    assert!(cached * 3 > prompt * 2 && cached < prompt, "{cached} of {prompt} cached: {again}");
    assert_eq!(again["usage"]["total_tokens"], prompt + again["usage"]["completion_tokens"].as_u64().unwrap());
}
