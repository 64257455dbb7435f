//! `/api/generate` bodies and what generate and chat share: `format`, `think`, `done_reason`
//! and the final-chunk metrics.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{is_zero_u64, Timestamp, ToolCall};
use crate::{KeepAlive, Options};

/// `format`: constrain the output to JSON, optionally to a schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// `"json"`: any JSON value.
    Json,
    /// A JSON Schema object.
    Schema(Value),
}

impl Format {
    /// Reads the wire value: `null` and `""` mean unset.
    pub fn from_value(value: Value) -> Result<Option<Format>, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) if s == "json" => Ok(Some(Format::Json)),
            Value::Object(_) => Ok(Some(Format::Schema(value))),
            other => Err(format!("invalid format {other}: expected \"json\" or a valid JSON Schema object")),
        }
    }
}

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Format::Json => s.serialize_str("json"),
            Format::Schema(v) => v.serialize(s),
        }
    }
}

/// Deserialises an optional `format` field.
pub(crate) fn de_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Format>, D::Error> {
    Format::from_value(Value::deserialize(d)?).map_err(de::Error::custom)
}

/// `think`: a boolean or an effort level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Think {
    /// `true` / `false`.
    Enabled(bool),
    /// `"low"`, `"medium"`, `"high"` or `"max"` (thinking on).
    Level(String),
}

impl Think {
    /// Effort levels Ollama accepts.
    pub const LEVELS: [&'static str; 4] = ["low", "medium", "high", "max"];

    /// Whether thinking is on.
    pub fn enabled(&self) -> bool {
        match self {
            Think::Enabled(b) => *b,
            Think::Level(_) => true,
        }
    }
}

impl<'de> Deserialize<'de> for Think {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Think::Enabled(b)),
            Value::String(s) if Think::LEVELS.contains(&s.as_str()) => Ok(Think::Level(s)),
            other => Err(de::Error::custom(format!(
                "invalid think value {other}: expected true, false, \"low\", \"medium\", \"high\" or \"max\""
            ))),
        }
    }
}

impl Serialize for Think {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Think::Enabled(b) => s.serialize_bool(*b),
            Think::Level(l) => s.serialize_str(l),
        }
    }
}

/// Why a response is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoneReason {
    /// EOS, a stop string, or a complete constrained value.
    Stop,
    /// `num_predict` or the context limit was reached.
    Length,
    /// An empty prompt loaded the model.
    Load,
    /// An empty prompt with `keep_alive: 0` unloaded the model.
    Unload,
}

/// Final-chunk metrics; durations in nanoseconds, zero values omitted (as Ollama does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Request arrival to completion.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub total_duration: u64,
    /// Request arrival until the model was ready (queue wait and load).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub load_duration: u64,
    /// Prompt tokens processed.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub prompt_eval_count: u64,
    /// Time spent on the prompt.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub prompt_eval_duration: u64,
    /// Tokens generated.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub eval_count: u64,
    /// Time spent generating.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub eval_duration: u64,
}

/// `POST /api/generate`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct GenerateRequest {
    /// Model name (required).
    #[serde(default)]
    pub model: String,
    /// Prompt; empty loads (or with `keep_alive: 0` unloads) the model.
    #[serde(default)]
    pub prompt: String,
    /// Text after the completion (fill-in-the-middle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// System prompt, overriding the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Template override (Go template in Ollama; not supported here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Token ids returned by an earlier response (deprecated conversational memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<u32>>,
    /// Stream NDJSON (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// No templating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
    /// Constrain the output to JSON.
    #[serde(default, deserialize_with = "de_format", skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Base64 images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Sampling and runner options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
    /// How long to keep the model loaded afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Thinking control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Think>,
}

/// One `/api/generate` response line (or the whole reply when not streaming).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// The model name as the client sent it.
    pub model: String,
    /// When this chunk was made (UTC).
    pub created_at: Timestamp,
    /// Generated text (always present, `""` when empty).
    #[serde(default)]
    pub response: String,
    /// Reasoning text, separate from `response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Parsed tool calls (final chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// True on the last chunk.
    pub done: bool,
    /// Why the reply ended (final chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<DoneReason>,
    /// Token ids of prompt and reply (final chunk, non-raw requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<u32>>,
    /// Final-chunk metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_values() {
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","format":""}"#).unwrap();
        assert_eq!(r.format, None);
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","format":null}"#).unwrap();
        assert_eq!(r.format, None);
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","format":"json"}"#).unwrap();
        assert_eq!(r.format, Some(Format::Json));
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","format":{"type":"object"}}"#).unwrap();
        assert!(matches!(r.format, Some(Format::Schema(_))));
        let e = serde_json::from_str::<GenerateRequest>(r#"{"model":"m","format":"yaml"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid format"), "{e}");
    }

    #[test]
    fn think_values() {
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","think":"high"}"#).unwrap();
        assert_eq!(r.think, Some(Think::Level("high".into())));
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"model":"m","think":"extreme"}"#).is_err());
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"model":"m","think":1}"#).is_err());
    }

    #[test]
    fn missing_fields_default_and_unknown_are_ignored() {
        let r: GenerateRequest = serde_json::from_str(r#"{"model":"m","width":3,"keep_alive":"-1"}"#).unwrap();
        assert_eq!(r.prompt, "");
        assert_eq!(r.keep_alive, Some(KeepAlive::Forever));
    }

    #[test]
    fn final_chunk_shape() {
        let resp = GenerateResponse {
            model: "m".into(),
            created_at: chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05.123456789Z").unwrap(),
            response: String::new(),
            thinking: None,
            tool_calls: None,
            done: true,
            done_reason: Some(DoneReason::Load),
            context: None,
            metrics: Metrics { total_duration: 5, eval_count: 0, ..Metrics::default() },
        };
        let v: Value = serde_json::to_value(&resp).unwrap();
        assert_eq!(v["response"], "");
        assert_eq!(v["done_reason"], "load");
        assert_eq!(v["total_duration"], 5);
        assert!(v.get("eval_count").is_none());
        assert!(v.get("thinking").is_none());
    }
}
