//! `/api/chat` bodies, messages, tools and tool calls.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::generate::{de_format, DoneReason, Format, Metrics, Think};
use super::Timestamp;
use crate::{KeepAlive, Options};

/// `null` reads as the type's default (clients send `"content": null`).
pub(crate) fn de_null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One chat message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool` (the daemon lower-cases it).
    #[serde(default, deserialize_with = "de_null_default")]
    pub role: String,
    /// Text (may be absent: ollama-python drops empty strings).
    #[serde(default, deserialize_with = "de_null_default")]
    pub content: String,
    /// Reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Base64 images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Tool calls made by the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For `tool` messages: which tool produced this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// For `tool` messages: which call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// An assistant message with this text.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message { role: "assistant".into(), content: content.into(), ..Message::default() }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function.
    pub function: ToolFunction,
}

fn function_type() -> String {
    "function".into()
}

/// A callable function's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolFunction {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default)]
    pub parameters: Value,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// `call_` and 8 lowercase alphanumerics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function and its arguments.
    pub function: ToolCallFunction,
}

/// The function part of a tool call; `arguments` is an object on the native API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallFunction {
    /// Position among the calls of one reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Function name.
    pub name: String,
    /// Arguments; a JSON-encoded string is accepted on input too (OpenAI-style history).
    #[serde(default, deserialize_with = "de_arguments")]
    pub arguments: Map<String, Value>,
}

fn de_arguments<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(de::Error::custom("tool call arguments must be a JSON object")),
        },
        _ => Err(de::Error::custom("tool call arguments must be a JSON object")),
    }
}

/// `POST /api/chat`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatRequest {
    /// Model name (required).
    #[serde(default)]
    pub model: String,
    /// The conversation; empty or absent loads (or with `keep_alive: 0` unloads) the model.
    #[serde(default, deserialize_with = "de_null_default")]
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Constrain the output to JSON.
    #[serde(default, deserialize_with = "de_format", skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Sampling and runner options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
    /// Stream NDJSON (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// How long to keep the model loaded afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Thinking control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Think>,
}

/// One `/api/chat` response line (or the whole reply when not streaming).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model name as the client sent it.
    pub model: String,
    /// When this chunk was made (UTC).
    pub created_at: Timestamp,
    /// Always present, even on load/unload replies.
    pub message: Message,
    /// True on the last chunk.
    pub done: bool,
    /// Why the reply ended (final chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<DoneReason>,
    /// Final-chunk metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_tolerate_missing_and_null_content() {
        let r: ChatRequest =
            serde_json::from_str(r#"{"model":"m","messages":[{"role":"user"},{"role":"assistant","content":null}]}"#)
                .unwrap();
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.messages[1].content, "");
        let r: ChatRequest = serde_json::from_str(r#"{"model":"m","messages":null}"#).unwrap();
        assert!(r.messages.is_empty());
    }

    #[test]
    fn tool_call_arguments_object_or_string() {
        let m: Message = serde_json::from_str(
            r#"{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}"#,
        )
        .unwrap();
        assert_eq!(m.tool_calls.unwrap()[0].function.arguments["a"], 1);
        let bad = r#"{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}"#;
        assert!(serde_json::from_str::<Message>(bad).is_err());
    }

    #[test]
    fn response_always_has_message() {
        let resp = ChatResponse {
            model: "m".into(),
            created_at: chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z").unwrap(),
            message: Message::assistant(""),
            done: true,
            done_reason: Some(DoneReason::Unload),
            metrics: Metrics::default(),
        };
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(v["message"], serde_json::json!({"role":"assistant","content":""}));
        assert_eq!(v["done_reason"], "unload");
    }
}
