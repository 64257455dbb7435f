//! What handlers send to the engine thread and what comes back: plain data, no engine types.

use std::time::Duration;

use ollmlx_api::ollama::Format;
use ollmlx_api::Resolved;
use serde_json::Value;

/// Sampling settings in the engine's units.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct Sampling {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub seed: Option<u64>,
}

impl Sampling {
    /// From resolved options; `repeat_last_n: -1` means the whole context.
    #[allow(clippy::cast_possible_truncation)] // f64 -> f32 option values
    pub fn from_options(o: &Resolved, context: usize) -> Sampling {
        Sampling {
            temperature: o.temperature as f32,
            top_k: o.top_k,
            top_p: o.top_p as f32,
            min_p: o.min_p as f32,
            repeat_penalty: o.repeat_penalty as f32,
            repeat_last_n: usize::try_from(o.repeat_last_n).unwrap_or(context),
            presence_penalty: o.presence_penalty as f32,
            frequency_penalty: o.frequency_penalty as f32,
            seed: o.seed,
        }
    }
}

/// The prompt of a generation.
#[derive(Debug, Clone)]
pub enum PromptInput {
    /// Text tokenized as is (raw mode, or a model without a chat template).
    Raw {
        /// The text.
        text: String,
        /// Earlier token ids to continue from (`context`).
        context: Vec<u32>,
    },
    /// Messages rendered with the model's chat template.
    Chat {
        /// `{"role", "content", ...}` objects.
        messages: Vec<Value>,
        /// Tool schemas.
        tools: Option<Vec<Value>>,
        /// `enable_thinking` for templates that read it.
        think: Option<bool>,
        /// Earlier token ids to continue from (`context`).
        context: Vec<u32>,
    },
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenJob {
    /// Prompt.
    pub prompt: PromptInput,
    /// Sampling.
    pub sampling: Sampling,
    /// `num_predict`.
    pub max_tokens: Option<usize>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Context cap (`num_ctx`).
    pub context_limit: usize,
    /// JSON constraint.
    pub format: Option<Format>,
    /// Return prompt + reply ids at the end.
    pub want_context: bool,
}

/// Counts and durations of a finished generation.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Prompt tokens processed (after the prefix cache, as Ollama counts them).
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV came from the prefix cache.
    pub cached_tokens: usize,
    /// Prompt time (to the first token).
    pub prompt_duration: Duration,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Generation time after the first token.
    pub generation_duration: Duration,
    /// Ended on `num_predict` or the context limit.
    pub length: bool,
}

/// Why a generation could not run or stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenFailure {
    /// The request cannot be served (prompt too long, template error).
    #[error("{0}")]
    BadRequest(String),
    /// The engine failed.
    #[error("{0}")]
    Internal(String),
}

/// What the engine thread reports about a generation.
#[derive(Debug, Clone)]
pub enum GenEvent {
    /// The prompt was accepted (templated and tokenized).
    Started {
        /// Prompt tokens.
        prompt_tokens: usize,
    },
    /// New text.
    Text(String),
    /// The end.
    Done {
        /// Stats.
        stats: Stats,
        /// Prompt + reply ids when asked for.
        context: Option<Vec<u32>>,
    },
    /// It failed.
    Failed(GenFailure),
}

/// Embedding vectors and the tokens they took.
#[derive(Debug, Clone, Default)]
pub struct EmbedOutput {
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens over all inputs.
    pub tokens: usize,
}
