//! GGUF import: read a GGUF file (llama.cpp / Ollama format) and write a
//! plain MLX folder (config.json, model.safetensors, tokenizer files).
//!
//! - [`reader`]: header, metadata and tensor table, bounds-checked.
//! - [`quant`]: GGML types and their exact MLX affine mapping.
//! - [`tokenizer`]: HF tokenizer.json / tokenizer_config.json from metadata.
//! - [`import`]: names, Q/K row order, config and the folder itself.

pub mod config;
pub mod import;
mod kquant;
pub mod quant;
pub mod reader;
pub mod tokenizer;
mod write;

pub use reader::{GgufFile, TensorDesc, Value};

/// Why a GGUF file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Reading the file failed.
    #[error("{0}")]
    Io(String),
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (magic {found:?}, expected \"GGUF\")")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version this reader does not handle.
    #[error("unsupported GGUF version {version}: {detail}")]
    UnsupportedVersion {
        /// Version field as read.
        version: u32,
        /// Why.
        detail: &'static str,
    },
    /// The file ends early.
    #[error("truncated GGUF: {0}")]
    Truncated(String),
    /// A field holds an impossible value.
    #[error("corrupt GGUF: {0}")]
    Corrupt(String),
    /// A required metadata key is absent or has the wrong type.
    #[error("GGUF metadata key {0} is missing or has the wrong type")]
    MissingKey(String),
    /// The architecture has no mapping to an MLX model.
    #[error("unsupported architecture {0:?} (supported: llama, qwen2, qwen3)")]
    UnsupportedArch(String),
    /// A tensor's type cannot be converted.
    #[error("tensor {tensor}: unsupported type {ggml_type} (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)")]
    UnsupportedType {
        /// Tensor name.
        tensor: String,
        /// Type name.
        ggml_type: String,
    },
    /// A tensor cannot be mapped or converted.
    #[error("tensor {tensor}: {reason}")]
    BadTensor {
        /// Tensor name.
        tensor: String,
        /// Why.
        reason: String,
    },
    /// The tokenizer metadata cannot be turned into tokenizer.json.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
