//! Token sampling on the device: a chain built once per request from its options. Only the
//! sampled token id crosses to the host.
//!
//! Order (llama.cpp's, which Ollama users expect): penalties over the last `repeat_last_n` tokens,
//! the grammar mask, then top-k, top-p, min-p, temperature and a seeded categorical draw.
//! Temperature 0 is the argmax fast path.
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array, Dtype, RandomKey};
use std::collections::BTreeMap;

/// Sampling options of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Nucleus sampling mass; 1 = off.
    pub top_p: f32,
    /// Drop tokens below `min_p * p(max)`; 0 = off.
    pub min_p: f32,
    /// llama.cpp repetition penalty; 1 = off.
    pub repeat_penalty: f32,
    /// Window of recent tokens the penalties look at.
    pub repeat_last_n: usize,
    /// Subtracted once from every token present in the window.
    pub presence_penalty: f32,
    /// Subtracted per occurrence in the window.
    pub frequency_penalty: f32,
    /// Seed of the random draw; `None` = from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Rejects values outside their meaningful ranges, naming the option.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, message: String| Err(EngineError::InvalidOption { name, message });
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature", format!("{} is not a finite value >= 0", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top_p", format!("{} is outside [0, 1]", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", format!("{} is outside [0, 1]", self.min_p));
        }
        if !self.repeat_penalty.is_finite() || self.repeat_penalty <= 0.0 {
            return bad("repeat_penalty", format!("{} is not a finite value > 0", self.repeat_penalty));
        }
        if !self.presence_penalty.is_finite() || !self.frequency_penalty.is_finite() {
            return bad("presence_penalty", "penalties must be finite".into());
        }
        Ok(())
    }

    fn has_penalties(&self) -> bool {
        self.repeat_penalty != 1.0 || self.presence_penalty != 0.0 || self.frequency_penalty != 0.0
    }
}

/// A sampler for one sequence.
pub struct Sampler {
    params: SamplingParams,
    key: Option<RandomKey>,
}

impl Sampler {
    /// Validates the options and seeds the generator.
    pub fn new(params: SamplingParams) -> Result<Sampler> {
        params.validate()?;
        let key = if params.temperature > 0.0 {
            let seed = params.seed.unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
            });
            Some(RandomKey::new(seed)?)
        } else {
            None
        };
        Ok(Sampler { params, key })
    }

    /// Whether a token is the plain argmax of the logits (temperature 0, no penalties).
    pub fn is_greedy(&self) -> bool {
        self.key.is_none() && !self.params.has_penalties()
    }

    /// Greedy tokens of several sequences at once: `logits` is `[rows, vocab]`, one row each;
    /// returns `[rows]`, each exactly what [`Sampler::sample`] gives its row when
    /// [`Sampler::is_greedy`]. One call for all rows, instead of a few operations per row.
    pub fn greedy_rows(logits: &Array) -> Result<Array> {
        argmax_tokens(&logits.astype(Dtype::Float32)?)
    }

    /// Whether sampling depends on the tokens generated so far (then decoding cannot run ahead).
    pub fn needs_history(&self) -> bool {
        self.params.has_penalties()
    }

    /// Samples one token from `[1, vocab]` logits. `history` is every token so far (prompt
    /// included); `allowed` restricts the choice (grammar-constrained decoding).
    pub fn sample(&mut self, logits: &Array, history: &[u32], allowed: Option<&[u32]>) -> Result<Array> {
        let mut logits = logits.astype(Dtype::Float32)?;
        if self.params.has_penalties() {
            logits = self.penalize(&logits, history)?;
        }
        if let Some(ids) = allowed {
            logits = mask_to(&logits, ids)?;
        }
        let Some(key) = self.key.as_mut() else {
            return argmax_tokens(&logits);
        };
        let p = &self.params;
        let mut lp = logits.subtract(&logits.logsumexp(-1, true)?)?;
        let vocab = lp.dim(-1);
        if p.top_k > 0 && p.top_k < vocab {
            lp = top_k(&lp, p.top_k)?;
        }
        if p.top_p > 0.0 && p.top_p < 1.0 {
            lp = top_p(&lp, p.top_p)?;
        }
        if p.min_p > 0.0 {
            lp = min_p(&lp, p.min_p)?;
        }
        let scaled = lp.mul_scalar(1.0 / p.temperature)?;
        Ok(key.categorical(&scaled, -1)?.astype(Dtype::Uint32)?)
    }

    /// llama.cpp's penalties over the last `repeat_last_n` tokens.
    fn penalize(&self, logits: &Array, history: &[u32]) -> Result<Array> {
        let p = &self.params;
        let window = &history[history.len().saturating_sub(p.repeat_last_n)..];
        if window.is_empty() {
            return Ok(logits.clone());
        }
        let mut counts: BTreeMap<u32, f32> = BTreeMap::new();
        for &t in window {
            *counts.entry(t).or_default() += 1.0;
        }
        let ids: Vec<i32> = counts.keys().map(|&t| t as i32).collect();
        let freq: Vec<f32> = counts.values().copied().collect();
        let n = ids.len();
        let idx = Array::from_slice(&ids, &[1, n])?;
        let g = logits.take_along_axis(&idx, -1)?;
        let zero = Array::scalar(0.0, Dtype::Float32);
        let mut g = mlx::select(
            &g.greater(&zero)?,
            &g.mul_scalar(1.0 / p.repeat_penalty)?,
            &g.mul_scalar(p.repeat_penalty)?,
        )?;
        let counts = Array::from_slice(&freq, &[1, n])?;
        g = g.add_scalar(-p.presence_penalty)?.subtract(&counts.mul_scalar(p.frequency_penalty)?)?;
        Ok(logits.put_along_axis(&idx, &g, -1)?)
    }
}

fn neg_inf() -> Array {
    Array::scalar(f32::NEG_INFINITY, Dtype::Float32)
}

/// Keeps only the `allowed` ids.
fn mask_to(logits: &Array, allowed: &[u32]) -> Result<Array> {
    let vocab = logits.dim(-1);
    let mut keep = vec![false; vocab];
    for &id in allowed {
        if let Some(k) = keep.get_mut(id as usize) {
            *k = true;
        }
    }
    let mask = Array::from_slice(&keep, &[1, vocab])?;
    Ok(mlx::select(&mask, logits, &neg_inf())?)
}

fn top_k(lp: &Array, k: usize) -> Result<Array> {
    let vocab = lp.dim(-1);
    let idx = lp.negative()?.argpartition(k as i32 - 1, -1)?.slice_axis(-1, k, vocab)?;
    let fill = neg_inf().broadcast_to(&idx.shape())?;
    Ok(lp.put_along_axis(&idx, &fill, -1)?)
}

fn top_p(lp: &Array, p: f32) -> Result<Array> {
    // Sort ascending, keep the tail whose cumulative mass exceeds 1 - p, map back.
    let order = lp.argsort(-1)?;
    let sorted = lp.take_along_axis(&order, -1)?;
    let cum = sorted.exp()?.cumsum(-1, false, true)?;
    let keep = cum.greater(&Array::scalar(1.0 - p, Dtype::Float32))?;
    let kept = mlx::select(&keep, &sorted, &neg_inf())?;
    Ok(lp.put_along_axis(&order, &kept, -1)?)
}

fn min_p(lp: &Array, m: f32) -> Result<Array> {
    let threshold = lp.max(-1, true)?.add_scalar(m.ln())?;
    Ok(mlx::select(&lp.less(&threshold)?, &neg_inf(), lp)?)
}

/// The token ids of the largest of each row's f32 logits (greedy sampling).
fn argmax_tokens(logits: &Array) -> Result<Array> {
    Ok(logits.argmax(-1, false)?.astype(Dtype::Uint32)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Array {
        Array::from_slice(&[1.0f32, 3.0, 2.0, 0.5], &[1, 4]).unwrap()
    }

    #[test]
    fn greedy_is_argmax() {
        let mut s = Sampler::new(SamplingParams::default()).unwrap();
        assert_eq!(s.sample(&logits(), &[], None).unwrap().item::<u32>().unwrap(), 1);
    }

    #[test]
    fn allowed_mask_restricts() {
        let mut s = Sampler::new(SamplingParams::default()).unwrap();
        assert_eq!(s.sample(&logits(), &[], Some(&[0, 3])).unwrap().item::<u32>().unwrap(), 0);
    }

    #[test]
    fn repeat_penalty_changes_choice() {
        let params = SamplingParams { repeat_penalty: 2.0, ..Default::default() };
        let mut s = Sampler::new(params).unwrap();
        // Token 1 (logit 3) seen: 3/2 = 1.5 < 2 -> token 2 wins.
        assert_eq!(s.sample(&logits(), &[1], None).unwrap().item::<u32>().unwrap(), 2);
    }

    #[test]
    fn top_k_one_is_greedy_and_seed_repeats() {
        let params = SamplingParams { temperature: 1.0, top_k: 1, seed: Some(3), ..Default::default() };
        let mut s = Sampler::new(params.clone()).unwrap();
        for _ in 0..5 {
            assert_eq!(s.sample(&logits(), &[], None).unwrap().item::<u32>().unwrap(), 1);
        }
        let draw = |seed| {
            let p = SamplingParams { temperature: 1.5, seed: Some(seed), ..Default::default() };
            let mut s = Sampler::new(p).unwrap();
            (0..20).map(|_| s.sample(&logits(), &[], None).unwrap().item::<u32>().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(11), draw(11));
        assert_ne!(draw(11), draw(12));
    }

    #[test]
    fn top_p_small_keeps_only_the_best() {
        let params = SamplingParams { temperature: 1.0, top_p: 0.05, seed: Some(1), ..Default::default() };
        let mut s = Sampler::new(params).unwrap();
        for _ in 0..10 {
            assert_eq!(s.sample(&logits(), &[], None).unwrap().item::<u32>().unwrap(), 1);
        }
    }

    #[test]
    fn bad_options_are_named() {
        let err = Sampler::new(SamplingParams { top_p: 7.0, ..Default::default() }).err().unwrap();
        assert!(err.to_string().contains("top_p"), "{err}");
    }
}
