//! [`Model`]: a loaded network with its tokenizer and chat template — what the daemon keeps
//! resident and generates from.
use crate::config::{parse_as, read_config, BaseConfig};
use crate::error::Result;
use crate::generate::{Event, GenerateParams, GenerateStats, Generation};
use crate::mlx::{Array, Device, Dtype};
use crate::network::{LoadOptions, ModelInfo, Network};
use crate::nn::QuantTable;
use crate::text::{ChatTemplate, Tokenizer};
use crate::weights::Weights;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A model ready to serve.
pub struct Model {
    net: Network,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    dir: PathBuf,
    load_duration: Duration,
}

impl Model {
    /// Loads a model folder: tokenizer and template first (cheap, and their absence should not
    /// cost a weight load), then config and weights.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Model> {
        let t0 = Instant::now();
        let tokenizer = Tokenizer::from_dir(dir)?;
        let template = ChatTemplate::from_dir(dir)?;
        let net = Network::load(dir, opts)?;
        Ok(Model { net, tokenizer, template, dir: dir.to_path_buf(), load_duration: t0.elapsed() })
    }

    /// Facts about the model.
    pub fn info(&self) -> &ModelInfo {
        self.net.info()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's own chat template, if it has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// Bytes of the resident weights.
    pub fn weight_bytes(&self) -> u64 {
        self.net.weight_bytes()
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long [`Model::load`] took.
    pub fn load_duration(&self) -> Duration {
        self.load_duration
    }

    /// Generates to completion, calling `on_event` for each event; `Break` cancels.
    pub fn generate(
        &self,
        params: GenerateParams,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Option<GenerateStats>> {
        let mut g = Generation::new(self, params)?;
        while let Some(e) = g.step()? {
            if on_event(&e).is_break() {
                return Ok(None);
            }
            if let Event::Done(stats) = e {
                return Ok(Some(stats));
            }
        }
        Ok(None)
    }

    /// Mean of the final hidden states over the tokens (not normalised), as a sentence
    /// embedding. Long inputs go through in prefill-sized chunks.
    pub fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(crate::EngineError::EmptyPrompt);
        }
        let mut cache = self.net.make_cache();
        let mut sum: Option<Array> = None;
        for chunk in tokens.chunks(crate::PREFILL_STEP) {
            let ids = Array::from_slice(chunk, &[1, chunk.len()])?;
            let h = self.net.hidden(&ids, &mut cache)?.astype(Dtype::Float32)?.sum(1, false)?;
            sum = Some(match sum {
                Some(s) => s.add(&h)?,
                None => h,
            });
        }
        let mean = sum.expect("at least one chunk").mul_scalar(1.0 / tokens.len() as f32)?;
        Ok(mean.to_vec::<f32>()?)
    }
}

/// What a model will need before it is loaded.
#[derive(Debug, Clone, Copy)]
pub struct MemoryEstimate {
    /// Weight bytes as they will be resident (after the device's dequantize policy).
    pub weight_bytes: u64,
    /// KV cache bytes per token of context (keys and values, all layers).
    pub kv_bytes_per_token: u64,
}

impl MemoryEstimate {
    /// Weights plus a KV cache for `context` tokens.
    pub fn total(&self, context: usize) -> u64 {
        self.weight_bytes + self.kv_bytes_per_token * context as u64
    }
}

/// Estimates a model's memory from config.json and the safetensors headers alone.
pub fn estimate_memory(dir: &Path, opts: &LoadOptions) -> Result<MemoryEstimate> {
    let (raw, path) = read_config(dir)?;
    let base: BaseConfig = parse_as(&raw, &path)?;
    base.validate(&path)?;
    let quant = QuantTable::parse(base.quantization_block()).map_err(|m| crate::EngineError::config(&path, m))?;
    let weights = Weights::open(dir)?;
    let cpu = Device::default_device() == Device::Cpu;
    let dequantize = opts.dequantize.unwrap_or(cpu);
    let mut bytes = 0u64;
    let mut float_size = 2u64;
    for (name, t) in weights.iter() {
        let n: u64 = t.shape.iter().map(|&d| d as u64).product();
        let (module, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        let spec = quant.get(module).filter(|_| t.dtype == Dtype::Uint32);
        let quantized_part = |m: &str| weights.info(&format!("{m}.weight")).is_some_and(|w| w.dtype == Dtype::Uint32);
        bytes += match (dequantize, leaf, spec) {
            (true, "weight", Some(q)) => n * 32 / q.bits as u64 * if cpu { 4 } else { 2 },
            (true, "scales" | "biases", _) if quantized_part(module) => 0,
            _ if cpu && t.dtype.is_float() => n * 4,
            _ => n * t.dtype.size() as u64,
        };
        if t.dtype.is_float() {
            float_size = t.dtype.size() as u64;
        }
    }
    let kv_elem = if cpu { 4 } else { float_size };
    let kv = 2 * base.num_hidden_layers as u64 * base.kv_heads() as u64 * base.head_dim() as u64 * kv_elem;
    Ok(MemoryEstimate { weight_bytes: bytes, kv_bytes_per_token: kv })
}
