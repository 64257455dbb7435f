//! Native Ollama bodies (`/api/*`), field for field as Ollama sends and reads them.
//!
//! Unknown request fields are ignored, as Ollama does. Response fields that Ollama marks
//! `omitempty` are skipped when empty; fields clients require (`message`, `model_info`,
//! `models`, `embeddings`) are always written.

mod chat;
mod embed;
mod generate;
mod models;

pub use chat::{ChatRequest, ChatResponse, Message, Tool, ToolCall, ToolCallFunction, ToolFunction};
pub use embed::{EmbedInput, EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse};
pub use generate::{DoneReason, Format, GenerateRequest, GenerateResponse, Metrics, Think};
pub use models::{
    CopyRequest, DeleteRequest, ListModel, ListResponse, ModelDetails, ProcessModel, ProcessResponse,
    ProgressResponse, PullRequest, ShowRequest, ShowResponse, TensorInfo, VersionResponse,
};

use serde::{Deserialize, Serialize};

/// Every error body: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong, for a person.
    pub error: String,
}

/// Timestamps as Ollama writes them (RFC 3339 with up to 9 fractional digits).
pub type Timestamp = chrono::DateTime<chrono::FixedOffset>;

pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}
