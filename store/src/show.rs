//! The data /api/show needs, read from a model folder: config.json, the chat
//! template, generation defaults (as Ollama parameters) and tensor list.

use std::path::Path;

use serde::Serialize;

use crate::error::StoreError;
use crate::layout::{check_safetensors, read_json_object, ModelEntry};

/// One tensor of the weights.
#[derive(Clone, Debug, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// safetensors dtype (`U32`, `F16`, ...).
    #[serde(rename = "type")]
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
}

/// Everything /api/show reports about a model.
#[derive(Clone, Debug)]
pub struct ModelDetails {
    /// The model as listed.
    pub entry: ModelEntry,
    /// config.json.
    pub config: serde_json::Value,
    /// Jinja chat template (tokenizer_config.json or chat_template.jinja).
    pub chat_template: Option<String>,
    /// generation_config.json (`{}` when absent).
    pub generation: serde_json::Value,
    /// Ollama-style parameters derived from generation defaults: `(key, value)`,
    /// repeated keys for lists such as `stop`.
    pub parameters: Vec<(String, String)>,
    /// Tensors across all weight files, sorted by name.
    pub tensors: Vec<TensorInfo>,
}

/// Reads the details of a resolved model.
pub(crate) fn details(entry: ModelEntry) -> Result<ModelDetails, StoreError> {
    let dir = entry.path.clone();
    let corrupt = |file: &str, reason: String| StoreError::Corrupt {
        path: dir.join(file),
        reason,
    };
    let config =
        read_json_object(&dir.join("config.json")).map_err(|e| corrupt("config.json", e))?;
    let tok_config = optional_json(&dir.join("tokenizer_config.json"))
        .map_err(|e| corrupt("tokenizer_config.json", e))?;
    let generation = optional_json(&dir.join("generation_config.json"))
        .map_err(|e| corrupt("generation_config.json", e))?;
    let chat_template = chat_template(&dir, &tok_config);
    let parameters = parameters(&generation, &tok_config);
    let mut tensors = Vec::new();
    for file in safetensors_files(&dir) {
        let list = check_safetensors(&dir.join(&file)).map_err(|e| corrupt(&file, e))?;
        tensors.extend(list.into_iter().map(|(name, dtype, shape)| TensorInfo {
            name,
            dtype,
            shape,
        }));
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ModelDetails {
        entry,
        config: serde_json::Value::Object(config),
        chat_template,
        generation: serde_json::Value::Object(generation),
        parameters,
        tensors,
    })
}

fn optional_json(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if path.exists() {
        read_json_object(path)
    } else {
        Ok(serde_json::Map::new())
    }
}

/// The template from chat_template.jinja, else tokenizer_config.json's
/// `chat_template` (a string, or a list of `{name, template}` where
/// `default` wins).
fn chat_template(
    dir: &Path,
    tok_config: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Some(text);
    }
    match tok_config.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => {
            let pick = list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .or_else(|| list.first())?;
            pick.get("template")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        }
        _ => None,
    }
}

/// Maps HF generation defaults onto Ollama parameter names.
fn parameters(
    generation: &serde_json::Map<String, serde_json::Value>,
    tok_config: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (hf, ollama) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("repetition_penalty", "repeat_penalty"),
    ] {
        if let Some(v) = generation.get(hf).filter(|v| v.is_number()) {
            out.push((ollama.to_string(), v.to_string()));
        }
    }
    if let Some(eos) = tok_config.get("eos_token").and_then(token_text) {
        out.push(("stop".to_string(), eos));
    }
    out
}

/// A special token given as a string or as `{"content": ...}`.
fn token_text(v: &serde_json::Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.get("content")?.as_str().map(str::to_string))
}

fn safetensors_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".safetensors") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
