//! `/v1/completions` bodies.

use serde::{Deserialize, Serialize};

use super::{Stop, StreamOptions, Usage};

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CompletionRequest {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// The prompt (a string only).
    #[serde(default)]
    pub prompt: String,
    /// Text after the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Becomes `num_predict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// Stop strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Temperature (1.0 when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Top-p (1.0 when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// SSE when true.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// A choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Generated text.
    pub text: String,
    /// Always 0.
    pub index: usize,
    /// `stop` or `length`; null on streamed chunks before the end.
    pub finish_reason: Option<String>,
    /// Always null.
    pub logprobs: Option<serde_json::Value>,
}

/// `/v1/completions` reply or SSE chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// `cmpl-<n>`.
    pub id: String,
    /// `"text_completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// Model name.
    pub model: String,
    /// `"fp_ollama"`.
    pub system_fingerprint: String,
    /// One choice (empty on the usage chunk).
    pub choices: Vec<CompletionChoice>,
    /// Token counts (non-streamed, or the usage chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}
