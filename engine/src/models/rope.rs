//! Rotary position embeddings through `mlx::fast::rope`, with the `rope_scaling` variants of
//! config.json (none/default, linear, llama3).
use crate::config::BaseConfig;
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array};
use serde_json::Value;
use std::path::Path;

/// A configured rotary embedding.
pub struct Rope {
    dims: usize,
    traditional: bool,
    base: f32,
    scale: f32,
    freqs: Option<Array>,
}

impl Rope {
    /// Plain RoPE over `dims` features.
    pub fn new(dims: usize, base: f32, traditional: bool) -> Rope {
        Rope { dims, traditional, base, scale: 1.0, freqs: None }
    }

    /// RoPE as config.json describes it (`rope_theta`, `rope_scaling`).
    pub fn from_config(cfg: &BaseConfig, dims: usize, base: f32, path: &Path) -> Result<Rope> {
        let mut rope = Rope::new(dims, base, false);
        let Some(scaling) = &cfg.rope_scaling else { return Ok(rope) };
        let kind = scaling
            .get("rope_type")
            .or_else(|| scaling.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let num = |k: &str, d: f64| scaling.get(k).and_then(Value::as_f64).unwrap_or(d);
        match kind {
            "default" => {}
            "linear" => rope.scale = 1.0 / num("factor", 1.0) as f32,
            "llama3" => rope.freqs = Some(llama3_freqs(dims, base, &|k, d| num(k, d))?),
            other => {
                return Err(EngineError::config(
                    path,
                    format!("rope_scaling type {other:?} is not supported (supported: default, linear, llama3)"),
                ))
            }
        }
        Ok(rope)
    }

    /// Rotates `[B, H, L, D]` at positions `offset..offset+L`.
    pub fn apply(&self, x: &Array, offset: usize) -> Result<Array> {
        Ok(mlx::rope(x, self.dims, self.traditional, self.base, self.scale, offset, self.freqs.as_ref())?)
    }
}

/// Llama 3.1's frequency plan: long wavelengths are divided by `factor`, short ones kept, and the
/// band between smoothly interpolated. Computed once, in f32 as mlx-lm does.
fn llama3_freqs(dims: usize, base: f32, num: &dyn Fn(&str, f64) -> f64) -> Result<Array> {
    let factor = num("factor", 8.0) as f32;
    let low = num("low_freq_factor", 1.0) as f32;
    let high = num("high_freq_factor", 4.0) as f32;
    let old_ctx = num("original_max_position_embeddings", 8192.0) as f32;
    let low_wavelen = old_ctx / low;
    let high_wavelen = old_ctx / high;
    let freqs: Vec<f32> = (0..dims)
        .step_by(2)
        .map(|i| {
            let f = base.powf(i as f32 / dims as f32);
            let wavelen = 2.0 * std::f32::consts::PI * f;
            let scaled = if wavelen > low_wavelen { f * factor } else { f };
            if wavelen > high_wavelen && wavelen < low_wavelen {
                let smooth = (old_ctx / wavelen - low) / (high - low);
                scaled / ((1.0 - smooth) / factor + smooth)
            } else {
                scaled
            }
        })
        .collect();
    let n = freqs.len();
    Ok(Array::from_slice(&freqs, &[n])?)
}
