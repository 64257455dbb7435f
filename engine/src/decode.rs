//! The token-level decode of one sequence: chunked prefill, then one sampled token per step,
//! pipelined as mlx-lm does (step n+1 is queued with `async_eval` before token n is read, so the
//! host never waits on the device between tokens). Only the sampled id crosses to the host.
//!
//! A [`TokenStream`] does not run the network itself: each step it says what it feeds
//! ([`TokenStream::feed`]), the batch runs every fed sequence in one pass
//! ([`crate::batch::step_streams`]), and the stream samples its row and reads its token. One
//! sequence alone is a batch of one, so the single and batched paths are the same code.
use crate::batch_kv::{BatchKv, RowId};
use crate::cache::LayerCache;
use crate::prefix::PrefixCache;
use crate::error::{EngineError, Result};
use crate::mlx::{self, Array};
use crate::network::Network;
use crate::sample::Sampler;
use std::sync::atomic::{AtomicU64, Ordering};

/// Row ids of the shared decode batch, unique per process.
static NEXT_ROW: AtomicU64 = AtomicU64::new(0);

/// Prompt tokens processed per forward pass during prefill; bounds prefill memory.
pub const PREFILL_STEP: usize = 2048;

/// Restricts which token may come next (e.g. a JSON grammar for `format`).
pub trait TokenConstraint: Send {
    /// `None` = any token; `Some(ids)` = only these may be sampled next.
    fn allowed(&mut self) -> Option<Vec<u32>>;
    /// Records the token that was chosen.
    fn advance(&mut self, token: u32);
    /// Whether the constrained text is complete (the generation may stop).
    fn is_complete(&self) -> bool;
}

/// Where the next input of a sequence comes from.
enum Next {
    /// Prompt tokens remain to be processed.
    Prompt,
    /// A token sampled on the device, not read yet (the pipelined path).
    Device(Array),
    /// A token already read on the host, not fed yet (constraints and penalties need it).
    Host(u32),
    /// Nothing more will be fed.
    Done,
}

/// What one sequence contributes to a batched forward pass.
pub(crate) struct Feed {
    /// New token ids.
    pub ids: Array,
    /// Whether the last position's logits are sampled.
    pub samples: bool,
    /// Whether this is one token over the sequence's cache (a generated token fed back, or the
    /// prompt's last token): the sequence can decode as a row of the shared batch.
    pub decodes: bool,
}

/// One sequence being decoded.
pub struct TokenStream<'n> {
    net: &'n Network,
    /// This sequence's KV, while it is not in the network's shared decode batch (then empty).
    pub(crate) cache: Vec<LayerCache>,
    /// Its row id in the shared decode batch.
    row: RowId,
    /// Whether its KV is in the shared decode batch.
    in_batch: bool,
    sampler: Sampler,
    constraint: Option<Box<dyn TokenConstraint>>,
    history: Vec<u32>,
    prompt_len: usize,
    /// Prompt tokens already in the cache.
    prefilled: usize,
    next: Next,
    /// This step's token to read (a pipelined token fed back this step, or one that was only
    /// waiting to be read).
    to_read: Option<Array>,
    /// The token sampled this step.
    sampled: Option<Array>,
    /// A token read by [`TokenStream::prefill`] but not yet returned by `next_token`.
    unreported: Option<u32>,
    produced: usize,
}

impl<'n> TokenStream<'n> {
    /// A stream over `prompt`, which must be non-empty.
    pub fn new(net: &'n Network, prompt: Vec<u32>, sampler: Sampler, constraint: Option<Box<dyn TokenConstraint>>) -> Result<TokenStream<'n>> {
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
            row: NEXT_ROW.fetch_add(1, Ordering::Relaxed),
            in_batch: false,
            sampler,
            constraint,
            prompt_len: prompt.len(),
            history: prompt,
            prefilled: 0,
            next: Next::Prompt,
            to_read: None,
            sampled: None,
            unreported: None,
            produced: 0,
        })
    }

    /// Starts from the KV of the longest prefix of the prompt that `prefix` holds, if any;
    /// returns how many prompt tokens are skipped. Only before the first step.
    pub fn reuse_prefix(&mut self, prefix: &mut PrefixCache) -> usize {
        if self.prefilled > 0 || !matches!(self.next, Next::Prompt) {
            return 0;
        }
        match prefix.restore(&self.history[..self.prompt_len]) {
            Some((cache, n)) if cache.len() == self.cache.len() => {
                self.cache = cache;
                self.prefilled = n;
                n
            }
            _ => 0,
        }
    }

    pub(crate) fn network(&self) -> &'n Network {
        self.net
    }

    pub(crate) fn row(&self) -> RowId {
        self.row
    }

    /// Hands this sequence's KV over for the shared decode batch ([`BatchKv::join`] takes it,
    /// together with the others that join in the same step); `None` if it is there already.
    pub(crate) fn to_batch(&mut self) -> Option<(RowId, Vec<LayerCache>)> {
        if self.in_batch {
            return None;
        }
        self.in_batch = true;
        Some((self.row, std::mem::take(&mut self.cache)))
    }

    /// Takes this sequence's KV back out of the shared decode batch.
    pub(crate) fn leave_batch(&mut self, batch: &mut BatchKv) -> Result<()> {
        if self.in_batch {
            self.cache = batch.leave(self.row)?.unwrap_or_default();
            self.in_batch = false;
        }
        Ok(())
    }

    /// Whether the next step can be queued before the current token is read.
    fn can_pipeline(&self) -> bool {
        self.constraint.is_none() && !self.sampler.needs_history()
    }

    /// What this sequence feeds into the next pass. `prefill_budget` bounds the prompt tokens
    /// it may process now; `wanted` is how many more tokens the generation wants.
    pub(crate) fn feed(&mut self, prefill_budget: usize, wanted: usize) -> Result<Option<Feed>> {
        self.sampled = None;
        self.to_read = None;
        match std::mem::replace(&mut self.next, Next::Done) {
            Next::Prompt => {
                let left = self.prompt_len - self.prefilled;
                // As mlx-lm: every prompt token but the last in chunks, then the last one alone
                // for its logits.
                let n = if left > 1 { prefill_budget.min(left - 1).min(mlx::prompt_chunk_cap(self.prefilled)) } else { 1 };
                self.next = Next::Prompt;
                if n == 0 {
                    return Ok(None);
                }
                // The last prompt token alone over a cache is a decode step in all but name, so it
                // may run as a row of the shared batch: sequences whose prompts end together then
                // take one batched step for it, not one attention per sequence per layer.
                let decodes = left == 1 && self.prefilled > 0;
                let ids = &self.history[self.prefilled..self.prefilled + n];
                self.prefilled += n;
                Ok(Some(Feed { ids: Array::from_slice(ids, &[n])?, samples: self.prefilled == self.prompt_len, decodes }))
            }
            Next::Device(y) => {
                let feed = if wanted > 1 { Some(Feed { ids: y.clone(), samples: true, decodes: true }) } else { None };
                self.to_read = Some(y);
                Ok(feed)
            }
            Next::Host(t) if wanted > 0 => Ok(Some(Feed { ids: Array::from_slice(&[t], &[1])?, samples: true, decodes: true })),
            Next::Host(_) | Next::Done => Ok(None),
        }
    }

    /// Whether this sequence's next token is the plain argmax of its logits (greedy, with no
    /// constraint), which the batch takes for all such rows in one call.
    pub(crate) fn is_greedy(&self) -> bool {
        self.constraint.is_none() && self.sampler.is_greedy()
    }

    /// Sets the token taken for this sequence by the batch (see [`TokenStream::is_greedy`]).
    pub(crate) fn set_sampled(&mut self, y: Array) {
        self.sampled = Some(y);
    }

    /// Samples from this sequence's `[1, vocab]` logits; the token is queued, not read.
    pub(crate) fn sample(&mut self, logits: &Array) -> Result<&Array> {
        let allowed = self.constraint.as_mut().and_then(|c| c.allowed());
        let y = self.sampler.sample(logits, &self.history, allowed.as_deref())?;
        Ok(self.sampled.insert(y))
    }

    /// Arrays to evaluate after this step: the sampled token, or the cache of a prompt chunk
    /// (so prefill memory is bounded per chunk).
    pub(crate) fn pending_arrays(&self) -> Vec<&Array> {
        match &self.sampled {
            Some(y) => vec![y],
            None if matches!(self.next, Next::Prompt) => self.cache.iter().flat_map(LayerCache::arrays).collect(),
            None => Vec::new(),
        }
    }

    /// Ends the step: reads this step's token, if any, and decides the next input.
    pub(crate) fn finish_step(&mut self) -> Result<Option<u32>> {
        let sampled = self.sampled.take();
        let token = match self.to_read.take() {
            // Pipelined: the token fed back this step is read while the next one computes.
            Some(y) => {
                self.next = sampled.map_or(Next::Done, Next::Device);
                Some(y.item::<u32>()?)
            }
            None => match sampled {
                Some(y) if self.can_pipeline() => {
                    self.next = Next::Device(y);
                    None
                }
                Some(y) => {
                    let t = y.item::<u32>()?;
                    if let Some(c) = self.constraint.as_mut() {
                        c.advance(t);
                    }
                    self.next = Next::Host(t);
                    Some(t)
                }
                None => None,
            },
        };
        if let Some(t) = token {
            self.history.push(t);
            self.produced += 1;
        }
        Ok(token)
    }

    /// Processes the prompt (all of it) and returns the logits `[1, vocab]` of its last
    /// position; the first token is sampled and queued. For tests that compare logits.
    pub fn prefill(&mut self) -> Result<Array> {
        while matches!(self.next, Next::Prompt) {
            let Some(feed) = self.feed(PREFILL_STEP, usize::MAX)? else { break };
            let logits = self.net.forward_last(None, &[&feed.ids], &mut [&mut self.cache[..]])?;
            if feed.samples {
                self.sample(&logits)?;
                mlx::async_eval(&self.pending_arrays())?;
                self.unreported = self.finish_step()?;
                return Ok(logits);
            }
            mlx::eval(&self.pending_arrays())?;
            mlx::memory::clear_cache();
        }
        Err(EngineError::InvalidOption { name: "prompt", message: "the prompt was already processed".into() })
    }

    /// Reads the next token. `more` says whether another token will be wanted after this one
    /// (so the pipeline does not compute a step nobody reads).
    pub fn next_token(&mut self, more: bool) -> Result<u32> {
        if let Some(t) = self.unreported.take() {
            return Ok(t);
        }
        let wanted = if more { 2 } else { 1 };
        loop {
            let tokens = crate::batch::step_streams(&mut [(self, wanted)], PREFILL_STEP)?;
            if let Some(t) = tokens[0] {
                return Ok(t);
            }
        }
    }

    /// Whether the constraint (if any) is satisfied.
    pub fn constraint_complete(&self) -> bool {
        self.constraint.as_ref().is_none_or(|c| c.is_complete())
    }

    /// Prompt plus generated tokens.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// Tokens read so far.
    pub fn produced(&self) -> usize {
        self.produced
    }

    /// The tokens whose KV the cache holds, and the cache (for the prefix cache; empty while
    /// the KV is in the shared decode batch: a finished sequence leaves it in its last step).
    pub(crate) fn kv_state(&self) -> (&[u32], &[LayerCache]) {
        (&self.history, &self.cache)
    }

    /// Bytes held by this sequence's KV cache (its share of the decode batch while in it).
    pub fn kv_bytes(&self) -> u64 {
        if self.in_batch {
            return self.net.batch().row_bytes();
        }
        self.cache.iter().map(LayerCache::nbytes).sum()
    }
}

impl Drop for TokenStream<'_> {
    /// An abandoned sequence gives its row back.
    fn drop(&mut self) {
        if self.in_batch {
            if let Err(e) = self.net.batch().remove(self.row) {
                tracing::warn!(error = %e, "dropping a sequence's decode-batch row");
            }
        }
    }
}
