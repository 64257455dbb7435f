//! Every endpoint through the real `ollmlxd` over HTTP, with real (tiny and SmolLM2) models.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{json, Value};

const TINY: (&str, &str) = ("tiny-llama", "tiny-llama-f32");
const SMOL: (&str, &str) = ("smollm2", common::SMOLLM2);

fn assert_final_metrics(v: &Value) {
    assert_eq!(v["done"], true, "{v}");
    for k in ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count"] {
        assert!(v[k].as_u64().is_some_and(|n| n > 0), "{k} missing in {v}");
    }
    assert!(["stop", "length"].contains(&v["done_reason"].as_str().unwrap()), "{v}");
}

#[test]
fn root_version_tags_and_show() {
    let d = common::start(&[TINY, SMOL], &[]);
    let head = d.http.head(d.url("/")).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(d.http.get(d.url("/")).send().unwrap().text().unwrap(), "Ollama is running");
    let (_, v) = d.get("/api/version");
    let version = v["version"].as_str().unwrap();
    assert_eq!(version.split('.').filter(|p| p.parse::<u32>().is_ok()).count(), 3, "{version}");

    let (s, tags) = d.get("/api/tags");
    assert_eq!(s, 200);
    let names: Vec<&str> = tags["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["smollm2:latest", "tiny-llama:latest"]);
    let smol = &tags["models"][0];
    assert_eq!(smol["model"], "smollm2:latest");
    assert_eq!(smol["digest"].as_str().unwrap().len(), 64);
    assert_eq!(smol["details"]["family"], "llama");
    assert_eq!(smol["details"]["quantization_level"], "Q4");

    let (s, show) = d.post("/api/show", &json!({"model": "smollm2"}));
    assert_eq!(s, 200, "{show}");
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["model_info"]["llama.context_length"], 8192);
    assert!(show["model_info"]["llama.embedding_length"].as_u64().is_some());
    assert!(show["template"].as_str().unwrap().contains("im_start"));
    assert!(show["capabilities"].as_array().unwrap().contains(&json!("completion")));
    assert!(show.get("tensors").is_none());
    let (_, verbose) = d.post("/api/show", &json!({"name": "smollm2:latest", "verbose": true}));
    assert!(!verbose["tensors"].as_array().unwrap().is_empty());
}

#[test]
fn generate_streams_ndjson_and_single_objects() {
    let d = common::start(&[TINY], &[]);
    let lines = d.post_lines("/api/generate", &json!({"model": "tiny-llama", "prompt": "Hi", "options": {"num_predict": 5, "temperature": 0}}));
    assert!(lines.len() >= 2);
    for l in &lines[..lines.len() - 1] {
        assert_eq!(l["done"], false);
        assert!(l["response"].is_string());
        assert_eq!(l["model"], "tiny-llama");
    }
    let last = lines.last().unwrap();
    assert_final_metrics(last);
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["eval_count"], 5);
    assert!(last["context"].as_array().is_some_and(|c| !c.is_empty()));

    let (s, one) = d.generate("tiny-llama", json!({"prompt": "Hi", "options": {"num_predict": 3, "temperature": 0, "seed": 1}}));
    assert_eq!(s, 200, "{one}");
    assert_final_metrics(&one);
    let streamed: String = lines.iter().map(|l| l["response"].as_str().unwrap()).collect();
    assert!(!streamed.is_empty());
    // Greedy decoding is deterministic: the single reply is a prefix of the streamed one.
    assert!(streamed.starts_with(one["response"].as_str().unwrap()), "{streamed:?} vs {one}");
}

#[test]
fn chat_streams_and_answers_with_the_real_model() {
    let d = common::start(&[SMOL], &[]);
    let body = json!({"model": "smollm2", "stream": false, "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
                      "options": {"num_predict": 8, "temperature": 0}});
    let (s, v) = d.post("/api/chat", &body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"]["role"], "assistant");
    assert!(v["message"]["content"].as_str().unwrap().contains("Paris"), "{v}");
    assert_final_metrics(&v);
    assert!(v.get("context").is_none());

    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let lines = d.post_lines("/api/chat", &stream_body);
    let text: String = lines.iter().map(|l| l["message"]["content"].as_str().unwrap()).collect();
    assert_eq!(text, v["message"]["content"].as_str().unwrap());
    assert_final_metrics(lines.last().unwrap());
}

#[test]
fn empty_prompts_load_and_unload() {
    let d = common::start(&[TINY], &[]);
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": ""}));
    assert_eq!(s, 200);
    assert_eq!(v["done_reason"], "load");
    assert_eq!(v["response"], "");
    assert_eq!(d.loaded(), ["tiny-llama:latest"]);
    // Open WebUI's unload: no stream flag, one object back.
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "", "keep_alive": 0}));
    assert_eq!(s, 200);
    assert_eq!(v["done_reason"], "unload");
    d.wait_for("unload", 10, |d| d.loaded().is_empty());

    let (_, v) = d.post("/api/chat", &json!({"model": "tiny-llama", "messages": []}));
    assert_eq!(v["done_reason"], "load");
    assert_eq!(v["message"], json!({"role": "assistant", "content": ""}));
    let (_, v) = d.post("/api/chat", &json!({"model": "tiny-llama", "keep_alive": "0s"}));
    assert_eq!(v["done_reason"], "unload");
    d.wait_for("unload", 10, |d| d.loaded().is_empty());
    let (s, v) = d.post("/api/generate", &json!({"model": "nope", "prompt": "", "keep_alive": 0}));
    assert_eq!((s, v["error"].as_str().unwrap()), (404, "model 'nope' not found"));
}

#[test]
fn ps_reports_measured_size_expiry_and_context() {
    let d = common::start(&[TINY], &[]);
    d.generate("tiny-llama", json!({"keep_alive": "300", "options": {"num_ctx": 2048, "num_predict": 2}}));
    let ps = d.ps();
    assert_eq!(ps.len(), 1);
    let m = &ps[0];
    assert_eq!(m["name"], "tiny-llama:latest");
    let size = m["size"].as_u64().unwrap();
    // The fixture's weights are 26 MB as f32: the measured size includes them.
    assert!(size > 20_000_000, "{m}");
    assert!(m["size_vram"].is_u64());
    assert_eq!(m["context_length"], 2048);
    let expires = chrono::DateTime::parse_from_rfc3339(m["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((250..=300).contains(&left), "{left}");
    // keep_alive -1 as a string (Ollama rejects it): forever.
    d.generate("tiny-llama", json!({"keep_alive": "-1"}));
    let expires = chrono::DateTime::parse_from_rfc3339(d.ps()[0]["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires.format("%Y").to_string().parse::<i32>().unwrap() > 2100);
    // Asking for less context never reloads.
    d.generate("tiny-llama", json!({"options": {"num_ctx": 256, "num_predict": 1}}));
    assert_eq!(d.ps()[0]["context_length"], 2048);
    assert_eq!(d.log().matches(": loaded").count(), 1, "{}", d.log());
}

#[test]
fn embeddings_native_and_legacy() {
    let d = common::start(&[TINY], &[]);
    let (s, v) = d.post("/api/embed", &json!({"model": "tiny-llama", "input": ["hello world", "bye"]}));
    assert_eq!(s, 200, "{v}");
    let vecs = v["embeddings"].as_array().unwrap();
    assert_eq!(vecs.len(), 2);
    for e in vecs {
        let n: f64 = e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
        assert!((n - 1.0).abs() < 1e-3, "not normalised: {n}");
        assert_eq!(e.as_array().unwrap().len(), 128);
    }
    assert_ne!(vecs[0], vecs[1]);
    assert!(v["prompt_eval_count"].as_u64().unwrap() >= 3);
    let (_, v) = d.post("/api/embed", &json!({"model": "tiny-llama", "input": "x", "dimensions": 16}));
    assert_eq!(v["embeddings"][0].as_array().unwrap().len(), 16);
    let (_, v) = d.post("/api/embed", &json!({"model": "tiny-llama", "input": []}));
    assert_eq!(v, json!({"model": "tiny-llama", "embeddings": [], "load_duration": v["load_duration"], "total_duration": v["total_duration"]}));
    let (s, v) = d.post("/api/embeddings", &json!({"model": "tiny-llama", "prompt": "hello world"}));
    assert_eq!(s, 200);
    assert_eq!(v["embedding"].as_array().unwrap().len(), 128);
}

#[test]
fn copy_and_delete() {
    let d = common::start(&[TINY], &[]);
    let r = d.http.post(d.url("/api/copy")).json(&json!({"source": "tiny-llama", "destination": "mine:v1"})).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().is_empty());
    let (_, tags) = d.get("/api/tags");
    let names: Vec<&str> = tags["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"mine:v1"), "{names:?}");
    assert_eq!(d.generate("mine:v1", json!({})).0, 200);
    let r = d.http.delete(d.url("/api/delete")).json(&json!({"model": "mine:v1"})).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().is_empty());
    let (s, v) = d.post("/api/show", &json!({"model": "mine:v1"}));
    assert_eq!((s, v["error"].as_str().unwrap()), (404, "model 'mine:v1' not found"));
    let (s, _) = d.post("/api/copy", &json!({"source": "nope", "destination": "x"}));
    assert_eq!(s, 404);
    let r = d.http.delete(d.url("/api/delete")).json(&json!({"name": "nope"})).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn openai_models_chat_completions_embeddings() {
    let d = common::start(&[TINY], &[]);
    let (_, v) = d.get("/v1/models");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "tiny-llama:latest");
    assert_eq!(v["data"][0]["owned_by"], "library");
    let (s, v) = d.get("/v1/models/tiny-llama:latest");
    assert_eq!((s, v["id"].as_str().unwrap()), (200, "tiny-llama:latest"));
    let (s, v) = d.get("/v1/models/nope");
    assert_eq!(s, 404);
    assert_eq!(v["error"]["type"], "not_found_error");
    assert_eq!(v["error"]["message"], "model 'nope' not found");

    let body = json!({"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0});
    let (s, v) = d.post("/v1/chat/completions", &body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 4);

    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    sbody["stream_options"] = json!({"include_usage": true});
    let events = d.post_sse("/v1/chat/completions", &sbody);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);

    let (s, v) = d.post("/v1/completions", &json!({"model": "tiny-llama", "prompt": "Once", "max_tokens": 3, "temperature": 0}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].is_string());
    let events = d.post_sse("/v1/completions", &json!({"model": "tiny-llama", "prompt": "Once", "max_tokens": 3, "stream": true}));
    assert_eq!(events.last().unwrap(), "[DONE]");

    let (s, v) = d.post("/v1/embeddings", &json!({"model": "tiny-llama", "input": ["a", "b"]}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    let (s, v) = d.post("/v1/chat/completions", &json!({"model": "tiny-llama", "messages": []}));
    assert_eq!(s, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[test]
fn format_json_and_schema_parse() {
    let d = common::start(&[SMOL], &[]);
    let (s, v) = d.post("/api/generate", &json!({"model": "smollm2", "stream": false, "format": "json",
        "prompt": "Describe a cat as JSON with keys name and age.", "options": {"temperature": 0, "num_predict": 60}}));
    assert_eq!(s, 200, "{v}");
    let out: Value = serde_json::from_str(v["response"].as_str().unwrap()).expect("format json output parses");
    assert!(out.is_object());
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]});
    let (s, v) = d.post("/api/chat", &json!({"model": "smollm2", "stream": false, "format": schema,
        "messages": [{"role": "user", "content": "Give me a person."}], "options": {"temperature": 0, "num_predict": 60}}));
    assert_eq!(s, 200, "{v}");
    let out: Value = serde_json::from_str(v["message"]["content"].as_str().unwrap()).expect("schema output parses");
    assert!(out["name"].is_string() && out["age"].is_i64(), "{out}");
}

#[test]
fn a_client_that_disconnects_stops_its_generation() {
    let d = common::start(&[TINY], &[]);
    let r = d.http.post(d.url("/api/generate")).json(&json!({"model": "tiny-llama", "prompt": "Hi",
        "options": {"num_predict": 1000000, "num_ctx": 100000}})).send().unwrap();
    let mut reader = BufReader::new(r);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    d.wait_for("the request to be active", 10, |d| d.get("/ollmlx/status").1["models"][0]["active_requests"] == 1);
    drop(reader);
    d.wait_for("the generation to stop", 20, |d| d.get("/ollmlx/status").1["models"][0]["active_requests"] == 0);
    std::thread::sleep(Duration::from_millis(200));
    let kv = d.get("/ollmlx/status").1["models"][0]["kv_bytes"].as_u64().unwrap();
    assert_eq!(kv, 0, "the sequence's KV cache is gone");
}

#[test]
fn private_endpoints_load_pin_status_unload_and_events() {
    let d = common::start(&[TINY, ("other", "tiny-llama-f32")], &[]);
    let events = d.http.get(d.url("/ollmlx/events")).send().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(events).lines() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let done = v["event"] == "unloaded" && v["model"] == "other:latest";
            seen.push(v);
            if done {
                break;
            }
        }
        seen
    });
    let (s, v) = d.post("/ollmlx/load", &json!({"model": "tiny-llama", "pin": true, "keep_alive": "1s"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["pinned"], true);
    d.post("/ollmlx/load", &json!({"model": "other"}));
    let (_, st) = d.get("/ollmlx/status");
    assert!(st["budget_bytes"].as_u64().unwrap() > 0 && st["process_rss_bytes"].as_u64().unwrap() > 0);
    let tiny = st["models"].as_array().unwrap().iter().find(|m| m["name"] == "tiny-llama:latest").unwrap().clone();
    assert_eq!(tiny["pinned"], true);
    assert!(tiny["weight_bytes"].as_u64().unwrap() > 20_000_000, "{tiny}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.loaded().contains(&"tiny-llama:latest".to_string()), "pinned models do not expire");
    assert_eq!(d.post("/ollmlx/unpin", &json!({"model": "tiny-llama"})).0, 200);
    d.wait_for("keep_alive to apply once unpinned", 10, |d| !d.loaded().contains(&"tiny-llama:latest".to_string()));
    assert_eq!(d.post("/ollmlx/pin", &json!({"model": "tiny-llama"})).0, 404);
    let (s, _) = d.post("/ollmlx/unload", &json!({"all": true}));
    assert_eq!(s, 200);
    d.wait_for("all unloaded", 10, |d| d.loaded().is_empty());
    let seen = reader.join().unwrap();
    let kinds: Vec<String> = seen.iter().map(|e| format!("{} {}", e["event"].as_str().unwrap(), e["model"].as_str().unwrap())).collect();
    for want in ["loading tiny-llama:latest", "loaded tiny-llama:latest", "pinned tiny-llama:latest", "unloaded other:latest"] {
        assert!(kinds.iter().any(|k| k == want), "{want} not in {kinds:?}");
    }
    let expired = seen.iter().find(|e| e["event"] == "unloaded" && e["model"] == "tiny-llama:latest").unwrap();
    assert_eq!(expired["reason"], "expired");
}
