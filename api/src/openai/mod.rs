//! OpenAI-compatible bodies (`/v1/*`). The daemon translates them to and from the native
//! requests; nothing here generates anything.

mod chat;
mod completions;

pub use chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Choice, ChunkChoice, ContentPart,
    Delta, FunctionCall, ImageUrl, MessageContent, ResponseFormat, ResponseMessage, ToolCall,
};
pub use completions::{Completion, CompletionChoice, CompletionRequest};

use serde::{Deserialize, Serialize};

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` before `[DONE]`.
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Stop {
    /// The stop strings.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// How many prompt tokens were cached (present when some were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens whose computation was reused.
    pub cached_tokens: u64,
}

impl Usage {
    /// Usage from the two counts.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens, prompt_tokens_details: None }
    }

    /// Usage of a prompt of which `cached` tokens were reused (`prompt_tokens` counts them,
    /// as OpenAI does).
    pub fn with_cached(prompt_tokens: u64, completion_tokens: u64, cached: u64) -> Usage {
        let details = (cached > 0).then_some(PromptTokensDetails { cached_tokens: cached });
        Usage { prompt_tokens_details: details, ..Usage::new(prompt_tokens, completion_tokens) }
    }
}

/// OpenAI's error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The error inside the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// `invalid_request_error` (400), `not_found_error` (404) or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always null.
    pub param: Option<String>,
    /// Always null.
    pub code: Option<String>,
}

impl ErrorEnvelope {
    /// The envelope for an HTTP status, typed as Ollama's OpenAI layer does.
    pub fn for_status(status: u16, message: impl Into<String>) -> ErrorEnvelope {
        let kind = match status {
            400 | 413 | 422 => "invalid_request_error",
            404 => "not_found_error",
            _ => "api_error",
        };
        ErrorEnvelope { error: ErrorBody { message: message.into(), kind: kind.into(), param: None, code: None } }
    }
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EmbeddingRequest {
    /// Text or texts (token arrays are not supported).
    pub input: crate::ollama::EmbedInput,
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// Keep the first k dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// `float` (default) or `base64` (little-endian f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
}

/// One embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// `"embedding"`.
    pub object: String,
    /// A list of floats, or a base64 string with `encoding_format: base64`.
    pub embedding: serde_json::Value,
    /// Position in the input.
    pub index: usize,
}

/// Usage of an embedding request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Same.
    pub total_tokens: u64,
}

/// `/v1/embeddings` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingList {
    /// `"list"`.
    pub object: String,
    /// One per input.
    pub data: Vec<Embedding>,
    /// Model name.
    pub model: String,
    /// Tokens.
    pub usage: EmbeddingUsage,
}

/// One model of `/v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// `name:tag`.
    pub id: String,
    /// `"model"`.
    pub object: String,
    /// Unix time of the last change.
    pub created: i64,
    /// The namespace.
    pub owned_by: String,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// `"list"`.
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_types() {
        let v = serde_json::to_value(ErrorEnvelope::for_status(404, "model 'x' not found")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"model 'x' not found","type":"not_found_error","param":null,"code":null}})
        );
        assert_eq!(ErrorEnvelope::for_status(400, "x").error.kind, "invalid_request_error");
        assert_eq!(ErrorEnvelope::for_status(503, "x").error.kind, "api_error");
    }

    #[test]
    fn stop_forms() {
        let s: Stop = serde_json::from_str(r#""x""#).unwrap();
        assert_eq!(s.into_vec(), vec!["x"]);
        let s: Stop = serde_json::from_str(r#"["x","y"]"#).unwrap();
        assert_eq!(s.into_vec().len(), 2);
    }
}
