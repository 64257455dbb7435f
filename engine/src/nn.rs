//! Layers shared by every architecture (linear, embedding, norms) and the [`Loader`] that builds
//! them from checkpoint tensors, checking each name, shape and dtype against the config.
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array, Dtype};
use crate::weights::Weights;
use serde_json::Value;
use std::collections::BTreeMap;

/// MLX affine quantization of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantSpec {
    /// Elements per scale/bias pair.
    pub group_size: i32,
    /// Bits per element.
    pub bits: i32,
}

/// The `quantization` block of config.json: a default plus per-module overrides
/// (`"model.layers.0.mlp.down_proj": {"bits": 6, "group_size": 64}` or `false`).
#[derive(Debug, Clone, Default)]
pub struct QuantTable {
    default: Option<QuantSpec>,
    overrides: BTreeMap<String, Option<QuantSpec>>,
}

fn spec_of(v: &Value) -> Option<QuantSpec> {
    let gs = v.get("group_size")?.as_i64()?;
    let bits = v.get("bits")?.as_i64()?;
    Some(QuantSpec { group_size: gs as i32, bits: bits as i32 })
}

impl QuantTable {
    /// Parses the block; `None` means an unquantized model.
    pub fn parse(block: Option<&Value>) -> std::result::Result<QuantTable, String> {
        let Some(block) = block else { return Ok(QuantTable::default()) };
        let mut t = QuantTable { default: spec_of(block), overrides: BTreeMap::new() };
        if let Some(mode) = block.get("mode").and_then(Value::as_str) {
            if mode != "affine" {
                return Err(format!("quantization mode {mode:?} is not supported (only \"affine\")"));
            }
        }
        if let Some(obj) = block.as_object() {
            for (k, v) in obj {
                match v {
                    Value::Object(_) => {
                        let s = spec_of(v).ok_or_else(|| format!("quantization.{k} needs group_size and bits"))?;
                        t.overrides.insert(k.clone(), Some(s));
                    }
                    Value::Bool(false) => {
                        t.overrides.insert(k.clone(), None);
                    }
                    _ => {}
                }
            }
        }
        for s in t.default.iter().chain(t.overrides.values().flatten()) {
            if ![2, 3, 4, 5, 6, 8].contains(&s.bits) || ![32, 64, 128].contains(&s.group_size) {
                return Err(format!("unsupported quantization bits={} group_size={}", s.bits, s.group_size));
            }
        }
        Ok(t)
    }

    /// The quantization of a module path, if any.
    pub fn get(&self, path: &str) -> Option<QuantSpec> {
        match self.overrides.get(path) {
            Some(s) => *s,
            None => self.default,
        }
    }

    /// The default (bits, group size), for reporting.
    pub fn default_spec(&self) -> Option<QuantSpec> {
        self.default
    }
}

/// How weights are materialised.
#[derive(Debug, Clone, Copy)]
pub struct LoadPolicy {
    /// Expand quantized layers to `compute_dtype` at load (the CPU policy: MLX's CPU quantized
    /// kernels are far slower than BLAS on f32).
    pub dequantize: bool,
    /// Float dtype for compute; `None` keeps each tensor's own.
    pub compute_dtype: Option<Dtype>,
}

/// Builds layers from checkpoint tensors under a name prefix (like candle's `VarBuilder::pp`).
#[derive(Clone)]
pub struct Loader<'a> {
    weights: &'a Weights,
    quant: &'a QuantTable,
    policy: LoadPolicy,
    prefix: String,
}

impl<'a> Loader<'a> {
    /// A loader at the root of the checkpoint.
    pub fn new(weights: &'a Weights, quant: &'a QuantTable, policy: LoadPolicy) -> Loader<'a> {
        Loader { weights, quant, policy, prefix: String::new() }
    }

    /// A loader for the sub-module `name`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Loader<'a> {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Loader { prefix, ..self.clone() }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) }
    }

    /// Whether a tensor exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.weights.contains(&self.path(name))
    }

    /// The compute dtype (f32 on CPU), or the tensor's own.
    pub fn compute_dtype(&self, own: Dtype) -> Dtype {
        self.policy.compute_dtype.unwrap_or(own)
    }

    /// Loads a raw tensor after checking its shape and dtype class.
    fn raw(&self, name: &str, shape: &[usize], float: bool) -> Result<Array> {
        let full = self.path(name);
        let info = self.weights.info(&full).ok_or_else(|| EngineError::MissingTensor { name: full.clone() })?;
        if info.shape != shape || info.dtype.is_float() != float {
            let kind = if float { "float" } else { "integer" };
            return Err(EngineError::TensorMismatch {
                name: full,
                expected: format!("shape {shape:?} ({kind})"),
                found: format!("shape {:?} ({:?})", info.shape, info.dtype),
            });
        }
        self.weights.load(&full)
    }

    /// A float tensor of the given shape, in the compute dtype.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Array> {
        let a = self.raw(name, shape, true)?;
        let dt = self.compute_dtype(a.dtype());
        Ok(if a.dtype() == dt { a } else { a.astype(dt)? })
    }

    /// Loads `<prefix>.weight/.scales/.biases` of a layer quantized per the table.
    fn quantized(&self, q: QuantSpec, out: usize, inp: usize) -> Result<(Array, Array, Array)> {
        let packed = inp * q.bits as usize / 32;
        let groups = inp / q.group_size as usize;
        let w = self.raw("weight", &[out, packed], false)?;
        let s = self.raw("scales", &[out, groups], true)?;
        let b = self.raw("biases", &[out, groups], true)?;
        Ok((w, s, b))
    }

    /// A linear layer `inp -> out`.
    pub fn linear(&self, inp: usize, out: usize, bias: bool) -> Result<Linear> {
        let bias = if bias { Some(self.tensor("bias", &[out])?) } else { None };
        let quant = if self.contains("scales") { self.quant.get(&self.prefix) } else { None };
        let Some(q) = quant else {
            return Ok(Linear::Dense { weight: self.tensor("weight", &[out, inp])?, bias });
        };
        let (w, s, b) = self.quantized(q, out, inp)?;
        if self.policy.dequantize {
            let dt = self.compute_dtype(s.dtype());
            let weight = mlx::dequantize(&w, &s, Some(&b), q.group_size, q.bits, Some(dt))?;
            return Ok(Linear::Dense { weight, bias });
        }
        Ok(Linear::Quantized { weight: w, scales: s, biases: b, bias, spec: q })
    }

    /// A token embedding `vocab x dim`.
    pub fn embedding(&self, vocab: usize, dim: usize) -> Result<Embedding> {
        Ok(Embedding { table: self.linear(dim, vocab, false)? })
    }

    /// An RMSNorm weight of width `dim`.
    pub fn rms_norm(&self, dim: usize, eps: f32) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: self.tensor("weight", &[dim])?, eps })
    }
}

/// A linear layer, dense or affine-quantized.
pub enum Linear {
    /// `x @ weight.T + bias`.
    Dense {
        /// `[out, in]`.
        weight: Array,
        /// `[out]`.
        bias: Option<Array>,
    },
    /// `quantized_matmul(x, weight, scales, biases) + bias`.
    Quantized {
        /// Packed `[out, in * bits / 32]` uint32.
        weight: Array,
        /// `[out, in / group]`.
        scales: Array,
        /// `[out, in / group]`.
        biases: Array,
        /// Layer bias `[out]`.
        bias: Option<Array>,
        /// Bits and group size.
        spec: QuantSpec,
    },
}

impl Linear {
    /// Applies the layer to the last axis of `x`.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (y, bias) = match self {
            Linear::Dense { weight, bias } if mlx::rows_matmul_takes(x, weight) => (mlx::rows_matmul(x, weight)?, bias),
            Linear::Dense { weight, bias } => (x.matmul(&weight.transpose(&[1, 0])?)?, bias),
            Linear::Quantized { weight, scales, biases, bias, spec } => {
                let y = if few_rows(x, weight, spec) {
                    mlx::qmv_rows(x, weight, scales, biases, spec.group_size)?
                } else {
                    mlx::quantized_matmul(x, weight, scales, Some(biases), true, spec.group_size, spec.bits)?
                };
                (y, bias)
            }
        };
        Ok(match bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }

    /// Every array the layer holds (for eval and byte counts).
    pub fn arrays(&self) -> Vec<&Array> {
        match self {
            Linear::Dense { weight, bias } => std::iter::once(weight).chain(bias.iter()).collect(),
            Linear::Quantized { weight, scales, biases, bias, .. } => {
                [weight, scales, biases].into_iter().chain(bias.iter()).collect()
            }
        }
    }
}

/// Whether [`mlx::qmv_rows`] serves a layer of this quantization on activations of `dtype` here:
/// 4-bit weights in groups of 32, 64 or 128, bf16/f16 activations, and the kernel available.
fn few_rows_kernel_takes(spec: &QuantSpec, dtype: mlx::Dtype) -> bool {
    spec.bits == 4
        && matches!(spec.group_size, 32 | 64 | 128)
        && matches!(dtype, mlx::Dtype::Bfloat16 | mlx::Dtype::Float16)
        && mlx::qmv_rows_available()
}

/// Whether `x @ w.T` is a decode step of a few sequences that [`mlx::qmv_rows`] computes (on
/// CUDA, 4-bit weights); otherwise MLX's `quantized_matmul` does. One row stays with MLX too: its
/// one-row kernel is as fast, and a lone sequence keeps exactly mlx-lm's arithmetic. The layer
/// and dtype are checked first: on the CPU (f32) no shape is read.
fn few_rows(x: &Array, w: &Array, spec: &QuantSpec) -> bool {
    if !few_rows_kernel_takes(spec, x.dtype()) || w.ndim() != 2 {
        return false;
    }
    // A 1-D (or 0-D) x counts one row, so it stays with MLX.
    let k = x.shape().last().copied().unwrap_or(0);
    let rows = x.size() / k.max(1);
    k % 64 == 0 && (2..=mlx::QMV_ROWS_MAX).contains(&rows)
}

/// Compiles [`mlx::qmv_rows`] for a model's activation dtype and quantization while the model
/// loads, so the first batched step does not stall on MLX's run-time compile (seconds). Where
/// it cannot compile or run (a GPU without bf16/f16 tensor-core mma), the process leaves those
/// matmuls to MLX instead of failing the load.
pub(crate) fn warm_few_rows(dtype: mlx::Dtype, spec: Option<QuantSpec>) {
    let Some(spec) = spec.filter(|s| few_rows_kernel_takes(s, dtype)) else { return };
    warm_kernel("few-row matmul", mlx::disable_qmv_rows, || {
        let (w, scales, biases) = mlx::quantize(&mlx::zeros(&[16, 128], dtype)?, spec.group_size, 4)?;
        Ok(mlx::qmv_rows(&mlx::zeros(&[2, 128], dtype)?, &w, &scales, &biases, spec.group_size)?)
    });
}

/// Compiles [`mlx::attend_rows`] for a model's head width and dtype while it loads, as
/// [`warm_few_rows`] does; where it fails, MLX's masked attention serves batches.
pub(crate) fn warm_attend_rows(dtype: mlx::Dtype, head_dim: usize) {
    if !mlx::attend_rows_enabled(head_dim, dtype) {
        return;
    }
    warm_kernel("batched decode attention", mlx::disable_attend_rows, || {
        let (q, kv) = (mlx::zeros(&[2, 2, 1, head_dim], dtype)?, mlx::zeros(&[2, 1, 4, head_dim], dtype)?);
        Ok(mlx::attend_rows(&q, &kv, &kv, &Array::from_slice(&[0i32, 3], &[2])?, 1.0)?)
    });
}

/// Runs `trial`, one small call of a kernel of ours, so MLX compiles it now; on failure logs
/// why and calls `disable`, which hands that work back to MLX's own kernels.
fn warm_kernel(what: &str, disable: fn(), trial: impl FnOnce() -> Result<Array>) {
    let started = std::time::Instant::now();
    match trial().and_then(|y| Ok(mlx::eval(&[&y])?)) {
        Ok(()) => tracing::debug!(elapsed = ?started.elapsed(), "{what} kernel ready"),
        Err(e) => {
            tracing::warn!(error = %e, "the {what} kernel does not run here; MLX's kernels serve batches");
            disable();
        }
    }
}

/// A token embedding, stored like a linear layer so a tied head can reuse it.
pub struct Embedding {
    table: Linear,
}

impl Embedding {
    /// Looks up token ids `[..]` -> `[.., dim]`.
    pub fn forward(&self, ids: &Array) -> Result<Array> {
        match &self.table {
            Linear::Dense { weight, .. } => Ok(weight.take(ids, 0)?),
            Linear::Quantized { weight, scales, biases, spec, .. } => {
                let (w, s, b) = (weight.take(ids, 0)?, scales.take(ids, 0)?, biases.take(ids, 0)?);
                Ok(mlx::dequantize(&w, &s, Some(&b), spec.group_size, spec.bits, None)?)
            }
        }
    }

    /// Uses the embedding as the output head (tied embeddings).
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        self.table.forward(x)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        self.table.arrays()
    }
}

/// RMSNorm through `mlx::fast::rms_norm`.
pub struct RmsNorm {
    /// Scale `[dim]` (Gemma's `1 + w` is folded in at load).
    pub weight: Array,
    /// Epsilon.
    pub eps: f32,
}

impl RmsNorm {
    /// Normalises the last axis.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(mlx::rms_norm(x, Some(&self.weight), self.eps)?)
    }
}
