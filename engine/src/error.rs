//! The engine's error type: every failure names the file, tensor or field involved.
use std::path::PathBuf;

/// Everything that can go wrong loading a model or generating from it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file the model needs is absent.
    #[error("{}: missing file (a model folder needs {what})", path.display())]
    MissingFile {
        /// The expected file.
        path: PathBuf,
        /// What the file is for.
        what: &'static str,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// config.json (or another JSON file) is malformed or has a bad field.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// `model_type` names an architecture we do not implement.
    #[error("unsupported architecture {model_type:?} (supported: {})", supported.join(", "))]
    UnsupportedArchitecture {
        /// The config's model_type.
        model_type: String,
        /// Every model_type we load.
        supported: Vec<&'static str>,
    },
    /// A safetensors file is truncated or its header is invalid.
    #[error("{}: invalid safetensors file: {message}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("tensor {name:?} is missing from the weights")]
    MissingTensor {
        /// Checkpoint name.
        name: String,
    },
    /// A tensor's shape or dtype disagrees with config.json.
    #[error("tensor {name:?} has {found}, but config.json implies {expected}")]
    TensorMismatch {
        /// Checkpoint name.
        name: String,
        /// What the config implies.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// Tokenizer or chat-template failure.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
    /// The prompt does not fit the context.
    #[error("the prompt has {tokens} tokens, more than the context length of {limit}")]
    PromptTooLong {
        /// Prompt tokens.
        tokens: usize,
        /// The context limit in force.
        limit: usize,
    },
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A sampling option is out of range.
    #[error("invalid option {name}: {message}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// MLX threw.
    #[error(transparent)]
    Mlx(#[from] crate::mlx::MlxError),
}

/// Result with [`EngineError`].
pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    /// A config error for `path` naming `message`.
    #[cold]
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> EngineError {
        EngineError::Config { path: path.into(), message: message.into() }
    }
}
