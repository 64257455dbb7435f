//! The fuzz entry points. Each one feeds arbitrary bytes through the public functions the
//! daemon and the store call on outside input, and returns `Ok(())` when the input was accepted
//! all the way or `Err(reason)` when it was refused. A panic (or an abort, a hang, an
//! allocation the size of the machine) is a bug; so is a broken invariant, which these
//! functions turn into a panic on purpose (`invariant!`).
//!
//! Compiled twice: as the `ollmlx-fuzz` library (nightly, libFuzzer) and, by path, into the
//! stable test `tests/tests/fuzz_corpus.rs`. It may only use crates both have.

use std::sync::Arc;

use ollmlx_api::ollama::{
    ChatRequest, CopyRequest, DeleteRequest, EmbedRequest, EmbeddingsRequest, Format, GenerateRequest, PullRequest,
    ShowRequest,
};
use ollmlx_api::ollmlx::{LoadRequest, PinRequest, UnloadRequest};
use ollmlx_api::openai::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest};
use ollmlx_api::{KeepAlive, Options};
use ollmlx_daemon::format::json::Matcher;
use ollmlx_daemon::format::schema::Schema;
use ollmlx_daemon::routes::extract;
use ollmlx_engine::{estimate_memory, LoadOptions, Network};
use ollmlx_store::gguf::config::Hparams;
use ollmlx_store::gguf::{import, tokenizer, GgufFile};
use ollmlx_store::{ModelName, Store, StoreConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What an entry point concluded: accepted, or refused with the reason shown to the user.
pub type Outcome = Result<(), String>;

/// The micro llama config the safetensors target pairs with fuzzed weights (it fits both the
/// f16 and the 4-bit seed); written by `fuzz/seeds/make_seeds.py`.
pub const MICRO_CONFIG: &[u8] = include_bytes!("../seeds/micro.config.json");
/// The micro llama weights the config target pairs with fuzzed configs.
pub const MICRO_WEIGHTS: &[u8] = include_bytes!("../seeds/safetensors/ok-micro-llama-f16.safetensors");

/// A broken promise of the code under test: a panic, so the fuzzer reports it.
macro_rules! invariant {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("invariant broken: {}", format!($($msg)+));
        }
    };
}

// ---- request bodies --------------------------------------------------------------------------

/// Decodes the bytes as every request body the daemon accepts, with the daemon's own decoder
/// (`routes::extract::parse`), then applies what the handlers check before touching a model:
/// the name, the layered options, `format` (compiled into the JSON constraint) and
/// `keep_alive`. Accepted bodies must survive a serialize/parse round trip unchanged, since
/// `ollmlxctl` and the OpenAI layer re-send them.
pub fn api_request(data: &[u8]) -> Outcome {
    let checks: [(&str, fn(&[u8]) -> Outcome); 14] = [
        ("generate", |d| decode::<GenerateRequest>(d, |r| native(&r.model, r.options.as_ref(), r.format.as_ref(), r.keep_alive))),
        ("chat", |d| decode::<ChatRequest>(d, |r| native(&r.model, r.options.as_ref(), r.format.as_ref(), r.keep_alive))),
        ("embed", |d| decode::<EmbedRequest>(d, |r| native(&r.model, r.options.as_ref(), None, r.keep_alive))),
        ("embeddings", |d| decode::<EmbeddingsRequest>(d, |r| native(&r.model, r.options.as_ref(), None, r.keep_alive))),
        ("show", |d| decode::<ShowRequest>(d, |r| name(&r.model))),
        ("copy", |d| decode::<CopyRequest>(d, |r| name(&r.source).and_then(|()| name(&r.destination)))),
        ("delete", |d| decode::<DeleteRequest>(d, |r| name(&r.model))),
        ("pull", |d| decode::<PullRequest>(d, |r| name(&r.model))),
        ("load", |d| decode::<LoadRequest>(d, |r| name(&r.model).map(|()| keep_alive(r.keep_alive)))),
        ("unload", |d| decode::<UnloadRequest>(d, |r| r.model.as_deref().map_or(Ok(()), name))),
        ("pin", |d| decode::<PinRequest>(d, |r| name(&r.model))),
        ("v1/chat", |d| decode::<ChatCompletionRequest>(d, |r| openai(&r.model, r.temperature, r.top_p, r.max_tokens, r.seed))),
        ("v1/completions", |d| decode::<CompletionRequest>(d, |r| openai(&r.model, r.temperature, r.top_p, r.max_tokens, r.seed))),
        ("v1/embeddings", |d| decode::<EmbeddingRequest>(d, |r| name(&r.model))),
    ];
    let mut refusals = Vec::new();
    for (what, check) in checks {
        match check(data) {
            Ok(()) => return Ok(()),
            Err(e) => refusals.push(format!("{what}: {e}")),
        }
    }
    Err(refusals.join("; "))
}

/// Parses with the daemon's decoder, checks the round trip, then runs `then`.
fn decode<T: DeserializeOwned + Serialize>(data: &[u8], then: impl Fn(&T) -> Outcome) -> Outcome {
    let req: T = extract::parse(data).map_err(|e| e.to_string())?;
    let first = serde_json::to_string(&req).map_err(|e| format!("cannot serialize: {e}"))?;
    let again: T = extract::parse(first.as_bytes())
        .unwrap_or_else(|e| panic!("invariant broken: a decoded body does not decode again: {e}\n{first}"));
    let second = serde_json::to_string(&again).map_err(|e| format!("cannot serialize: {e}"))?;
    invariant!(first == second, "round trip changed the body:\n{first}\n{second}");
    then(&req)
}

/// What `/api/generate`, `/api/chat` and `/api/embed` check before leasing a model.
fn native(model: &str, options: Option<&Options>, format: Option<&Format>, keep: Option<KeepAlive>) -> Outcome {
    name(model)?;
    keep_alive(keep);
    if let Some(format) = format {
        json_constraint(format)?;
    }
    layered_options(options)
}

/// The OpenAI layer's option mapping (temperature and top_p default to 1.0), then the same checks.
fn openai(model: &str, temperature: Option<f64>, top_p: Option<f64>, max_tokens: Option<i64>, seed: Option<i64>) -> Outcome {
    name(model)?;
    let options = Options {
        temperature: Some(temperature.unwrap_or(1.0)),
        top_p: Some(top_p.unwrap_or(1.0)),
        num_predict: max_tokens,
        seed,
        ..Options::default()
    };
    layered_options(Some(&options))
}

/// `App::options_for`: config defaults overlaid by the request, validated, then resolved.
fn layered_options(request: Option<&Options>) -> Outcome {
    let merged = request.map_or_else(Options::default, |r| Options::default().overlay(r));
    merged.validate().map_err(|e| e.to_string())?;
    let resolved = merged.resolve();
    invariant!((0.0..=1.0).contains(&resolved.top_p), "validated top_p {} out of range", resolved.top_p);
    Ok(())
}

/// `App::parse_name`.
fn name(model: &str) -> Outcome {
    if model.trim().is_empty() {
        return Err("model is required".into());
    }
    ModelName::parse(model).map(|_| ()).map_err(|e| e.to_string())
}

/// keep_alive as the pool reads it; its wire form must read back as the same value.
fn keep_alive(keep: Option<KeepAlive>) {
    let Some(k) = keep else { return };
    let _ = k.duration();
    let text = k.to_string();
    let back = KeepAlive::parse(&text).unwrap_or_else(|e| panic!("invariant broken: keep_alive {k:?} prints as {text:?}: {e}"));
    invariant!(back == k, "keep_alive {k:?} prints as {text:?}, which reads back as {back:?}");
}

/// The `format` constraint: compile the schema, then run the matcher over a document the
/// schema must accept when it is `"json"` (any object), and over garbage otherwise.
fn json_constraint(format: &Format) -> Outcome {
    let schema = match format {
        Format::Json => Schema::any_object(),
        Format::Schema(v) => Schema::compile(v)?,
    };
    let schema = Arc::new(schema);
    if let Format::Schema(v) = format {
        let mut m = Matcher::new(schema.clone());
        for b in v.to_string().bytes() {
            if !m.feed(b) {
                break;
            }
        }
        let _ = m.is_complete();
    }
    let object = r#"{"a": [1, -2.5e3, true, null, {"b": "c\u00e9\"\\"}], "d": {}}"#;
    let mut m = Matcher::new(Arc::new(Schema::any_object()));
    invariant!(object.bytes().all(|b| m.feed(b)) && m.is_complete(), "\"json\" format refused a JSON object");
    Ok(())
}

// ---- model names -----------------------------------------------------------------------------

/// `ModelName::parse` on any UTF-8 text (names arrive as JSON strings, so always UTF-8), with
/// the invariants the store relies on: the folder stays inside the store, and the display
/// form, the folder and the key all map back to the same name.
pub fn model_name(data: &[u8]) -> Outcome {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    let n = ModelName::parse(text).map_err(|e| e.to_string())?;
    let dir = n.relative_dir();
    let parts: Vec<_> = dir.components().collect();
    invariant!(
        parts.len() == 2 && parts.iter().all(|c| matches!(c, std::path::Component::Normal(_))),
        "{text:?} maps to folder {dir:?}, which is not <org>/<name>"
    );
    let shown = n.to_string();
    let reparsed = ModelName::parse(&shown).unwrap_or_else(|e| panic!("invariant broken: {text:?} displays as {shown:?}: {e}"));
    invariant!(reparsed == n, "{text:?} displays as {shown:?}, which parses as {reparsed:?}");
    let from_folder = ModelName::from_folder(n.namespace(), &n.folder_name());
    invariant!(from_folder.as_ref().is_some_and(|f| f.same_as(&n)), "{text:?}: folder {dir:?} reads back as {from_folder:?}");
    invariant!(n.key() == n.key().to_lowercase(), "key {:?} is not lower-case", n.key());
    Ok(())
}

// ---- model folders ---------------------------------------------------------------------------

/// A scratch store holding one model folder, `fuzz/model`.
struct Folder {
    _tmp: tempfile::TempDir,
    models: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Folder {
    fn new() -> Result<Folder, String> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let models = tmp.path().join("models");
        let dir = models.join("fuzz/model");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Folder { _tmp: tmp, models, dir })
    }

    fn write(&self, file: &str, bytes: &[u8]) -> Result<(), String> {
        std::fs::write(self.dir.join(file), bytes).map_err(|e| e.to_string())
    }
}

/// What the store and the engine do with a model folder: the store's listing (its layout and
/// safetensors checks) and `/api/show` details, then the engine's memory estimate (config and
/// headers only) and a real load through MLX. Accepted only when the engine loads it.
fn load_folder(f: &Folder) -> Outcome {
    let store = Store::open(StoreConfig { models_dir: f.models.clone(), hf_cache_dirs: vec![], ollama_dir: None })
        .map_err(|e| e.to_string())?;
    let listed = store.list().iter().any(|e| e.name.to_string() == "fuzz/model:latest");
    let shown = store.show("fuzz/model");
    invariant!(!listed || shown.is_ok(), "the store lists a folder it cannot show: {:?}", shown.err());
    let estimate = estimate_memory(&f.dir, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let _ = estimate.total(4096);
    let network = Network::load(&f.dir, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let _ = network.info();
    // The store's check is weaker than the engine's: what loads must also be listed.
    invariant!(listed, "the engine loads a folder the store does not list");
    Ok(())
}

/// Fuzzed `model.safetensors` beside the micro llama config.
pub fn safetensors(data: &[u8]) -> Outcome {
    let f = Folder::new()?;
    f.write("config.json", MICRO_CONFIG)?;
    f.write("tokenizer.json", b"{}")?;
    f.write("model.safetensors", data)?;
    load_folder(&f)
}

/// Fuzzed `config.json` beside the micro llama weights.
pub fn config_json(data: &[u8]) -> Outcome {
    let f = Folder::new()?;
    f.write("config.json", data)?;
    f.write("tokenizer.json", b"{}")?;
    f.write("model.safetensors", MICRO_WEIGHTS)?;
    load_folder(&f)
}

// ---- GGUF ------------------------------------------------------------------------------------

/// A fuzzed GGUF file through the store's importer: the reader, the hyperparameters, the
/// tokenizer rebuild, the tensor-name mapping and the whole conversion; a converted folder must
/// then pass the store's checks and load in the engine.
pub fn gguf(data: &[u8]) -> Outcome {
    let f = Folder::new()?;
    let path = f.models.join("input.gguf");
    std::fs::write(&path, data).map_err(|e| e.to_string())?;
    let file = GgufFile::open(&path).map_err(|e| e.to_string())?;
    let hp = Hparams::read(&file).map_err(|e| e.to_string())?;
    for t in &file.tensors {
        let _ = hp.map_name(&t.name);
        let _ = t.shape();
    }
    tokenizer::build(&file, hp.context).map_err(|e| e.to_string())?;
    import::convert_folder(&path, &f.dir, &mut |_| {}).map_err(|e| e.to_string())?;
    load_folder(&f).map_err(|e| format!("converted folder: {e}"))
}
