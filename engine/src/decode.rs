//! The token-level decode loop: chunked prefill, then one sampled token per step, pipelined as
//! mlx-lm does (step n+1 is queued with `async_eval` before token n is read, so the host never
//! waits on the device between tokens). Only the sampled id crosses to the host.
use crate::cache::LayerCache;
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array};
use crate::network::Network;
use crate::sample::Sampler;

/// Prompt tokens processed per forward pass during prefill; bounds prefill memory.
pub const PREFILL_STEP: usize = 2048;
/// MLX's buffer cache is returned every this many tokens, as mlx-lm does.
const CLEAR_CACHE_EVERY: usize = 256;

/// Restricts which token may come next (e.g. a JSON grammar for `format`).
pub trait TokenConstraint: Send {
    /// `None` = any token; `Some(ids)` = only these may be sampled next.
    fn allowed(&mut self) -> Option<Vec<u32>>;
    /// Records the token that was chosen.
    fn advance(&mut self, token: u32);
    /// Whether the constrained text is complete (the generation may stop).
    fn is_complete(&self) -> bool;
}

/// One sequence being decoded.
pub struct TokenStream<'n> {
    net: &'n Network,
    cache: Vec<LayerCache>,
    sampler: Sampler,
    constraint: Option<Box<dyn TokenConstraint>>,
    history: Vec<u32>,
    prompt_len: usize,
    /// The next token, sampled on the device but not yet read.
    pending: Option<Array>,
    produced: usize,
}

impl<'n> TokenStream<'n> {
    /// A stream over `prompt`, which must be non-empty.
    pub fn new(
        net: &'n Network,
        prompt: Vec<u32>,
        sampler: Sampler,
        constraint: Option<Box<dyn TokenConstraint>>,
    ) -> Result<TokenStream<'n>> {
        if prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let vocab = net.info().vocab_size;
        if let Some(bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(EngineError::InvalidOption { name: "prompt", message: format!("token id {bad} is outside the vocabulary ({vocab})") });
        }
        Ok(TokenStream {
            net,
            cache: net.make_cache(),
            sampler,
            constraint,
            prompt_len: prompt.len(),
            history: prompt,
            pending: None,
            produced: 0,
        })
    }

    fn tokens(ids: &[u32]) -> Result<Array> {
        Ok(Array::from_slice(ids, &[1, ids.len()])?)
    }

    /// Runs the network on `[1, L]` ids and returns the last position's logits `[1, vocab]`.
    fn last_logits(&mut self, input: &Array) -> Result<Array> {
        let logits = self.net.forward(input, &mut self.cache)?;
        let l = logits.dim(1);
        Ok(logits.slice_axis(1, l - 1, l)?.squeeze(1)?)
    }

    fn sample(&mut self, logits: &Array) -> Result<Array> {
        let allowed = self.constraint.as_mut().and_then(|c| c.allowed());
        self.sampler.sample(logits, &self.history, allowed.as_deref())
    }

    /// Whether the next step can be queued before the current token is read.
    fn can_pipeline(&self) -> bool {
        self.constraint.is_none() && !self.sampler.needs_history()
    }

    /// Processes all prompt tokens but the last in chunks, then queues the first sample.
    /// Returns the logits of the last prompt position.
    pub fn prefill(&mut self) -> Result<Array> {
        let prompt = self.history[..self.prompt_len].to_vec();
        let mut done = 0;
        while prompt.len() - done > 1 {
            let n = PREFILL_STEP.min(prompt.len() - done - 1);
            self.net.forward(&Self::tokens(&prompt[done..done + n])?, &mut self.cache)?;
            let state: Vec<&Array> = self.cache.iter().flat_map(LayerCache::arrays).collect();
            mlx::eval(&state)?;
            mlx::memory::clear_cache();
            done += n;
        }
        let logits = self.last_logits(&Self::tokens(&prompt[done..])?)?;
        let y = self.sample(&logits)?;
        mlx::async_eval(&[&y])?;
        self.pending = Some(y);
        Ok(logits)
    }

    /// Reads the next token. `more` says whether another token will be wanted after this one
    /// (so the pipeline does not compute a step nobody reads).
    pub fn next_token(&mut self, more: bool) -> Result<u32> {
        if self.pending.is_none() {
            self.prefill()?;
        }
        let y = self.pending.take().expect("prefill queued a token");
        let token = if self.can_pipeline() && more {
            let input = y.reshape(&[1, 1])?;
            let logits = self.last_logits(&input)?;
            let next = self.sample(&logits)?;
            mlx::async_eval(&[&next])?;
            let token = y.item::<u32>()?;
            self.pending = Some(next);
            token
        } else {
            let token = y.item::<u32>()?;
            if let Some(c) = self.constraint.as_mut() {
                c.advance(token);
            }
            self.history.push(token);
            if more {
                let logits = self.last_logits(&Self::tokens(&[token])?)?;
                let next = self.sample(&logits)?;
                mlx::async_eval(&[&next])?;
                self.pending = Some(next);
            }
            self.produced += 1;
            return Ok(self.after(token));
        };
        self.history.push(token);
        self.produced += 1;
        Ok(self.after(token))
    }

    fn after(&self, token: u32) -> u32 {
        if self.produced % CLEAR_CACHE_EVERY == 0 {
            mlx::memory::clear_cache();
        }
        token
    }

    /// Whether the constraint (if any) is satisfied.
    pub fn constraint_complete(&self) -> bool {
        self.constraint.as_ref().is_none_or(|c| c.is_complete())
    }

    /// Prompt plus generated tokens.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// Bytes held by this sequence's KV cache.
    pub fn kv_bytes(&self) -> u64 {
        self.cache.iter().map(LayerCache::nbytes).sum()
    }
}
