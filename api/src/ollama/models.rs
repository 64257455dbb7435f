//! Listing, inspection and management bodies: tags, ps, show, copy, delete, pull, version.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Message, Timestamp};
use crate::Options;

/// `details` of a model, as in tags, ps and show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
    /// Model this one was made from (`""` when none).
    #[serde(default)]
    pub parent_model: String,
    /// `safetensors` for MLX folders.
    #[serde(default)]
    pub format: String,
    /// Architecture family (`llama`, `qwen2`, ...).
    #[serde(default)]
    pub family: String,
    /// Families, usually just `[family]`.
    #[serde(default)]
    pub families: Option<Vec<String>>,
    /// `"135M"`, `"3.2B"`.
    #[serde(default)]
    pub parameter_size: String,
    /// `"Q4"`, `"F32"`, `"BF16"`.
    #[serde(default)]
    pub quantization_level: String,
}

/// One entry of `/api/tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListModel {
    /// `name:tag`, always with the tag.
    pub name: String,
    /// Same as `name`.
    pub model: String,
    /// Last change of the model's files (local offset).
    pub modified_at: Timestamp,
    /// Bytes on disk.
    pub size: u64,
    /// 64 hex digits, no `sha256:` prefix.
    pub digest: String,
    /// Details.
    pub details: ModelDetails,
}

/// `GET /api/tags`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Never null.
    pub models: Vec<ListModel>,
}

/// One entry of `/api/ps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessModel {
    /// `name:tag`.
    pub name: String,
    /// Same as `name`.
    pub model: String,
    /// Bytes really resident (weights + KV + cache share).
    pub size: u64,
    /// 64 hex digits.
    pub digest: String,
    /// Details.
    pub details: ModelDetails,
    /// When the model will be unloaded if unused (far future when pinned or forever).
    pub expires_at: Timestamp,
    /// The part of `size` in device memory (all of it with unified memory).
    pub size_vram: u64,
    /// Per-sequence context the model is loaded for.
    pub context_length: u64,
}

/// `GET /api/ps`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessResponse {
    /// Never null; longest remaining time first.
    pub models: Vec<ProcessModel>,
}

/// `POST /api/show`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ShowRequest {
    /// Model name (`name` accepted for old clients).
    #[serde(default, alias = "name")]
    pub model: String,
    /// Include long arrays in `model_info`.
    #[serde(default)]
    pub verbose: bool,
    /// Ignored (Ollama uses it to render a modelfile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
}

/// A tensor of `/api/show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Element type (`F32`, `U32`, `BF16`, ...).
    #[serde(rename = "type")]
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
}

/// `/api/show` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    /// License text, when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// A generated Modelfile.
    #[serde(default)]
    pub modelfile: String,
    /// `key  value` lines.
    #[serde(default)]
    pub parameters: String,
    /// The chat template (Jinja, from the tokenizer config).
    #[serde(default)]
    pub template: String,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Details.
    pub details: ModelDetails,
    /// Preset messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// `general.*` and `<arch>.*` keys; always present.
    pub model_info: Map<String, Value>,
    /// Tensors (verbose only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<TensorInfo>>,
    /// `completion`, `tools`, `thinking`, `embedding`, ...
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Last change of the model's files.
    pub modified_at: Timestamp,
}

/// `POST /api/copy`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CopyRequest {
    /// Existing model.
    #[serde(default)]
    pub source: String,
    /// New name.
    #[serde(default)]
    pub destination: String,
}

/// `DELETE /api/delete`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DeleteRequest {
    /// Model name (`name` accepted: ollama-js sends it).
    #[serde(default, alias = "name")]
    pub model: String,
}

/// `POST /api/pull`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PullRequest {
    /// Model name (`name` accepted: ollama-js sends it).
    #[serde(default, alias = "name")]
    pub model: String,
    /// Ignored (no TLS choice here).
    #[serde(default)]
    pub insecure: bool,
    /// Stream progress (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// A progress line of pull (`{"status":"success"}` last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressResponse {
    /// What is happening.
    pub status: String,
    /// `sha256:<hex>` of the file in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

/// `GET /api/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// `X.Y.Z`.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_name_key() {
        let r: DeleteRequest = serde_json::from_str(r#"{"name":"a:b"}"#).unwrap();
        assert_eq!(r.model, "a:b");
        let r: PullRequest = serde_json::from_str(r#"{"model":"a"}"#).unwrap();
        assert_eq!(r.model, "a");
        let r: ShowRequest = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(r.model, "x");
    }

    #[test]
    fn show_always_has_model_info() {
        let resp = ShowResponse {
            license: None,
            modelfile: String::new(),
            parameters: String::new(),
            template: String::new(),
            system: None,
            details: ModelDetails::default(),
            messages: None,
            model_info: Map::new(),
            tensors: None,
            capabilities: vec!["completion".into()],
            modified_at: chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05+02:00").unwrap(),
        };
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(v["model_info"], serde_json::json!({}));
        assert_eq!(v["modified_at"], "2024-01-02T03:04:05+02:00");
    }
}
