//! One request's generation: the token stream plus detokenization, EOS and stop strings, limits
//! and timing. [`Generation::step`] advances by one token, so a caller can interleave many
//! sequences (of one model or several) on one engine thread.
use crate::decode::{TokenConstraint, TokenStream, PREFILL_STEP};
use crate::error::{EngineError, Result};
use crate::model::Model;
use crate::sample::{Sampler, SamplingParams};
use crate::text::{StopMatcher, StopStep, StreamingDetokenizer};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What to generate.
#[derive(Default)]
pub struct GenerateParams {
    /// Prompt token ids (already templated).
    pub prompt: Vec<u32>,
    /// Most tokens to generate; `None` = until the context is full.
    pub max_tokens: Option<usize>,
    /// Sampling options.
    pub sampling: SamplingParams,
    /// Stop strings (not emitted).
    pub stop: Vec<String>,
    /// Keep going past EOS (benchmarks).
    pub ignore_eos: bool,
    /// Context cap (`num_ctx`); `None` = the model's training context.
    pub context_limit: Option<usize>,
    /// Grammar constraint for `format`.
    pub constraint: Option<Box<dyn TokenConstraint>>,
    /// Prompt tokens processed per step (`None` = [`PREFILL_STEP`]); a server batching many
    /// sequences uses less, so a long prompt does not stall the others for long.
    pub prefill_chunk: Option<usize>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneReason {
    /// EOS, a stop string, or a completed constraint.
    Stop,
    /// `max_tokens` or the context limit.
    Length,
}

impl DoneReason {
    /// Ollama's `done_reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            DoneReason::Stop => "stop",
            DoneReason::Length => "length",
        }
    }
}

/// Counts and durations of a finished generation.
#[derive(Debug, Clone)]
pub struct GenerateStats {
    /// Prompt tokens processed.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV came from the prefix cache (not processed again).
    pub cached_tokens: usize,
    /// Time to process the prompt and produce the first token.
    pub prompt_duration: Duration,
    /// Tokens generated (EOS included when it ended the generation).
    pub generated_tokens: usize,
    /// Time spent generating after the first token.
    pub generation_duration: Duration,
    /// Why it ended.
    pub done_reason: DoneReason,
}

/// What a step produces.
#[derive(Debug, Clone)]
pub enum Event {
    /// A generated token and the text it completes (may be empty while UTF-8 bytes or a
    /// possible stop string are held back).
    Token {
        /// Token id.
        id: u32,
        /// Newly emitted text.
        text: String,
    },
    /// Held-back text released at the end.
    Text(String),
    /// Generation ended.
    Done(GenerateStats),
}

/// A sequence in progress.
pub struct Generation<'m> {
    model: &'m Model,
    stream: TokenStream<'m>,
    detok: StreamingDetokenizer<'m>,
    stops: StopMatcher,
    limit: usize,
    ignore_eos: bool,
    prompt_tokens: usize,
    produced: usize,
    started: Option<Instant>,
    first_token_at: Option<Instant>,
    queue: VecDeque<Event>,
    finished: bool,
    has_constraint: bool,
    prefill_chunk: usize,
    cached_tokens: usize,
}

impl<'m> Generation<'m> {
    /// Validates the request and prepares the sequence (no compute yet).
    pub fn new(model: &'m Model, params: GenerateParams) -> Result<Generation<'m>> {
        let ctx = model.info().context_length;
        let ctx = params.context_limit.map_or(ctx, |c| c.min(ctx));
        let n = params.prompt.len();
        if n >= ctx {
            return Err(EngineError::PromptTooLong { tokens: n, limit: ctx });
        }
        let room = ctx - n;
        let limit = params.max_tokens.map_or(room, |m| m.min(room));
        let sampler = Sampler::new(params.sampling)?;
        let has_constraint = params.constraint.is_some();
        let stream = TokenStream::new(model.network(), params.prompt, sampler, params.constraint)?;
        Ok(Generation {
            model,
            stream,
            detok: model.tokenizer().detokenizer(),
            stops: StopMatcher::new(&params.stop),
            limit,
            ignore_eos: params.ignore_eos,
            prompt_tokens: n,
            produced: 0,
            started: None,
            first_token_at: None,
            queue: VecDeque::new(),
            finished: false,
            has_constraint,
            prefill_chunk: params.prefill_chunk.unwrap_or(PREFILL_STEP).max(1),
            cached_tokens: 0,
        })
    }

    /// Advances by one token (the first call also processes the prompt). `None` once done.
    pub fn step(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            if self.finished {
                return Ok(None);
            }
            let chunk = self.prefill_chunk;
            crate::batch::step_generations(&mut [self], chunk)?;
        }
    }

    /// Starts from the prefix cache's longest match of the prompt; returns the prompt tokens
    /// skipped. Only before the first step.
    pub fn reuse_prefix(&mut self, prefix: &mut crate::prefix::PrefixCache) -> usize {
        self.cached_tokens = self.stream.reuse_prefix(prefix);
        self.cached_tokens
    }

    /// The tokens whose KV this sequence holds and its cache.
    pub(crate) fn kv_state(&self) -> (&[u32], &[crate::cache::LayerCache]) {
        self.stream.kv_state()
    }

    /// The next queued event, after a batched step.
    pub fn next_event(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// Whether this generation is over and every event has been taken.
    pub fn is_done(&self) -> bool {
        self.finished && self.queue.is_empty()
    }

    /// Whether this generation takes part in the next step: not finished and no event waiting
    /// to be taken. Finishes at once when no token is wanted at all.
    pub(crate) fn begin_step(&mut self) -> bool {
        if self.finished || !self.queue.is_empty() {
            return false;
        }
        self.started.get_or_insert_with(Instant::now);
        if self.limit == 0 {
            self.finish(DoneReason::Length);
            return false;
        }
        true
    }

    /// Whether no more tokens will be produced (events may still be queued).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Tokens still wanted.
    pub(crate) fn wanted(&self) -> usize {
        self.limit - self.produced
    }

    pub(crate) fn stream_mut(&mut self) -> &mut TokenStream<'m> {
        &mut self.stream
    }

    /// Handles a token read by the batch step: EOS, text, stops, limits.
    pub(crate) fn accept(&mut self, id: u32) {
        self.produced += 1;
        self.first_token_at.get_or_insert_with(Instant::now);
        if !self.ignore_eos && self.model.tokenizer().is_eos(id) {
            self.finish(DoneReason::Stop);
            return;
        }
        let piece = self.detok.push(id);
        match self.stops.push(&piece) {
            StopStep::Emit(text) => self.queue.push_back(Event::Token { id, text }),
            StopStep::Stopped(text) => {
                self.queue.push_back(Event::Token { id, text });
                self.finished = true;
                self.queue.push_back(Event::Done(self.stats(DoneReason::Stop)));
                return;
            }
        }
        if self.has_constraint && self.stream.constraint_complete() {
            // The constrained text (e.g. one JSON value) is complete: more tokens could only be
            // trailing whitespace, so stop as an EOS would.
            self.finish(DoneReason::Stop);
        } else if self.produced >= self.limit {
            self.finish(DoneReason::Length);
        }
    }

    /// Flushes held-back text and queues the final event.
    fn finish(&mut self, reason: DoneReason) {
        let mut tail = self.detok.finish();
        tail = match self.stops.push(&tail) {
            StopStep::Emit(t) => t + &self.stops.finish(),
            StopStep::Stopped(t) => t,
        };
        if !tail.is_empty() {
            self.queue.push_back(Event::Text(tail));
        }
        self.finished = true;
        self.queue.push_back(Event::Done(self.stats(reason)));
    }

    fn stats(&self, done_reason: DoneReason) -> GenerateStats {
        let now = Instant::now();
        let start = self.started.unwrap_or(now);
        let first = self.first_token_at.unwrap_or(now);
        GenerateStats {
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.cached_tokens,
            prompt_duration: first - start,
            generated_tokens: self.produced,
            generation_duration: now - first,
            done_reason,
        }
    }

    /// Bytes held by this sequence's KV cache.
    pub fn kv_bytes(&self) -> u64 {
        self.stream.kv_bytes()
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> usize {
        self.produced
    }
}
