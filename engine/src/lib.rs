//! ollmlx's inference engine: MLX (through our own C-ABI bridge in [`mlx`]), model architectures,
//! KV caches, sampling, tokenizer, chat templates and the generation loop.
//!
//! The engine does not know about HTTP, the model pool or the store's naming; it loads a plain
//! MLX/Hugging Face model folder and generates from it.
#![deny(unsafe_code)]

pub mod mlx;
pub mod text;

mod batch;
mod batch_kv;
mod cache;
mod config;
mod decode;
mod error;
pub mod models;
mod network;
mod nn;
mod prefix;
mod sample;
mod warm;
mod weights;

pub use batch::{step_generations, step_streams, step_times, StepTimes};
pub use cache::LayerCache;
pub use prefix::PrefixCache;
pub use decode::{TokenConstraint, TokenStream, PREFILL_STEP};
pub use error::{EngineError, Result};
pub use network::{LoadOptions, ModelInfo, Network};
pub use sample::{Sampler, SamplingParams};
mod generate;
mod model;

pub use generate::{DoneReason, Event, GenerateParams, GenerateStats, Generation};
pub use model::{estimate_memory, MemoryEstimate, Model};
