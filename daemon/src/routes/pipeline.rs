//! The one generation pipeline behind /api/generate, /api/chat, /v1/completions and
//! /v1/chat/completions: options -> lease -> engine job -> a stream of [`Piece`]s with thinking
//! split off and tool calls parsed. Handlers only translate requests in and pieces out.

use std::collections::VecDeque;
use std::time::Instant;

use futures::stream::{self, BoxStream, StreamExt};
use ollmlx_api::ollama::{DoneReason, Format, Metrics, Think};
use ollmlx_api::{KeepAlive, Options};
use tokio::sync::mpsc::Receiver;

use crate::error::ApiError;
use crate::format::think::ThinkSplitter;
use crate::format::tools::{self, ParsedCall};
use crate::job::{GenEvent, GenFailure, GenJob, PromptInput, Sampling};
use crate::pool::{Lease, ModelMeta};
use crate::state::App;

/// Builds the prompt from the model's facts, the thinking switch and the tool schemas.
pub type PromptBuilder = Box<dyn FnOnce(&ModelMeta, Option<bool>, Option<Vec<serde_json::Value>>) -> PromptInput + Send>;

/// What the handlers send down the pipeline.
pub struct Ask {
    /// Model name as sent.
    pub model: String,
    /// Request options.
    pub options: Option<Options>,
    /// keep_alive as sent.
    pub keep_alive: Option<KeepAlive>,
    /// `format`.
    pub format: Option<Format>,
    /// `think`.
    pub think: Option<Think>,
    /// Images were attached.
    pub images: bool,
    /// Tool schemas (JSON) offered to the model.
    pub tools: Vec<serde_json::Value>,
    /// Builds the prompt once the model's facts are known.
    pub prompt: PromptBuilder,
    /// Return prompt + reply ids.
    pub want_context: bool,
    /// When the request arrived.
    pub arrived: Instant,
}

/// One unit of output.
#[derive(Debug, Clone)]
pub enum Piece {
    /// New text.
    Delta {
        /// Answer text.
        content: String,
        /// Reasoning text.
        thinking: String,
    },
    /// Tool calls parsed from the reply.
    ToolCalls(Vec<ParsedCall>),
    /// The end.
    Done(Box<Final>),
    /// A failure after the stream started.
    Error(String),
}

/// Final figures.
#[derive(Debug, Clone)]
pub struct Final {
    /// Ollama metrics (ns).
    pub metrics: Metrics,
    /// stop / length.
    pub reason: DoneReason,
    /// Prompt + reply ids when asked for.
    pub context: Option<Vec<u32>>,
    /// Prompt tokens served from the prefix cache (not in `metrics.prompt_eval_count`).
    pub cached_tokens: u64,
}

/// Starts a generation. Errors before the first token (unknown model, bad options, prompt
/// too long) come back as `Err`, so the handler can still answer with a status code.
pub async fn start(app: &App, ask: Ask) -> Result<BoxStream<'static, Piece>, ApiError> {
    let options = app.options_for(&App::parse_name(&ask.model)?.key(), ask.options.as_ref())?;
    let num_ctx = options.resolve().num_ctx;
    if ask.images {
        app.resolve(&ask.model).await?; // 404 first for unknown models
        return Err(ApiError::bad(format!("\"{}\" does not support images: it is a text-only model", ask.model)));
    }
    let leased = app.lease(&ask.model, ask.keep_alive, num_ctx).await?;
    let meta = leased.lease.meta().clone();
    // The model's own generation defaults sit below config.toml and the request.
    let resolved = meta.defaults.overlay(&options).resolve();
    let thinking = match &ask.think {
        Some(t) if t.enabled() && !meta.thinking => {
            return Err(ApiError::bad(format!("\"{}\" does not support thinking", ask.model)));
        }
        Some(t) => meta.thinking.then_some(t.enabled()),
        None => meta.thinking.then_some(true),
    };
    if !ask.tools.is_empty() && !meta.tools {
        return Err(ApiError::bad(format!("{} does not support tools", leased.lease.name())));
    }
    let tool_names: Vec<String> = ask
        .tools
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    let tools = (!ask.tools.is_empty()).then_some(ask.tools);
    let context_limit = resolved.num_ctx.unwrap_or(leased.lease.context()).min(meta.context_length.max(1));
    let job = GenJob {
        prompt: (ask.prompt)(&meta, thinking, tools),
        sampling: Sampling::from_options(&resolved, context_limit),
        max_tokens: resolved.num_predict,
        stop: resolved.stop,
        context_limit,
        format: ask.format,
        want_context: ask.want_context,
    };
    let mut rx = app.engine.generate(leased.lease.slot(), job);
    let prompt_tokens = match rx.recv().await {
        Some(GenEvent::Started { prompt_tokens }) => prompt_tokens,
        Some(GenEvent::Failed(GenFailure::BadRequest(m))) => return Err(ApiError::BadRequest(m)),
        Some(GenEvent::Failed(GenFailure::Internal(m))) => return Err(ApiError::Internal(m)),
        _ => return Err(ApiError::Internal("the engine ended the request without an answer".into())),
    };
    tracing::debug!(model = %ask.model, prompt_tokens, "generation started");
    let run = Run {
        rx,
        _lease: leased.lease,
        shaper: Shaper::new(thinking.is_some(), thinking == Some(false), tool_names),
        outbox: VecDeque::new(),
        arrived: ask.arrived,
        load_ns: nanos(leased.load_duration),
        ended: false,
    };
    Ok(stream::unfold(run, |mut run| async move { run.next_piece().await.map(|p| (p, run)) }).boxed())
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A generation in progress; holds the lease so the model stays busy until the stream ends.
struct Run {
    rx: Receiver<GenEvent>,
    _lease: Lease,
    shaper: Shaper,
    outbox: VecDeque<Piece>,
    arrived: Instant,
    load_ns: u64,
    ended: bool,
}

impl Run {
    async fn next_piece(&mut self) -> Option<Piece> {
        loop {
            if let Some(p) = self.outbox.pop_front() {
                return Some(p);
            }
            if self.ended {
                return None;
            }
            match self.rx.recv().await {
                Some(GenEvent::Text(t)) => self.outbox.extend(self.shaper.push(&t)),
                Some(GenEvent::Done { stats, context }) => {
                    self.outbox.extend(self.shaper.finish());
                    let metrics = Metrics {
                        total_duration: nanos(self.arrived.elapsed()),
                        load_duration: self.load_ns,
                        prompt_eval_count: stats.prompt_tokens as u64,
                        prompt_eval_duration: nanos(stats.prompt_duration),
                        eval_count: stats.generated_tokens as u64,
                        eval_duration: nanos(stats.generation_duration),
                    };
                    let reason = if stats.length { DoneReason::Length } else { DoneReason::Stop };
                    self.outbox.push_back(Piece::Done(Box::new(Final { metrics, reason, context, cached_tokens: stats.cached_tokens as u64 })));
                    self.ended = true;
                }
                Some(GenEvent::Failed(f)) => {
                    self.outbox.push_back(Piece::Error(f.to_string()));
                    self.ended = true;
                }
                Some(GenEvent::Started { .. }) => {}
                None => {
                    self.outbox.push_back(Piece::Error("generation ended unexpectedly".into()));
                    self.ended = true;
                }
            }
        }
    }
}

/// Turns raw text into pieces: thinking split off, content held while it may be a tool call.
pub struct Shaper {
    think: Option<ThinkSplitter>,
    drop_thinking: bool,
    tools: Vec<String>,
    held: String,
    holding: bool,
}

impl Shaper {
    /// A shaper; `split` enables the `<think>` splitter, `drop_thinking` discards its output.
    pub fn new(split: bool, drop_thinking: bool, tools: Vec<String>) -> Shaper {
        let holding = !tools.is_empty();
        Shaper { think: split.then(ThinkSplitter::default), drop_thinking, tools, held: String::new(), holding }
    }

    /// Pieces for new text.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        let (thinking, content) = match self.think.as_mut() {
            Some(s) => {
                let out = s.push(text);
                (out.thinking, out.content)
            }
            None => (String::new(), text.to_string()),
        };
        self.emit(thinking, content)
    }

    /// Pieces for what is held at the end (tool calls are parsed here).
    pub fn finish(&mut self) -> Vec<Piece> {
        let (thinking, content) = match self.think.as_mut() {
            Some(s) => {
                let out = s.finish();
                (out.thinking, out.content)
            }
            None => (String::new(), String::new()),
        };
        let mut out = self.emit(thinking, content);
        if self.holding {
            let held = std::mem::take(&mut self.held);
            match tools::parse(&held, &self.tools) {
                Some(calls) => out.push(Piece::ToolCalls(calls)),
                None if !held.is_empty() => out.push(Piece::Delta { content: held, thinking: String::new() }),
                None => {}
            }
        }
        out
    }

    fn emit(&mut self, thinking: String, mut content: String) -> Vec<Piece> {
        let thinking = if self.drop_thinking { String::new() } else { thinking };
        if self.holding {
            self.held.push_str(&content);
            if tools::could_be_call(&self.held) {
                content = String::new();
            } else {
                self.holding = false;
                content = std::mem::take(&mut self.held);
            }
        }
        if thinking.is_empty() && content.is_empty() {
            return Vec::new();
        }
        vec![Piece::Delta { content, thinking }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(shaper: &mut Shaper, chunks: &[&str]) -> (String, String, Vec<ParsedCall>) {
        let mut pieces: Vec<Piece> = chunks.iter().flat_map(|c| shaper.push(c)).collect();
        pieces.extend(shaper.finish());
        let (mut content, mut thinking, mut calls) = (String::new(), String::new(), Vec::new());
        for p in pieces {
            match p {
                Piece::Delta { content: c, thinking: t } => {
                    content += &c;
                    thinking += &t;
                }
                Piece::ToolCalls(c) => calls.extend(c),
                _ => {}
            }
        }
        (content, thinking, calls)
    }

    #[test]
    fn tool_calls_are_held_and_parsed() {
        let mut s = Shaper::new(false, false, vec!["get_weather".into()]);
        let (content, _, calls) = run(&mut s, &["<tool_", "call>{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}</tool_call>"]);
        assert_eq!(content, "");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].arguments["city"], "Paris");
    }

    #[test]
    fn ordinary_text_streams_even_with_tools() {
        let mut s = Shaper::new(false, false, vec!["get_weather".into()]);
        assert!(matches!(s.push("It is").as_slice(), [Piece::Delta { content, .. }] if content == "It is"));
        let (content, _, calls) = run(&mut s, &[" sunny."]);
        assert_eq!(content, " sunny.");
        assert!(calls.is_empty());
    }

    #[test]
    fn thinking_is_split_or_dropped() {
        let (content, thinking, _) = run(&mut Shaper::new(true, false, Vec::new()), &["<think>hmm</think>", "Yes"]);
        assert_eq!((content.as_str(), thinking.as_str()), ("Yes", "hmm"));
        let (content, thinking, _) = run(&mut Shaper::new(true, true, Vec::new()), &["<think>hmm</think>", "Yes"]);
        assert_eq!((content.as_str(), thinking.as_str()), ("Yes", ""));
    }
}
