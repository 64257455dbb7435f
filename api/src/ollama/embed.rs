//! `/api/embed` and the legacy `/api/embeddings`.

use serde::{Deserialize, Serialize};

use super::is_zero_u64;
use crate::{KeepAlive, Options};

/// `input`: one string or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbedInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

impl EmbedInput {
    /// The texts, in order; an empty string counts as no input (Ollama's "load only").
    pub fn into_vec(self) -> Vec<String> {
        match self {
            EmbedInput::One(s) if s.is_empty() => Vec::new(),
            EmbedInput::One(s) => vec![s],
            EmbedInput::Many(v) => v,
        }
    }
}

/// `POST /api/embed`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EmbedRequest {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// Text(s) to embed; absent or empty loads the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<EmbedInput>,
    /// Cut inputs longer than the context (default true); false makes that an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<bool>,
    /// Keep only the first k dimensions (then re-normalise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// Options (`num_ctx` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
    /// How long to keep the model loaded afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
}

/// `/api/embed` reply: L2-normalised vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    /// The model name as sent.
    pub model: String,
    /// One vector per input.
    pub embeddings: Vec<Vec<f32>>,
    /// Request arrival to completion, ns.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub total_duration: u64,
    /// Queue wait and load, ns.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub load_duration: u64,
    /// Tokens over all inputs.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub prompt_eval_count: u64,
}

/// `POST /api/embeddings` (legacy, one prompt).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EmbeddingsRequest {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// The text; empty loads the model.
    #[serde(default)]
    pub prompt: String,
    /// Options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
    /// How long to keep the model loaded afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
}

/// `/api/embeddings` reply: the raw, not normalised vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// The vector (`[]` for a load-only request).
    pub embedding: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_forms() {
        let r: EmbedRequest = serde_json::from_str(r#"{"model":"m","input":"hi"}"#).unwrap();
        assert_eq!(r.input.unwrap().into_vec(), vec!["hi"]);
        let r: EmbedRequest = serde_json::from_str(r#"{"model":"m","input":["a","b"]}"#).unwrap();
        assert_eq!(r.input.unwrap().into_vec().len(), 2);
        let r: EmbedRequest = serde_json::from_str(r#"{"model":"m","input":""}"#).unwrap();
        assert!(r.input.unwrap().into_vec().is_empty());
        assert!(serde_json::from_str::<EmbedRequest>(r#"{"model":"m","input":[1]}"#).is_err());
    }
}
