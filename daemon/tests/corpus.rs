//! A bad-input corpus against the real daemon, generated from tables: malformed JSON, wrong
//! types, hostile names, absurd options, huge and deeply nested bodies, bodies over the size
//! limit, bodies that stall or trickle past the read timeout, wrong methods and paths — on
//! every `/api/*`, `/v1/*` and `/ollmlx/*` route. Each must get a 4xx with a JSON error
//! (OpenAI's envelope on `/v1`). Unknown fields are ignored, as Ollama ignores them. After the
//! corpus the daemon still gives the same greedy answer as before it.

mod common;
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::raw::{try_exchange, Reply, Send};

const MAX_BODY: usize = 256 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const MODEL: &str = "tiny-llama";

/// What a case must get.
#[derive(Clone, Debug)]
enum Expect {
    /// This status, a JSON error whose message contains the text.
    Refused(u16, &'static str),
    /// 200 with a JSON body (unknown fields are ignored).
    Accepted,
}

#[derive(Clone, Debug)]
struct Case {
    what: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    send: Send,
    expect: Expect,
}

fn case(what: impl Into<String>, method: &'static str, path: &str, send: Send, expect: Expect) -> Case {
    Case { what: what.into(), method, path: path.to_string(), headers: vec![("Content-Type", "application/json".into())], send, expect }
}

fn body(v: &Value) -> Send {
    Send::Whole(serde_json::to_vec(v).unwrap())
}

/// A route and a valid body for it (never one that would change the store).
struct Route {
    method: &'static str,
    path: &'static str,
    valid: Value,
    /// Fields that carry a model name.
    names: &'static [&'static str],
    /// How options are spelled: `None`, native `options`, or OpenAI top-level fields.
    options: Opts,
}

#[derive(Clone, Copy, PartialEq)]
enum Opts {
    None,
    Native,
    OpenAi,
}

fn routes() -> Vec<Route> {
    let user = json!([{"role": "user", "content": "hi"}]);
    let r = |method, path, valid, names, options| Route { method, path, valid, names, options };
    vec![
        r("POST", "/api/generate", json!({"model": MODEL, "prompt": "hi", "stream": false, "options": {"num_predict": 1}}), &["model"], Opts::Native),
        r("POST", "/api/chat", json!({"model": MODEL, "messages": user, "stream": false, "options": {"num_predict": 1}}), &["model"], Opts::Native),
        r("POST", "/api/embed", json!({"model": MODEL, "input": "hi"}), &["model"], Opts::Native),
        r("POST", "/api/embeddings", json!({"model": MODEL, "prompt": "hi"}), &["model"], Opts::Native),
        r("POST", "/api/show", json!({"model": MODEL}), &["model"], Opts::None),
        r("POST", "/api/copy", json!({"source": MODEL, "destination": "corpus-copy"}), &["source", "destination"], Opts::None),
        r("DELETE", "/api/delete", json!({"model": "corpus-copy"}), &["model"], Opts::None),
        r("POST", "/api/pull", json!({"model": "org/never-pulled"}), &["model"], Opts::None),
        r("POST", "/v1/chat/completions", json!({"model": MODEL, "messages": user, "max_tokens": 1}), &["model"], Opts::OpenAi),
        r("POST", "/v1/completions", json!({"model": MODEL, "prompt": "hi", "max_tokens": 1}), &["model"], Opts::OpenAi),
        r("POST", "/v1/embeddings", json!({"model": MODEL, "input": "hi"}), &["model"], Opts::None),
        r("POST", "/ollmlx/load", json!({"model": MODEL}), &["model"], Opts::None),
        r("POST", "/ollmlx/unload", json!({"model": MODEL}), &["model"], Opts::None),
        r("POST", "/ollmlx/pin", json!({"model": MODEL}), &["model"], Opts::None),
        r("POST", "/ollmlx/unpin", json!({"model": MODEL}), &["model"], Opts::None),
    ]
}

/// Bodies that are not a valid request of any route.
fn malformed(r: &Route) -> Vec<Case> {
    let valid = serde_json::to_vec(&r.valid).unwrap();
    let name = r.names[0];
    let with_name = |raw: &[u8]| [format!("{{\"{name}\":").into_bytes(), raw.to_vec(), b"}".to_vec()].concat();
    let nest = 20_000;
    let deep = format!("{}{}", "[".repeat(nest), "]".repeat(nest));
    let raw: Vec<(&str, Vec<u8>, &'static str)> = vec![
        ("empty body", Vec::new(), "missing request body"),
        ("whitespace body", b" \r\n\t ".to_vec(), "missing request body"),
        ("truncated after 1 byte", valid[..1].to_vec(), "invalid JSON"),
        ("truncated at half", valid[..valid.len() / 2].to_vec(), "invalid JSON"),
        ("truncated before the last brace", valid[..valid.len() - 1].to_vec(), "invalid JSON"),
        ("trailing garbage", [valid.clone(), b"xyz".to_vec()].concat(), "trailing characters"),
        ("two documents", [valid.clone(), valid.clone()].concat(), "trailing characters"),
        ("an array", b"[]".to_vec(), "JSON object"),
        ("an array of fields", format!("[\"{MODEL}\", \"hi\"]").into_bytes(), "JSON object"),
        ("a string", b"\"hello\"".to_vec(), "JSON object"),
        ("a number", b"42".to_vec(), "JSON object"),
        ("null", b"null".to_vec(), "JSON object"),
        ("a bool", b"true".to_vec(), "JSON object"),
        ("invalid UTF-8 in a string", with_name(b"\"\xff\xfe\""), "invalid JSON"),
        ("invalid UTF-8 outside strings", [b"\xff".to_vec(), valid.clone()].concat(), "JSON object"),
        ("a byte-order mark", [b"\xef\xbb\xbf".to_vec(), valid.clone()].concat(), "JSON object"),
        ("a lone surrogate escape", with_name(br#""\ud800""#), "invalid JSON"),
        ("NaN", with_name(b"NaN"), "invalid JSON"),
        ("single quotes", format!("{{'{name}':'x'}}").into_bytes(), "invalid JSON"),
        ("a comment", with_name(b"/* hi */ \"x\""), "invalid JSON"),
        ("a name nested 20000 deep", with_name(deep.as_bytes()), name),
    ];
    raw.into_iter().map(|(what, b, needle)| case(what, r.method, r.path, Send::Whole(b), Expect::Refused(400, needle))).collect()
}

/// Hostile and invalid names in every name field.
fn hostile_names(r: &Route) -> Vec<Case> {
    let long = "a".repeat(5000);
    let names: Vec<(&str, &'static str)> = vec![
        ("../etc/passwd", "invalid model name"),
        ("../../../../../../tmp/ollmlx-corpus", "invalid model name"),
        ("..", "invalid model name"),
        ("library/../../x", "invalid model name"),
        ("a/../../b", "invalid model name"),
        ("/etc/passwd", "invalid model name"),
        ("..\\..\\windows\\system32", "invalid model name"),
        ("C:\\Windows", "invalid model name"),
        ("~/.ssh/id_rsa", "invalid model name"),
        ("a/b/c/d", "invalid model name"),
        ("bad name", "invalid model name"),
        ("nul\0byte", "invalid model name"),
        ("%2e%2e%2fetc", "invalid model name"),
        (".hidden", "invalid model name"),
        ("x@sha256:00", "invalid model name"),
        ("modèle", "invalid model name"),
        (&long, "invalid model name"),
        ("", ""),
    ];
    let mut out = Vec::new();
    for field in r.names {
        for (name, needle) in &names {
            let mut b = r.valid.clone();
            b[*field] = json!(name);
            let what = format!("{field} = {:?}", name.chars().take(40).collect::<String>());
            out.push(case(what, r.method, r.path, body(&b), Expect::Refused(400, needle)));
        }
    }
    out
}

/// Options with the wrong type or out of range; each error names the option.
fn bad_options(r: &Route) -> Vec<Case> {
    let native: Vec<(&'static str, Value)> = vec![
        ("num_predict", json!(-5)), ("num_predict", json!("many")), ("num_predict", json!(-3)),
        ("num_ctx", json!(0)), ("num_ctx", json!(-1)), ("num_ctx", json!(100_000_000_000u64)),
        ("top_k", json!(-1)), ("top_p", json!(7)), ("top_p", json!(-0.1)), ("min_p", json!(2)),
        ("typical_p", json!(-1)), ("temperature", json!(-2)), ("temperature", json!("hot")), ("temperature", json!(1e9)),
        ("repeat_penalty", json!(-1)), ("presence_penalty", json!(1000)), ("frequency_penalty", json!(-1000)),
        ("repeat_last_n", json!(-5)), ("num_keep", json!(-5)), ("num_batch", json!(0)), ("num_thread", json!(-1)),
        ("seed", json!("abc")), ("seed", json!([1])), ("stop", json!(5)), ("stop", json!([1, 2])),
    ];
    let openai: Vec<(&'static str, &'static str, Value)> = vec![
        ("temperature", "temperature", json!(-1)), ("temperature", "temperature", json!("warm")),
        ("top_p", "top_p", json!(7)), ("max_tokens", "num_predict", json!(-5)), ("max_tokens", "max_tokens", json!("x")),
        ("seed", "seed", json!("x")), ("presence_penalty", "presence_penalty", json!(1000)),
        ("frequency_penalty", "frequency_penalty", json!(-1000)), ("stop", "stop", json!(5)),
    ];
    match r.options {
        Opts::None => Vec::new(),
        Opts::Native => native
            .into_iter()
            .map(|(k, v)| {
                let mut b = r.valid.clone();
                b["options"] = json!({ k: v });
                case(format!("options.{k} = {v}"), r.method, r.path, body(&b), Expect::Refused(400, k))
            })
            .collect(),
        Opts::OpenAi => openai
            .into_iter()
            .map(|(k, named, v)| {
                let mut b = r.valid.clone();
                b[k] = v.clone();
                case(format!("{k} = {v}"), r.method, r.path, body(&b), Expect::Refused(400, named))
            })
            .collect(),
    }
}

/// (path, field set to value, text the error must contain), on top of the route's valid body.
fn wrong_types() -> Vec<Case> {
    let t: Vec<(&str, &str, Value, &'static str)> = vec![
        ("/api/generate", "prompt", json!(5), "prompt"), ("/api/generate", "prompt", json!([]), "prompt"),
        ("/api/generate", "stream", json!("yes"), "stream"), ("/api/generate", "raw", json!("no"), "raw"),
        ("/api/generate", "images", json!("x"), "images"), ("/api/generate", "images", json!([5]), "images"),
        ("/api/generate", "context", json!(["a"]), "context"), ("/api/generate", "context", json!([-1]), "context"),
        ("/api/generate", "keep_alive", json!("soon"), "soon"), ("/api/generate", "keep_alive", json!({}), "keep_alive"),
        ("/api/generate", "format", json!("yaml"), "format"), ("/api/generate", "format", json!(5), "format"),
        ("/api/generate", "think", json!("maybe"), "think"), ("/api/generate", "system", json!(5), "system"),
        ("/api/generate", "template", json!("{{ .Prompt }}"), "template"), ("/api/generate", "suffix", json!("x"), "insert"),
        ("/api/generate", "options", json!("fast"), "options"), ("/api/generate", "options", json!([1]), "options"),
        ("/api/chat", "messages", json!("hello"), "messages"), ("/api/chat", "messages", json!([5]), "messages"),
        ("/api/chat", "messages", json!([{"role": 5, "content": "x"}]), "role"),
        ("/api/chat", "messages", json!([{"role": "user", "content": 5}]), "content"),
        ("/api/chat", "messages", json!([{"role": "wizard", "content": "x"}]), "role"),
        ("/api/chat", "messages", json!([{"role": "user", "content": "x", "images": [5]}]), "images"),
        ("/api/chat", "messages", json!([{"role": "user", "content": "x", "tool_calls": "x"}]), "tool_calls"),
        ("/api/chat", "tools", json!("x"), "tools"), ("/api/chat", "tools", json!([5]), "tools"),
        ("/api/chat", "tools", json!([{"type": "function", "function": 5}]), "function"),
        ("/api/chat", "format", json!(5), "format"), ("/api/chat", "think", json!("maybe"), "think"),
        ("/api/chat", "stream", json!(1), "stream"), ("/api/chat", "keep_alive", json!([]), "keep_alive"),
        ("/api/embed", "input", json!(5), "input"), ("/api/embed", "input", json!([5]), "input"),
        ("/api/embed", "input", json!({}), "input"), ("/api/embed", "truncate", json!("x"), "truncate"),
        ("/api/embed", "dimensions", json!(-1), "dimensions"), ("/api/embed", "dimensions", json!("x"), "dimensions"),
        ("/api/embeddings", "prompt", json!(5), "prompt"), ("/api/embeddings", "prompt", json!([]), "prompt"),
        ("/api/show", "verbose", json!("x"), "verbose"), ("/api/show", "model", json!([]), "model"),
        ("/api/copy", "source", json!(5), "source"), ("/api/copy", "destination", json!([]), "destination"),
        ("/api/copy", "destination", Value::Null, "required"),
        ("/api/delete", "model", json!(5), "model"), ("/api/pull", "model", json!(5), "model"),
        ("/api/pull", "insecure", json!("x"), "insecure"), ("/api/pull", "stream", json!("x"), "stream"),
        ("/v1/chat/completions", "messages", json!("x"), "messages"), ("/v1/chat/completions", "messages", json!([]), "messages"),
        ("/v1/chat/completions", "messages", json!([{"role": "user", "content": 5}]), "content"),
        ("/v1/chat/completions", "stream", json!("x"), "stream"), ("/v1/chat/completions", "stream_options", json!(5), "stream_options"),
        ("/v1/chat/completions", "tools", json!("x"), "tools"), ("/v1/chat/completions", "response_format", json!(5), "response_format"),
        ("/v1/chat/completions", "model", json!(5), "model"),
        ("/v1/completions", "prompt", json!({}), "prompt"), ("/v1/completions", "stream", json!("x"), "stream"),
        ("/v1/embeddings", "input", json!({}), "input"), ("/v1/embeddings", "input", json!([]), "input"),
        ("/v1/embeddings", "dimensions", json!("x"), "dimensions"),
        ("/ollmlx/load", "pin", json!("x"), "pin"), ("/ollmlx/load", "keep_alive", json!("soon"), "soon"),
        ("/ollmlx/load", "num_ctx", json!(-1), "num_ctx"), ("/ollmlx/unload", "all", json!("x"), "all"),
        ("/ollmlx/pin", "model", json!(5), "model"), ("/ollmlx/unpin", "model", json!({}), "model"),
    ];
    let routes = routes();
    t.into_iter()
        .map(|(path, field, v, needle)| {
            let r = routes.iter().find(|r| r.path == path).unwrap();
            let mut b = r.valid.clone();
            if v.is_null() {
                b.as_object_mut().unwrap().remove(field);
            } else {
                b[field] = v.clone();
            }
            case(format!("{field} = {v}"), r.method, path, body(&b), Expect::Refused(400, needle))
        })
        .collect()
}

/// Deep nesting: refused inside fields that hold free-form JSON (serde_json's recursion limit),
/// skipped without recursion inside unknown fields (accepted, as unknown fields are).
fn deep_values() -> Vec<Case> {
    let deep = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    let raw = |what: &str, path: &str, text: String, expect| case(what, "POST", path, Send::Whole(text.into_bytes()), expect);
    vec![
        raw("a 5000-deep format schema", "/api/generate", format!("{{\"model\":\"{MODEL}\",\"prompt\":\"hi\",\"format\":{deep}}}"), Expect::Refused(400, "recursion limit")),
        raw("5000-deep tool parameters", "/api/chat", format!("{{\"model\":\"{MODEL}\",\"messages\":[],\"tools\":[{{\"type\":\"function\",\"function\":{{\"name\":\"f\",\"parameters\":{deep}}}}}]}}"), Expect::Refused(400, "recursion limit")),
        raw("5000-deep options", "/api/embed", format!("{{\"model\":\"{MODEL}\",\"input\":\"hi\",\"options\":{deep}}}"), Expect::Refused(400, "recursion limit")),
        raw("a 5000-deep unknown field", "/api/generate", format!("{{\"model\":\"{MODEL}\",\"prompt\":\"hi\",\"stream\":false,\"options\":{{\"num_predict\":1}},\"x\":{deep}}}"), Expect::Accepted),
        raw("a 5000-deep unknown field", "/api/show", format!("{{\"model\":\"{MODEL}\",\"x\":{deep}}}"), Expect::Accepted),
    ]
}

/// Requests that are well-formed but ask for too much or for nothing.
fn huge_and_odd() -> Vec<Case> {
    let big = "word ".repeat(45_000);
    let at_limit = {
        let head = format!("{{\"model\":\"{MODEL}\",\"options\":{{\"num_ctx\":256}},\"prompt\":\"");
        let pad = MAX_BODY - head.len() - 2;
        format!("{head}{}\"}}", &"ab ".repeat(pad / 3 + 1)[..pad])
    };
    assert_eq!(at_limit.len(), MAX_BODY);
    let many: Vec<Value> = (0..3000).map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "hello there"})).collect();
    let p = |path: &str, v: Value, needle: &'static str| case(format!("{path} {}", short(&v)), "POST", path, body(&v), Expect::Refused(400, needle));
    vec![
        p("/api/generate", json!({"model": MODEL, "prompt": big, "options": {"num_ctx": 512}}), "512"),
        case("a prompt exactly at the body limit", "POST", "/api/generate", Send::Whole(at_limit.into_bytes()), Expect::Refused(400, "256")),
        p("/api/chat", json!({"model": MODEL, "messages": many, "options": {"num_ctx": 512}}), "512"),
        p("/api/embed", json!({"model": MODEL, "input": big, "truncate": false, "options": {"num_ctx": 512}}), ""),
        p("/v1/chat/completions", json!({"model": MODEL, "messages": [{"role": "user", "content": big}]}), ""),
        p("/api/generate", json!({"model": MODEL, "prompt": "x", "images": ["aGVsbG8="]}), "does not support images"),
        p("/api/chat", json!({"model": MODEL, "think": true, "messages": [{"role": "user", "content": "x"}]}), "does not support thinking"),
        p("/api/generate", json!({"model": MODEL, "prompt": "x", "raw": true, "system": "s"}), "raw"),
        p("/ollmlx/unload", json!({}), "model is required"),
        case("unload a model that is not loaded", "POST", "/ollmlx/unload", body(&json!({"model": "library/absent"})), Expect::Refused(404, "not loaded")),
        case("pin a model that is not loaded", "POST", "/ollmlx/pin", body(&json!({"model": "absent"})), Expect::Refused(404, "")),
        case("generate with an unknown model", "POST", "/api/generate", body(&json!({"model": "absent", "prompt": "x"})), Expect::Refused(404, "not found")),
        case("v1 chat with an unknown model", "POST", "/v1/chat/completions", body(&json!({"model": "absent", "messages": [{"role": "user", "content": "x"}]})), Expect::Refused(404, "not found")),
        case("copy onto a traversal", "POST", "/api/copy", body(&json!({"source": MODEL, "destination": "../../x"})), Expect::Refused(400, "invalid model name")),
        case("delete an absent model", "DELETE", "/api/delete", body(&json!({"model": "absent"})), Expect::Refused(404, "not found")),
    ]
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(60).collect()
}

/// Paths and methods that do not exist.
fn wrong_routes() -> Vec<Case> {
    let none = || Send::Whole(Vec::new());
    let mut out = Vec::new();
    for (method, path, status, needle) in [
        ("GET", "/api/generate", 405, "method not allowed"),
        ("PUT", "/api/chat", 405, "method not allowed"),
        ("POST", "/api/tags", 405, "method not allowed"),
        ("POST", "/api/delete", 405, "method not allowed"),
        ("GET", "/v1/chat/completions", 405, "method not allowed"),
        ("GET", "/ollmlx/load", 405, "method not allowed"),
        ("DELETE", "/ollmlx/status", 405, "method not allowed"),
        ("GET", "/api/nope", 404, "not found"),
        ("POST", "/v1/nope", 404, "not found"),
        ("GET", "/ollmlx/nope", 404, "not found"),
        ("GET", "/api/../ollmlx/status/..", 404, "not found"),
        ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", 400, "invalid model name"),
        ("GET", "/v1/models/%00", 400, "invalid model name"),
        ("GET", "/v1/models/absent", 404, "not found"),
    ] {
        out.push(case(format!("{method} {path}"), method, path, none(), Expect::Refused(status, needle)));
    }
    out
}

/// Over the size limit (declared or streamed), and slower than the read timeout.
fn limits(r: &Route) -> Vec<Case> {
    let over = MAX_BODY as u64 + 1;
    let mut out = vec![
        case("Content-Length over the limit", r.method, r.path, Send::HeadersOnly { declared: over }, Expect::Refused(413, "too large")),
        case("a chunked body over the limit", r.method, r.path, Send::Chunked { body: vec![b' '; MAX_BODY + 4096], chunk: 16 * 1024 }, Expect::Refused(413, "too large")),
    ];
    if matches!(r.path, "/api/generate" | "/v1/chat/completions" | "/ollmlx/load") {
        let valid = serde_json::to_vec(&r.valid).unwrap();
        out.push(case("a body that stalls", r.method, r.path, Send::Stall { declared: valid.len(), sent: valid[..valid.len() / 2].to_vec() }, Expect::Refused(408, "OLLMLX_READ_TIMEOUT")));
        out.push(case("a body that trickles", r.method, r.path, Send::Trickle { body: valid, every: Duration::from_millis(250) }, Expect::Refused(408, "OLLMLX_READ_TIMEOUT")));
    }
    out
}

/// Unknown fields (top level, inside options, inside messages) and any Content-Type are
/// accepted, as Ollama accepts them.
fn accepted() -> Vec<Case> {
    let mut out = Vec::new();
    for r in routes().into_iter().filter(|r| !matches!(r.path, "/api/copy" | "/api/delete" | "/api/pull" | "/ollmlx/unload")) {
        let mut b = r.valid.clone();
        b["x_unknown_field"] = json!({"deep": [1, {"a": null}]});
        if r.options == Opts::Native {
            b["options"]["not_an_option"] = json!(3);
        }
        out.push(case("unknown fields", r.method, r.path, body(&b), Expect::Accepted));
    }
    let msg = json!([{"role": "user", "content": "hi", "name": "bob", "x_extra": 1}]);
    out.push(case("unknown message fields", "POST", "/api/chat", body(&json!({"model": MODEL, "messages": msg, "stream": false, "options": {"num_predict": 1}})), Expect::Accepted));
    let stops: Vec<String> = (0..2000).map(|i| format!("stop{i}")).collect();
    out.push(case("2000 stop strings", "POST", "/api/generate", body(&json!({"model": MODEL, "prompt": "hi", "stream": false, "options": {"num_predict": 2, "stop": stops}})), Expect::Accepted));
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let mut c = case(format!("Content-Type {ct}"), "POST", "/api/show", body(&json!({"model": MODEL})), Expect::Accepted);
        c.headers = vec![("Content-Type", ct.into())];
        out.push(c);
    }
    out
}

fn corpus() -> Vec<Case> {
    let mut all = Vec::new();
    for r in routes() {
        all.extend(malformed(&r));
        all.extend(hostile_names(&r));
        all.extend(bad_options(&r));
        all.extend(limits(&r));
    }
    all.extend(wrong_types());
    all.extend(deep_values());
    all.extend(huge_and_odd());
    all.extend(wrong_routes());
    all.extend(accepted());
    all
}

/// What is wrong with `reply` for `c`, if anything.
fn check(c: &Case, reply: &Reply) -> Option<String> {
    let v = reply.json();
    let json_type = reply.header("content-type").is_some_and(|t| t.starts_with("application/json"));
    match c.expect {
        Expect::Accepted => (reply.status != 200 || !json_type || v.get("error").is_some()).then(|| format!("wanted 200 and JSON, got {} {}", reply.status, reply.text())),
        Expect::Refused(status, needle) => {
            let message = if c.path.starts_with("/v1/") {
                v["error"]["message"].as_str().filter(|_| v["error"]["type"].is_string())
            } else {
                v["error"].as_str()
            };
            let Some(message) = message.filter(|_| json_type) else {
                return Some(format!("wanted a JSON error, got {} {:?}", reply.status, reply.text()));
            };
            if reply.status != status || !message.contains(needle) {
                return Some(format!("wanted {status} naming {needle:?}, got {} {message:?}", reply.status));
            }
            let slow = status == 408 && !(READ_TIMEOUT / 2..READ_TIMEOUT * 5).contains(&reply.elapsed);
            slow.then(|| format!("408 after {:?}, the read timeout is {READ_TIMEOUT:?}", reply.elapsed))
        }
    }
}

#[test]
fn bad_input_corpus() {
    let env = [("OLLMLX_MAX_BODY", "256KiB"), ("OLLMLX_READ_TIMEOUT", "2s")];
    let mut d = common::start(&[(MODEL, "tiny-llama-f32")], &env);
    let addr: std::net::SocketAddr = d.base.trim_start_matches("http://").parse().unwrap();
    let before = d.generate(MODEL, json!({"options": {"num_predict": 8, "temperature": 0, "seed": 3}}));
    assert_eq!(before.0, 200, "{}", before.1);
    let cases = corpus();
    let refused = cases.iter().filter(|c| matches!(c.expect, Expect::Refused(..))).count();
    eprintln!("corpus: {} cases ({refused} refused, {} accepted)", cases.len(), cases.len() - refused);
    assert!(refused >= 200, "{refused}");
    let mut failures = Vec::new();
    for c in &cases {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let problem = match try_exchange(addr, c.method, &c.path, &headers, &c.send, Duration::from_secs(30)) {
            Ok((reply, _)) => check(c, &reply),
            Err(e) => Some(e),
        };
        if let Some(problem) = problem {
            failures.push(format!("{} {} [{}]: {problem}", c.method, c.path, c.what));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(d.is_running(), "the daemon died\n{}", d.log());
    let after = d.generate(MODEL, json!({"options": {"num_predict": 8, "temperature": 0, "seed": 3}}));
    assert_eq!(after.0, 200, "{}", after.1);
    assert_eq!(after.1["response"], before.1["response"], "the same answer after the corpus");
    assert_eq!(d.get("/api/tags").1["models"].as_array().map(Vec::len), Some(1), "the store is unchanged");
}
