//! The loaded network: config, checked weights and an architecture, without the text side.
use crate::batch_kv::{BatchKv, RowsStep};
use crate::cache::LayerCache;
use crate::config::{parse_as, read_config, BaseConfig};
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array, Device, Dtype};
use crate::models::{self, Architecture};
use crate::nn::{LoadPolicy, Loader, QuantTable};
use crate::weights::Weights;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Expand quantized weights at load. `None` = the device policy: on the CPU, dequantize and
    /// compute in f32 (MLX's CPU kernels are slow in f16/bf16 and in quantized matmuls); on a GPU,
    /// keep weights as stored.
    pub dequantize: Option<bool>,
}

/// Facts about a loaded model, for `/api/show`, `/api/ps` and the pool.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// config.json `model_type`.
    pub model_type: String,
    /// Training context length.
    pub context_length: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Parameters, counting quantized elements as one each.
    pub parameter_count: u64,
    /// (bits, group size) of the stored weights, if quantized.
    pub quantization: Option<(u32, u32)>,
    /// Compute dtype, e.g. "float32".
    pub dtype: String,
    /// RoPE base.
    pub rope_theta: f32,
}

/// A model's weights and architecture, ready to run.
pub struct Network {
    arch: Box<dyn Architecture>,
    info: ModelInfo,
    weight_bytes: u64,
    compute_dtype: Dtype,
    /// The KV rows of the sequences decoding together (continuous batching). One engine thread
    /// steps a network's sequences, so the lock is uncontended; it makes the sharing explicit.
    batch: Mutex<BatchKv>,
}

fn policy_for(opts: &LoadOptions) -> LoadPolicy {
    let cpu = Device::default_device() == Device::Cpu;
    let dequantize = opts.dequantize.unwrap_or(cpu);
    LoadPolicy {
        dequantize,
        // Weights kept as stored (`dequantize: Some(false)`) also compute in their stored dtype,
        // as mlx-lm does; casting only the float tensors to f32 would mix bf16 dequantized rows
        // with f32 norms and give neither mlx-lm's results nor f32 accuracy.
        compute_dtype: if cpu && dequantize { Some(Dtype::Float32) } else { None },
    }
}

/// Parameter count from the headers. A quantized matrix counts its logical elements
/// (`packed * 32 / bits`); its scales and biases are bookkeeping, not parameters.
fn parameter_count(weights: &Weights, quant: &QuantTable) -> u64 {
    let quantized = |module: &str| weights.info(&format!("{module}.weight")).is_some_and(|t| t.dtype == Dtype::Uint32);
    weights
        .iter()
        .map(|(name, t)| {
            let n: u64 = t.shape.iter().map(|&d| d as u64).product();
            let (module, leaf) = name.rsplit_once('.').unwrap_or(("", name));
            match leaf {
                "scales" | "biases" if quantized(module) => 0,
                "weight" if t.dtype == Dtype::Uint32 => quant.get(module).map_or(n, |q| n * 32 / q.bits as u64),
                _ => n,
            }
        })
        .sum()
}

impl Network {
    /// Loads config.json and the weights of a model folder, checking every tensor.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Network> {
        let (raw, path) = read_config(dir)?;
        let base: BaseConfig = parse_as(&raw, &path)?;
        let (load, sanitize) = models::lookup(&base.model_type)?;
        base.validate(&path)?;
        let quant = QuantTable::parse(base.quantization_block()).map_err(|m| EngineError::config(&path, m))?;
        let mut weights = Weights::open(dir)?;
        sanitize(&mut weights);
        let policy = policy_for(opts);
        let arch = load(&raw, &path, &Loader::new(&weights, &quant, policy))?;
        let arrays = arch.arrays();
        mlx::eval(&arrays)?;
        let weight_bytes = arrays.iter().map(|a| a.nbytes() as u64).sum();
        // The first float array (a quantized embedding's packed uint32 weight says nothing).
        let compute_dtype = arrays
            .iter()
            .map(|a| a.dtype())
            .find(|d| d.is_float())
            .unwrap_or(policy.compute_dtype.unwrap_or(Dtype::Float32));
        let info = ModelInfo {
            model_type: base.model_type.clone(),
            context_length: base.max_position_embeddings.unwrap_or(4096),
            hidden_size: base.hidden_size,
            num_layers: base.num_hidden_layers,
            num_heads: base.num_attention_heads,
            num_kv_heads: base.kv_heads(),
            head_dim: base.head_dim(),
            vocab_size: base.vocab_size,
            intermediate_size: base.intermediate_size,
            parameter_count: parameter_count(&weights, &quant),
            quantization: quant.default_spec().map(|q| (q.bits as u32, q.group_size as u32)),
            dtype: format!("{compute_dtype:?}").to_lowercase(),
            rope_theta: base.rope_theta,
        };
        drop(weights);
        crate::nn::warm_few_rows(compute_dtype, quant.default_spec());
        crate::nn::warm_attend_rows(compute_dtype, info.head_dim);
        let net = Network { arch, info, weight_bytes, compute_dtype, batch: Mutex::default() };
        crate::warm::warm_generation(&net);
        Ok(net)
    }

    /// Runs a short generation over every path a request can take (one sequence alone, and a
    /// batch with greedy and sampled rows), leaving nothing behind. The load does this on a GPU,
    /// where MLX prepares some kernels at their first use.
    pub fn warm_up(&self) -> Result<()> {
        crate::warm::run(self)
    }

    /// Facts about the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Bytes of the resident weight arrays, as MLX holds them.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// The dtype activations are computed in.
    pub fn compute_dtype(&self) -> Dtype {
        self.compute_dtype
    }

    /// A fresh KV cache.
    pub fn make_cache(&self) -> Vec<LayerCache> {
        self.arch.make_cache()
    }

    /// Logits `[B, L, vocab]` for token ids `[B, L]`.
    pub fn forward(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        self.arch.forward(tokens, cache)
    }

    /// Logits `[R + B, vocab]` at the last new position of each sequence run in one pass
    /// (continuous batching): first the R rows of the shared decode batch, then B sequences
    /// with caches of their own (`inputs[i]` are sequence i's new ids, `caches[i]` its cache).
    pub(crate) fn forward_last(&self, rows: Option<&mut RowsStep<'_>>, inputs: &[&Array], caches: &mut [&mut [LayerCache]]) -> Result<Array> {
        self.arch.forward_last(rows, inputs, caches)
    }

    /// Whether decoding sequences of this network share one batched KV buffer.
    pub(crate) fn batches_rows(&self) -> bool {
        self.arch.batches_rows()
    }

    /// Sequences whose KV is in the shared decode batch now.
    pub fn decode_batch_rows(&self) -> usize {
        self.batch().ids().len()
    }

    /// The shared decode batch. (A step that panicked fails its sequences, whose rows go when
    /// they are dropped, so a poisoned lock is still usable.)
    pub(crate) fn batch(&self) -> MutexGuard<'_, BatchKv> {
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Final hidden states for token ids.
    pub fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        self.arch.hidden(tokens, cache)
    }
}
