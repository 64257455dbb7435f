//! Architecture mapping: GGUF hyperparameters → HF config.json, GGUF tensor
//! names → HF/MLX names, and the llama.cpp Q/K row permutation.

use serde_json::{json, Value as Json};

use super::reader::{GgufFile, Value};
use super::tokenizer::TokenizerFiles;
use super::GgufError;

/// Hyperparameters read from `<arch>.*` metadata.
#[derive(Clone, Debug)]
pub struct Hparams {
    /// `general.architecture` (also the HF `model_type`).
    pub arch: String,
    /// Hidden size.
    pub hidden: u64,
    /// MLP size.
    pub intermediate: u64,
    /// Layers.
    pub layers: u64,
    /// Attention heads.
    pub heads: u64,
    /// Key/value heads.
    pub kv_heads: u64,
    /// Per-head dimension.
    pub head_dim: u64,
    /// RMS norm epsilon.
    pub eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// Context length.
    pub context: Option<u64>,
}

impl Hparams {
    /// Reads and checks the hyperparameters of a supported architecture.
    pub fn read(gguf: &GgufFile) -> Result<Hparams, GgufError> {
        let arch = gguf.str("general.architecture")?.to_string();
        if !matches!(arch.as_str(), "llama" | "qwen2" | "qwen3") {
            return Err(GgufError::UnsupportedArch(arch));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let hidden = gguf.u64(&key("embedding_length"))?;
        let heads = gguf.u64(&key("attention.head_count"))?;
        let kv_heads = gguf
            .get(&key("attention.head_count_kv"))
            .and_then(Value::as_u64)
            .unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(GgufError::Corrupt(format!(
                "bad head counts {heads}/{kv_heads}"
            )));
        }
        let head_dim = gguf
            .get(&key("attention.key_length"))
            .and_then(Value::as_u64)
            .unwrap_or(hidden / heads);
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(GgufError::Corrupt(format!("bad head dimension {head_dim}")));
        }
        Ok(Hparams {
            intermediate: gguf.u64(&key("feed_forward_length"))?,
            layers: gguf.u64(&key("block_count"))?,
            eps: f32_value(gguf, &key("attention.layer_norm_rms_epsilon")).unwrap_or(1e-6),
            rope_theta: f32_value(gguf, &key("rope.freq_base")).unwrap_or(10_000.0),
            context: gguf.get(&key("context_length")).and_then(Value::as_u64),
            arch,
            hidden,
            heads,
            kv_heads,
            head_dim,
        })
    }

    /// config.json for the converted model.
    pub fn config_json(
        &self,
        tok: &TokenizerFiles,
        tied: bool,
        rope_scaling: Option<Json>,
        quantization: Option<Json>,
    ) -> Json {
        let class = match self.arch.as_str() {
            "qwen2" => "Qwen2ForCausalLM",
            "qwen3" => "Qwen3ForCausalLM",
            _ => "LlamaForCausalLM",
        };
        let eos = match tok.eos_ids.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        let mut config = json!({
            "architectures": [class],
            "model_type": self.arch,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "vocab_size": tok.vocab_size,
            "rms_norm_eps": self.eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.context.unwrap_or(4096),
            "tie_word_embeddings": tied,
            "hidden_act": "silu",
            "attention_bias": self.arch == "qwen2",
            "mlp_bias": false,
            "bos_token_id": tok.bos_id,
            "eos_token_id": eos,
            "rope_scaling": rope_scaling,
        });
        if let Some(q) = quantization {
            config["quantization"] = q.clone();
            config["quantization_config"] = q;
        }
        config
    }

    /// For a GGUF tensor name, the HF name and, for llama's Q/K projections,
    /// the head count whose rows llama.cpp permuted.
    pub fn map_name(&self, gguf_name: &str) -> Result<(String, Option<u64>), GgufError> {
        let unknown = || GgufError::BadTensor {
            tensor: gguf_name.to_string(),
            reason: format!("no mapping for architecture {}", self.arch),
        };
        let (stem, suffix) = gguf_name.rsplit_once('.').ok_or_else(unknown)?;
        if !matches!(suffix, "weight" | "bias") {
            return Err(unknown());
        }
        let top = match stem {
            "token_embd" => Some("model.embed_tokens"),
            "output_norm" => Some("model.norm"),
            "output" => Some("lm_head"),
            _ => None,
        };
        if let Some(name) = top {
            return Ok((format!("{name}.{suffix}"), None));
        }
        let rest = stem.strip_prefix("blk.").ok_or_else(unknown)?;
        let (layer, part) = rest.split_once('.').ok_or_else(unknown)?;
        let layer: u64 = layer.parse().map_err(|_| unknown())?;
        if layer >= self.layers {
            return Err(unknown());
        }
        let permuted = self.arch == "llama";
        let (module, perm) = match part {
            "attn_norm" => ("input_layernorm", None),
            "ffn_norm" => ("post_attention_layernorm", None),
            "attn_q" => ("self_attn.q_proj", permuted.then_some(self.heads)),
            "attn_k" => ("self_attn.k_proj", permuted.then_some(self.kv_heads)),
            "attn_v" => ("self_attn.v_proj", None),
            "attn_output" => ("self_attn.o_proj", None),
            "attn_q_norm" => ("self_attn.q_norm", None),
            "attn_k_norm" => ("self_attn.k_norm", None),
            "ffn_gate" => ("mlp.gate_proj", None),
            "ffn_up" => ("mlp.up_proj", None),
            "ffn_down" => ("mlp.down_proj", None),
            _ => return Err(unknown()),
        };
        Ok((format!("model.layers.{layer}.{module}.{suffix}"), perm))
    }
}

/// The GGUF row that holds HF row `row` of a Q/K projection: llama.cpp
/// reorders each head's rows from (2, head_dim/2) to (head_dim/2, 2).
pub fn unpermute_row(row: usize, head_dim: usize) -> usize {
    let half = head_dim / 2;
    let (head, within) = (row / head_dim, row % head_dim);
    let (i, r) = (within / half, within % half);
    head * head_dim + 2 * r + i
}

/// f32 metadata as the f64 with the same shortest decimal (1e-5, not 9.99e-6).
fn f32_value(gguf: &GgufFile, key: &str) -> Option<f64> {
    #[allow(clippy::cast_possible_truncation)]
    let v = gguf.get(key)?.as_f64()? as f32;
    v.to_string().parse().ok()
}

/// Recovers Llama 3 rope scaling from the `rope_freqs` factors llama.cpp
/// stores, by recomputing them with the standard parameters; anything else
/// is refused rather than served with wrong positions.
pub fn llama3_rope_scaling(
    factors: &[f32],
    hp: &Hparams,
    gguf: &GgufFile,
) -> Result<Json, GgufError> {
    let bad = |reason: String| GgufError::BadTensor {
        tensor: "rope_freqs.weight".into(),
        reason,
    };
    let factor = f64::from(factors.iter().copied().fold(f32::MIN, f32::max));
    let original = gguf
        .get(&format!("{}.rope.scaling.original_context_length", hp.arch))
        .and_then(Value::as_u64)
        .unwrap_or(8192);
    let (low, high) = (1.0f64, 4.0f64);
    #[allow(clippy::cast_precision_loss)]
    let (old, dim) = (original as f64, hp.head_dim as f64);
    for (i, &got) in factors.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let freq = 1.0 / hp.rope_theta.powf(2.0 * i as f64 / dim);
        let wavelen = 2.0 * std::f64::consts::PI / freq;
        let expected = if wavelen < old / high {
            1.0
        } else if wavelen > old / low {
            factor
        } else {
            let smooth = (old / wavelen - low) / (high - low);
            1.0 / ((1.0 - smooth) / factor + smooth)
        };
        if (expected - f64::from(got)).abs() > 1e-3 * expected.abs().max(1.0) {
            return Err(bad(format!(
                "rope frequency factors are not Llama 3 scaling (index {i}: {got} vs {expected})"
            )));
        }
    }
    Ok(
        json!({"rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
              "original_max_position_embeddings": original}),
    )
}
