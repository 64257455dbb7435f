//! Rotary position embeddings through `mlx::fast::rope`, with the `rope_scaling` variants of
//! config.json that mlx-lm's `rope_utils.initialize_rope` knows: none/default, linear, llama3,
//! dynamic (NTK) and longrope/su (Phi-3). Yarn and the rest are refused by name.
use crate::config::BaseConfig;
use crate::error::{EngineError, Result};
use crate::mlx::{self, arange, Array, Dtype};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The `rope_scaling` block of config.json.
pub type Scaling = BTreeMap<String, Value>;

/// Dynamic NTK scaling: the base grows with the sequence once it passes the training context.
struct Dynamic {
    factor: f64,
    max_positions: f64,
}

/// A configured rotary embedding.
pub struct Rope {
    dims: usize,
    traditional: bool,
    base: f32,
    scale: f32,
    freqs: Option<Array>,
    /// Multiplies the rotated features before rotation (longrope's attention scaling).
    input_scale: f32,
    dynamic: Option<Dynamic>,
}

/// `rope_type` (or the older `type`) of a scaling block.
pub fn scaling_kind(scaling: &Scaling) -> &str {
    scaling
        .get("type")
        .or_else(|| scaling.get("rope_type"))
        .and_then(Value::as_str)
        .unwrap_or("default")
}

fn number(scaling: &Scaling, key: &str, path: &Path) -> Result<f64> {
    scaling
        .get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| EngineError::config(path, format!("rope_scaling.{key} must be a number")))
}

/// A list of floats (`long_factor`), or one float for every frequency.
fn factors(scaling: &Scaling, key: &str, n: usize, path: &Path) -> Result<Vec<f32>> {
    let bad = || {
        EngineError::config(
            path,
            format!("rope_scaling.{key} must be a number or a list of {n} numbers"),
        )
    };
    match scaling.get(key) {
        Some(Value::Array(items)) if items.len() == n => items
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32).ok_or_else(bad))
            .collect(),
        Some(v) => v.as_f64().map(|f| vec![f as f32; n]).ok_or_else(bad),
        None => Err(bad()),
    }
}

impl Rope {
    /// Plain RoPE over `dims` features.
    pub fn new(dims: usize, base: f32, traditional: bool) -> Rope {
        Rope {
            dims,
            traditional,
            base,
            scale: 1.0,
            freqs: None,
            input_scale: 1.0,
            dynamic: None,
        }
    }

    /// RoPE as config.json describes it (`rope_theta`, `rope_scaling`).
    pub fn from_config(cfg: &BaseConfig, dims: usize, base: f32, path: &Path) -> Result<Rope> {
        Rope::from_scaling(
            cfg.rope_scaling.as_ref(),
            dims,
            base,
            cfg.max_position_embeddings,
            path,
        )
    }

    /// mlx-lm's `initialize_rope`: RoPE with an optional scaling block.
    pub fn from_scaling(
        scaling: Option<&Scaling>,
        dims: usize,
        base: f32,
        max_positions: Option<usize>,
        path: &Path,
    ) -> Result<Rope> {
        let mut rope = Rope::new(dims, base, false);
        let Some(scaling) = scaling else {
            return Ok(rope);
        };
        match scaling_kind(scaling) {
            "default" => {}
            "linear" => rope.scale = (1.0 / number(scaling, "factor", path)?) as f32,
            "llama3" => rope.freqs = Some(llama3_freqs(dims, base, scaling, path)?),
            "dynamic" => {
                let max = max_positions.ok_or_else(|| {
                    EngineError::config(path, "dynamic rope scaling needs max_position_embeddings")
                })?;
                rope.dynamic = Some(Dynamic { factor: number(scaling, "factor", path)?, max_positions: max as f64 });
            }
            "longrope" => {
                let original = number(scaling, "original_max_position_embeddings", path)?;
                let max = max_positions.map_or(131_072.0, |m| m as f64);
                return Rope::su_scaled(dims, base, max, original, scaling, path);
            }
            other => {
                return Err(EngineError::config(
                    path,
                    format!(
                        "rope_scaling type {other:?} is not supported (supported: default, linear, llama3, dynamic, longrope)"
                    ),
                ))
            }
        }
        Ok(rope)
    }

    /// Phi-3's "su"/"longrope" RoPE as mlx-lm's `SuScaledRoPE` implements it: the long factors
    /// are always used (whatever the length), and the rotated features are pre-scaled by
    /// `sqrt(1 + ln(max / original) / ln(original))` when the context was extended.
    pub fn su_scaled(
        dims: usize,
        base: f32,
        max: f64,
        original: f64,
        scaling: &Scaling,
        path: &Path,
    ) -> Result<Rope> {
        let long = factors(scaling, "long_factor", dims / 2, path)?;
        // base ** (arange(0, dims, 2) / dims) in MLX f32, as mlx-lm computes it.
        let exps = arange(0.0, dims as f64, 2.0, Dtype::Float32)?
            .divide(&Array::scalar(dims as f32, Dtype::Float32))?;
        let freqs = Array::scalar(base, Dtype::Float32).power(&exps)?;
        let freqs = Array::from_slice(&long, &[long.len()])?.multiply(&freqs)?;
        let factor = max / original;
        // mlx-lm passes no `long_mscale` from config.json, so the default formula always applies.
        let input_scale = if factor <= 1.0 {
            1.0
        } else {
            (1.0 + factor.ln() / original.ln()).sqrt()
        };
        Ok(Rope {
            freqs: Some(freqs),
            input_scale: input_scale as f32,
            ..Rope::new(dims, base, false)
        })
    }

    /// longrope's pre-scaling of the rotated features.
    fn scaled_input(&self, x: &Array) -> Result<Array> {
        if self.input_scale == 1.0 {
            return Ok(x.clone());
        }
        if self.dims == x.dim(-1) {
            return Ok(x.mul_scalar(self.input_scale)?);
        }
        let d = x.dim(-1);
        let head = x.slice_axis(-1, 0, self.dims)?.mul_scalar(self.input_scale)?;
        Ok(mlx::concatenate(&[&head, &x.slice_axis(-1, self.dims, d)?], -1)?)
    }

    /// Rotates `[B, H, L, D]` at positions `offset..offset+L`.
    pub fn apply(&self, x: &Array, offset: usize) -> Result<Array> {
        let x = self.scaled_input(x)?;
        let base = match &self.dynamic {
            None => self.base,
            Some(dy) => {
                // DynamicNTKScalingRoPE: base * (factor * len / max - (factor - 1)) ^ (d / (d - 2)).
                let len = (x.dim(-2) + offset) as f64;
                let len = len.max(dy.max_positions);
                let d = self.dims as f64;
                let grow =
                    (dy.factor * len / dy.max_positions - (dy.factor - 1.0)).powf(d / (d - 2.0));
                (f64::from(self.base) * grow) as f32
            }
        };
        Ok(mlx::rope(
            &x,
            self.dims,
            self.traditional,
            base,
            self.scale,
            offset,
            self.freqs.as_ref(),
        )?)
    }

    /// Whether rows at different positions can be rotated in one call ([`Rope::apply_rows`]):
    /// dynamic NTK scaling derives its base from the sequence length, so it cannot.
    pub fn rotates_rows(&self) -> bool {
        self.dynamic.is_none()
    }

    /// Rotates `[B, H, L, D]`, row b at positions `offsets[b]..` (an int32 vector of B).
    pub fn apply_rows(&self, x: &Array, offsets: &Array) -> Result<Array> {
        if !self.rotates_rows() {
            return Err(EngineError::InvalidOption { name: "rope", message: "dynamic NTK RoPE cannot rotate rows at different positions in one call".into() });
        }
        let x = self.scaled_input(x)?;
        Ok(mlx::rope_rows(&x, self.dims, self.traditional, self.base, self.scale, offsets, self.freqs.as_ref())?)
    }
}

/// Llama 3.1's frequency plan: long wavelengths are divided by `factor`, short ones kept, and the
/// band between smoothly interpolated. Computed once, in f32 as mlx-lm does.
fn llama3_freqs(dims: usize, base: f32, scaling: &Scaling, path: &Path) -> Result<Array> {
    let num = |k: &str, d: f64| scaling.get(k).and_then(Value::as_f64).unwrap_or(d);
    let factor = number(scaling, "factor", path)? as f32;
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
