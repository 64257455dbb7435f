//! The text side of the engine: tokenizer, streaming detokenizer, chat templates and stop strings.
//!
//! Everything here is plain Rust (no MLX): [`Tokenizer`] wraps the `tokenizers` crate over a Hugging
//! Face model folder, [`StreamingDetokenizer`] turns generated ids into UTF-8 text piece by piece,
//! [`ChatTemplate`] renders the model's own Jinja `chat_template` the way `transformers` does, and
//! [`StopMatcher`] holds back text that could be the start of a stop string.
//!
//! Not here: sampling, the decode loop, or any knowledge of model architectures.

mod bytes;
mod config;
mod detokenizer;
mod jinja;
mod pyjson;
mod stop;
mod template;
mod tokenizer;

use std::path::PathBuf;

pub use detokenizer::StreamingDetokenizer;
pub use stop::{StopMatcher, StopStep};
pub use template::{ChatRenderRequest, ChatTemplate};
pub use tokenizer::Tokenizer;

/// Why a chat template failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFailure {
    /// The template source does not parse.
    Syntax,
    /// Rendering failed inside the template (bad operation, unknown filter, wrong type…).
    Render,
    /// The template itself called `raise_exception(...)`: the conversation is one it refuses
    /// (e.g. roles that do not alternate). Callers usually report this as bad input.
    Raised,
}

/// Errors of the text module; every variant names the file, field or template involved.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A required file is missing from the model folder.
    #[error("missing file {path}")]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file does not parse.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file being parsed.
        path: PathBuf,
        /// The parser's error (carries line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A field of a JSON file has a value of the wrong shape.
    #[error("{path}: field `{field}` {message}")]
    Field {
        /// The file holding the field.
        path: PathBuf,
        /// The field's name.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `tokenizers` library rejected `tokenizer.json`.
    #[error("cannot load tokenizer {path}: {source}")]
    TokenizerLoad {
        /// The `tokenizer.json` file.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: tokenizers::Error,
    },
    /// Encoding text into token ids failed.
    #[error("cannot encode text: {source}")]
    Encode {
        /// The library's error.
        #[source]
        source: tokenizers::Error,
    },
    /// Decoding token ids into text failed.
    #[error("cannot decode token ids: {source}")]
    Decode {
        /// The library's error.
        #[source]
        source: tokenizers::Error,
    },
    /// A chat template failed to parse or render.
    #[error("chat template {template}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Template {
        /// Which template: its file and, for named templates, its name.
        template: String,
        /// The template line the error points at, when known.
        line: Option<usize>,
        /// What went wrong (for [`TemplateFailure::Raised`], the template's own message).
        message: String,
        /// Whether the source is broken, rendering failed, or the template refused the input.
        failure: TemplateFailure,
    },
    /// The render request cannot be given to the template (e.g. a message that is not an object,
    /// or an extra variable that would shadow `messages`).
    #[error("chat template request: {0}")]
    BadRequest(String),
}
