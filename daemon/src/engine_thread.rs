//! The engine thread: ONE dedicated OS thread that owns every loaded `ollmlx_engine::Model`
//! and all MLX state, fed by a channel of [`Command`]s. This is the only file that touches
//! `ollmlx_engine`.
//!
//! The loop drains pending commands, then gives every resident model one batched step: all of
//! its running sequences advance together in one forward pass (continuous batching: sequences
//! join and leave between steps), and models take turns, so requests on different models
//! interleave fairly. At most `num_parallel` sequences of a model run; later ones wait in
//! arrival order. A sequence whose event receiver is gone (client disconnected) is dropped
//! before the next step. Finished sequences leave their KV in the model's prefix cache, which
//! is saved beside the store when the model is unloaded and read back when it loads again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use futures::future::BoxFuture;
use futures::FutureExt;
use ollmlx_engine::text::ChatRenderRequest;
use ollmlx_engine::{Event, GenerateParams, Generation, LoadOptions, Model, PrefixCache, SamplingParams, TokenConstraint};
use serde_json::Value;
use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::config::batching::Batching;
use crate::format::Vocab;
use crate::job::{EmbedOutput, GenEvent, GenFailure, GenJob, PromptInput, Stats};
use crate::pool::{Backend, Estimate, LoadedModel, Measurement, ModelMeta, SlotId, Usage};

/// Events a sequence may have waiting for its client before it pauses.
const EVENT_BUFFER: usize = 64;

/// How long the loop sleeps when every live sequence waits for a slow client.
const PAUSED_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Clients that start together (a chat UI's parallel calls, a batch job, the serving bench)
/// reach the engine over a millisecond or two. Stepping on the first at once would prefill it
/// alone while the rest wait out that whole step, and then prefill them in a second one; so
/// when a request arrives at an idle engine, the engine keeps taking requests while they come
/// less than `ADMIT_GAP` apart, for at most `ADMIT_MAX`, and they share the first step. A lone
/// request pays one `ADMIT_GAP` (vLLM's `scheduler_delay_factor` trades the same way).
const ADMIT_GAP: std::time::Duration = std::time::Duration::from_millis(1);
const ADMIT_MAX: std::time::Duration = std::time::Duration::from_millis(5);

/// How long the engine waits with nothing to do before handing the allocator's freed pages
/// back to the system (`allocator::release_free`), rather than leaving an idle daemon holding
/// them for the allocator's own decay time.
const IDLE_TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A request to the engine thread.
enum Command {
    Estimate { path: PathBuf, reply: oneshot::Sender<Result<Estimate, String>> },
    Load { id: SlotId, path: PathBuf, reply: oneshot::Sender<Result<LoadedModel, String>> },
    Unload { id: SlotId, reply: oneshot::Sender<()> },
    Measure { reply: oneshot::Sender<Measurement> },
    Generate { id: SlotId, job: Box<GenJob>, events: tmpsc::Sender<GenEvent> },
    Embed { id: SlotId, inputs: Vec<String>, limit: usize, truncate: bool, reply: oneshot::Sender<Result<EmbedOutput, GenFailure>> },
    /// Ends every sequence, frees every model and stops the thread.
    Stop { reply: oneshot::Sender<()> },
}

/// How the engine thread batches, and where prefix caches live on disk.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Batching and prefix-cache settings.
    pub batching: Batching,
    /// Folder for saved prefix caches (`None`: memory only).
    pub prefix_root: Option<PathBuf>,
}

/// Handle to the engine thread; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    /// Starts the engine thread.
    pub fn start(config: EngineConfig) -> anyhow::Result<EngineHandle> {
        let (tx, rx) = mpsc::channel();
        let engine = EngineLoop { models: HashMap::new(), config };
        std::thread::Builder::new().name("ollmlx-engine".into()).spawn(move || engine.run(&rx))?;
        Ok(EngineHandle { tx })
    }

    fn send(&self, cmd: Command) {
        // A send fails only when the engine thread is gone; the dropped reply then reports it.
        let _ = self.tx.send(cmd);
    }

    /// Starts a generation; events arrive on the returned receiver. Dropping it cancels.
    /// The channel is bounded: a client that reads slowly pauses its own sequence instead of
    /// piling up tokens in memory.
    pub fn generate(&self, id: SlotId, job: GenJob) -> tmpsc::Receiver<GenEvent> {
        let (events, rx) = tmpsc::channel(EVENT_BUFFER);
        self.send(Command::Generate { id, job: Box::new(job), events });
        rx
    }

    /// Stops the engine thread: live sequences end with an error, models are freed. MLX's
    /// globals are torn down at process exit, so exiting while this thread still runs MLX work
    /// crashes; the daemon calls this before returning from `main`. `false` when the thread did
    /// not stop within `wait` (it is inside one long step).
    pub async fn stop(&self, wait: std::time::Duration) -> bool {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stop { reply });
        // Err from the channel: the thread is already gone, which is stopped too.
        !matches!(tokio::time::timeout(wait, rx).await, Err(_))
    }

    /// Embeds texts (mean-pooled, not normalised).
    pub async fn embed(&self, id: SlotId, inputs: Vec<String>, limit: usize, truncate: bool) -> Result<EmbedOutput, GenFailure> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Embed { id, inputs, limit, truncate, reply });
        rx.await.unwrap_or_else(|_| Err(GenFailure::Internal("the engine thread stopped".into())))
    }
}

impl Backend for EngineHandle {
    fn estimate(&self, path: PathBuf) -> BoxFuture<'static, Result<Estimate, String>> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Estimate { path, reply });
        async move { rx.await.unwrap_or_else(|_| Err("the engine thread stopped".into())) }.boxed()
    }
    fn load(&self, id: SlotId, path: PathBuf) -> BoxFuture<'static, Result<LoadedModel, String>> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Load { id, path, reply });
        async move { rx.await.unwrap_or_else(|_| Err("the engine thread stopped".into())) }.boxed()
    }
    fn unload(&self, id: SlotId) -> BoxFuture<'static, ()> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Unload { id, reply });
        async move {
            let _ = rx.await;
        }
        .boxed()
    }
    fn measure(&self) -> BoxFuture<'static, Measurement> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Measure { reply });
        async move { rx.await.unwrap_or_default() }.boxed()
    }
}

/// One live sequence and where its events go.
struct Sequence<'m> {
    gen: Generation<'m>,
    events: tmpsc::Sender<GenEvent>,
    /// Prompt + generated ids, for /api/generate's `context`.
    context: Option<Vec<u32>>,
}

/// What lives beside a model and borrows it.
struct Live<'m> {
    /// Running first (at most `num_parallel`), then waiting, in arrival order.
    seqs: Vec<Sequence<'m>>,
    vocab: Option<Arc<Vocab>>,
    prefix: PrefixCache,
    /// Where the prefix cache is saved (specific to the model's files).
    prefix_dir: Option<PathBuf>,
}

self_cell::self_cell!(
    /// A loaded model with the sequences that borrow it.
    struct Resident {
        owner: Model,
        #[not_covariant]
        dependent: Live,
    }
);

struct EngineLoop {
    models: HashMap<SlotId, Resident>,
    config: EngineConfig,
}

impl EngineLoop {
    fn run(mut self, rx: &mpsc::Receiver<Command>) {
        let mut stepped = true;
        // Whether anything ran since freed memory was last released.
        let mut worked = false;
        // Until when requests arriving together are still being admitted (see ADMIT_GAP).
        let mut admitting: Option<std::time::Instant> = None;
        loop {
            let busy = self.models.values().any(|r| r.with_dependent(|_, live| !live.seqs.is_empty()));
            let admit_left = admitting.and_then(|until| until.checked_duration_since(std::time::Instant::now()));
            let cmd = if let (true, Some(left)) = (busy, admit_left) {
                match rx.recv_timeout(ADMIT_GAP.min(left)) {
                    Ok(c) => Some(c),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        admitting = None;
                        None
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else if !busy && worked {
                match rx.recv_timeout(IDLE_TRIM_AFTER) {
                    Ok(c) => Some(c),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        crate::allocator::release_free();
                        worked = false;
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else if !busy {
                match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            } else if stepped {
                match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                // Every sequence waits for its client: sleep briefly instead of spinning.
                match rx.recv_timeout(PAUSED_WAIT) {
                    Ok(c) => Some(c),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            match cmd {
                Some(Command::Stop { reply }) => {
                    self.stop();
                    let _ = reply.send(());
                    return;
                }
                Some(c) => {
                    if !busy && matches!(c, Command::Generate { .. }) {
                        admitting = Some(std::time::Instant::now() + ADMIT_MAX);
                    }
                    self.handle(c);
                }
                None => {
                    admitting = None;
                    stepped = self.step_all();
                }
            }
            worked = true;
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Estimate { path, reply } => {
                let r = ollmlx_engine::estimate_memory(&path, &LoadOptions::default())
                    .map(|e| Estimate { weight_bytes: e.weight_bytes, kv_bytes_per_token: e.kv_bytes_per_token })
                    .map_err(|e| format!("{e}"));
                let _ = reply.send(r);
            }
            Command::Load { id, path, reply } => {
                let _ = reply.send(self.load(id, &path));
            }
            Command::Unload { id, reply } => {
                if let Some(r) = self.models.remove(&id) {
                    r.with_dependent(|_, live| save_prefix(live));
                }
                // Freed buffers sit in MLX's cache, then in the C allocator, until released;
                // release both so the memory really returns to the system.
                ollmlx_engine::mlx::memory::clear_cache();
                crate::allocator::release_free();
                let _ = reply.send(());
            }
            Command::Measure { reply } => {
                let _ = reply.send(self.measure());
            }
            Command::Stop { reply } => {
                // `run` handles Stop itself (it must leave the loop); reaching here is harmless.
                self.stop();
                let _ = reply.send(());
            }
            Command::Generate { id, job, events } => self.start(id, *job, events),
            Command::Embed { id, inputs, limit, truncate, reply } => {
                let r = match self.models.get(&id) {
                    Some(r) => embed(r.borrow_owner(), &inputs, limit, truncate),
                    None => Err(GenFailure::Internal("model is not loaded".into())),
                };
                let _ = reply.send(r);
            }
        }
    }

    /// Ends every live sequence with an error its client sees, then frees all models.
    fn stop(&mut self) {
        for resident in self.models.values_mut() {
            resident.with_dependent_mut(|_, live| {
                for seq in live.seqs.drain(..) {
                    let _ = seq.events.try_send(GenEvent::Failed(GenFailure::Internal("the daemon is shutting down".into())));
                }
                save_prefix(live);
            });
        }
        self.models.clear();
        ollmlx_engine::mlx::memory::clear_cache();
    }

    fn load(&mut self, id: SlotId, path: &Path) -> Result<LoadedModel, String> {
        let model = Model::load(path, &LoadOptions::default()).map_err(|e| format!("{e}"))?;
        let estimate = ollmlx_engine::estimate_memory(path, &LoadOptions::default()).map_err(|e| format!("{e}"))?;
        let mut meta = meta_of(&model);
        meta.defaults = generation_defaults(path);
        let loaded = LoadedModel {
            meta: Arc::new(meta),
            weight_bytes: model.weight_bytes(),
            kv_bytes_per_token: estimate.kv_bytes_per_token,
        };
        let budget = self.config.batching.prefix_cache_bytes;
        let prefix_dir = self.config.prefix_root.as_deref().filter(|_| budget > 0).and_then(|root| prefix_dir(root, path));
        let prefix = match &prefix_dir {
            Some(dir) => PrefixCache::load(dir, budget),
            None => PrefixCache::new(budget),
        };
        if !prefix.is_empty() {
            tracing::info!(entries = prefix.len(), bytes = prefix.bytes(), "prefix cache read back");
        }
        self.models.insert(id, Resident::new(model, |_| Live { seqs: Vec::new(), vocab: None, prefix, prefix_dir }));
        Ok(loaded)
    }

    fn measure(&self) -> Measurement {
        let models = self
            .models
            .iter()
            .map(|(id, r)| {
                let weight_bytes = r.borrow_owner().weight_bytes();
                let kv_bytes =
                    r.with_dependent(|_, live| live.seqs.iter().map(|s| s.gen.kv_bytes()).sum::<u64>() + live.prefix.bytes());
                (*id, Usage { weight_bytes, kv_bytes })
            })
            .collect();
        let cache_bytes = ollmlx_engine::mlx::memory::cache() as u64;
        let active_bytes = ollmlx_engine::mlx::memory::active() as u64;
        Measurement { models, cache_bytes, active_bytes }
    }

    /// Prepares a sequence; failures before the first token go back as one event.
    fn start(&mut self, id: SlotId, job: GenJob, events: tmpsc::Sender<GenEvent>) {
        let Some(resident) = self.models.get_mut(&id) else {
            let _ = events.try_send(GenEvent::Failed(GenFailure::Internal("model is not loaded".into())));
            return;
        };
        resident.with_dependent_mut(|model, live| {
            let constraint = match &job.format {
                Some(format) => {
                    let vocab = live.vocab.get_or_insert_with(|| Arc::new(vocab_of(model))).clone();
                    match crate::format::JsonConstraint::new(format, vocab) {
                        Ok(c) => Some(Box::new(Adapter(c)) as Box<dyn TokenConstraint>),
                        Err(e) => {
                            let _ = events.try_send(GenEvent::Failed(GenFailure::BadRequest(e)));
                            return;
                        }
                    }
                }
                None => None,
            };
            match prepare(model, &job, constraint) {
                Ok((params, prompt_ids)) => {
                    let prompt_tokens = params.prompt.len();
                    match Generation::new(model, params) {
                        Ok(mut gen) => {
                            let reused = gen.reuse_prefix(&mut live.prefix);
                            tracing::debug!(prompt_tokens, reused, running = live.seqs.len(), "sequence admitted");
                            let _ = events.try_send(GenEvent::Started { prompt_tokens });
                            let context = job.want_context.then_some(prompt_ids);
                            live.seqs.push(Sequence { gen, events, context });
                        }
                        Err(e) => {
                            let _ = events.try_send(GenEvent::Failed(failure(&e)));
                        }
                    }
                }
                Err(f) => {
                    let _ = events.try_send(GenEvent::Failed(f));
                }
            }
        });
    }

    /// One batched step for every model with running sequences; false when none could step.
    fn step_all(&mut self) -> bool {
        let batching = self.config.batching;
        let mut stepped = false;
        for resident in self.models.values_mut() {
            resident.with_dependent_mut(|_, live| stepped |= step_model(live, &batching));
        }
        stepped
    }
}

/// Delivers what each sequence has queued and retires finished or abandoned ones, then steps
/// the running ones whose clients keep up in one batch, and delivers and retires again.
fn step_model(live: &mut Live<'_>, batching: &Batching) -> bool {
    retire(live);
    let running = live.seqs.len().min(batching.num_parallel);
    let mut ready: Vec<&mut Generation<'_>> =
        live.seqs[..running].iter_mut().filter(|s| s.events.capacity() > 0).map(|s| &mut s.gen).collect();
    if ready.is_empty() {
        return false;
    }
    if let Err(e) = ollmlx_engine::step_generations(&mut ready, batching.prefill_chunk) {
        // One pass runs them all: a failure ends every sequence that took part.
        tracing::warn!(error = %e, sequences = ready.len(), "batched step failed");
        drop(ready);
        for seq in live.seqs[..running].iter_mut() {
            let _ = seq.events.try_send(GenEvent::Failed(failure(&e)));
        }
        live.seqs.drain(..running);
        return true;
    }
    drop(ready);
    // At once, not at the next step: the client may send its next turn as soon as it has the
    // final event, and that request must find this one's KV in the prefix cache.
    retire(live);
    true
}

/// Delivers queued events; drops sequences that are finished (keeping their KV in the prefix
/// cache) or whose client is gone.
fn retire(live: &mut Live<'_>) {
    let prefix = &mut live.prefix;
    live.seqs.retain_mut(|seq| {
        let keep = deliver(seq);
        if !keep && seq.gen.is_done() {
            prefix.insert(&seq.gen);
        }
        keep
    });
}

/// Sends the sequence's queued events while its client has room; false once it is finished
/// (everything delivered) or its client is gone.
fn deliver(seq: &mut Sequence<'_>) -> bool {
    if seq.events.is_closed() {
        return false;
    }
    while seq.events.capacity() > 0 {
        let Some(event) = seq.gen.next_event() else { break };
        let sent = match event {
            Event::Token { id, text } => {
                if let Some(ctx) = seq.context.as_mut() {
                    ctx.push(id);
                }
                text.is_empty() || seq.events.try_send(GenEvent::Text(text)).is_ok()
            }
            Event::Text(text) => seq.events.try_send(GenEvent::Text(text)).is_ok(),
            Event::Done(s) => {
                let stats = Stats {
                    // As Ollama: the prompt tokens processed, after the prefix cache.
                    prompt_tokens: s.prompt_tokens - s.cached_tokens,
                    cached_tokens: s.cached_tokens,
                    prompt_duration: s.prompt_duration,
                    generated_tokens: s.generated_tokens,
                    generation_duration: s.generation_duration,
                    length: s.done_reason == ollmlx_engine::DoneReason::Length,
                };
                let _ = seq.events.try_send(GenEvent::Done { stats, context: seq.context.take() });
                return false;
            }
        };
        if !sent {
            return false;
        }
    }
    !seq.gen.is_done()
}

/// Saves a model's prefix cache to its folder (failures are logged: the cache is an
/// optimisation, never a reason to fail an unload).
fn save_prefix(live: &Live<'_>) {
    let Some(dir) = &live.prefix_dir else { return };
    if live.prefix.is_empty() {
        return;
    }
    match live.prefix.save(dir) {
        Ok(()) => tracing::info!(dir = %dir.display(), entries = live.prefix.len(), "prefix cache saved"),
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot save the prefix cache"),
    }
}

/// `<root>/<hash of the model folder>/<hash of its files>`: a folder per version of the model's
/// files, so changed weights never meet stale KV. Older versions' folders are removed.
fn prefix_dir(root: &Path, model: &Path) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let hash = |bytes: &[u8]| hex::encode(&Sha256::digest(bytes)[..8]);
    let folder = root.join(hash(model.as_os_str().as_encoded_bytes()));
    let mut files: Vec<(String, u64, u128)> = std::fs::read_dir(model)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let wanted = name.ends_with(".safetensors") || name == "config.json";
            let meta = e.metadata().ok()?;
            let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
            wanted.then_some((name, meta.len(), modified))
        })
        .collect();
    files.sort();
    let version = hash(format!("{files:?}").as_bytes());
    if let Ok(old) = std::fs::read_dir(&folder) {
        for e in old.flatten().filter(|e| e.file_name().to_string_lossy() != version) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Some(folder.join(version))
}

fn failure(e: &ollmlx_engine::EngineError) -> GenFailure {
    match e {
        ollmlx_engine::EngineError::PromptTooLong { .. } | ollmlx_engine::EngineError::EmptyPrompt => {
            GenFailure::BadRequest(e.to_string())
        }
        other => GenFailure::Internal(other.to_string()),
    }
}

/// Templating and tokenizing: the prompt ids and the engine parameters.
fn prepare(
    model: &Model,
    job: &GenJob,
    constraint: Option<Box<dyn TokenConstraint>>,
) -> Result<(GenerateParams, Vec<u32>), GenFailure> {
    let tok = model.tokenizer();
    let bad = |e: &dyn std::fmt::Display| GenFailure::BadRequest(e.to_string());
    let mut ids = match &job.prompt {
        PromptInput::Raw { text, context } => {
            let mut ids = context.clone();
            ids.extend(tok.encode(text, context.is_empty()).map_err(|e| bad(&e))?);
            ids
        }
        PromptInput::Chat { messages, tools, think, context } => {
            let text = render(model, messages, tools.as_deref(), *think)?;
            // The template already wrote BOS and other specials when the model wants them.
            let mut ids = context.clone();
            ids.extend(tok.encode(&text, false).map_err(|e| bad(&e))?);
            ids
        }
    };
    if ids.is_empty() {
        ids = tok.bos_token_id().into_iter().collect();
    }
    let s = &job.sampling;
    let params = GenerateParams {
        prompt: ids.clone(),
        max_tokens: job.max_tokens,
        sampling: SamplingParams {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            repeat_last_n: s.repeat_last_n,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            seed: s.seed,
        },
        stop: job.stop.clone(),
        ignore_eos: false,
        context_limit: Some(job.context_limit),
        constraint,
        prefill_chunk: None,
    };
    Ok((params, ids))
}

/// Renders messages with the model's own chat template; without one, joins the contents.
fn render(model: &Model, messages: &[Value], tools: Option<&[Value]>, think: Option<bool>) -> Result<String, GenFailure> {
    let Some(template) = model.chat_template() else {
        return Ok(messages.iter().filter_map(|m| m.get("content").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"));
    };
    let mut req = ChatRenderRequest::new(messages);
    req.tools = tools.filter(|t| !t.is_empty());
    if let Some(think) = think {
        req.extra.insert("enable_thinking".into(), Value::Bool(think));
    }
    template.render(&req).map_err(|e| GenFailure::BadRequest(format!("chat template: {e}")))
}

fn embed(model: &Model, inputs: &[String], limit: usize, truncate: bool) -> Result<EmbedOutput, GenFailure> {
    let mut out = EmbedOutput::default();
    for text in inputs {
        let mut ids = model.tokenizer().encode(text, true).map_err(|e| GenFailure::BadRequest(e.to_string()))?;
        if ids.len() > limit {
            if !truncate {
                return Err(GenFailure::BadRequest("the input length exceeds the context length".into()));
            }
            ids.truncate(limit);
        }
        if ids.is_empty() {
            ids.extend(model.tokenizer().bos_token_id());
        }
        out.tokens += ids.len();
        out.vectors.push(model.embed(&ids).map_err(|e| failure(&e))?);
    }
    Ok(out)
}

fn meta_of(model: &Model) -> ModelMeta {
    let i = model.info();
    let template = model.chat_template();
    let source = template.map_or("", |t| t.source());
    let tok = model.tokenizer();
    ModelMeta {
        model_type: i.model_type.clone(),
        context_length: i.context_length,
        embedding_length: i.hidden_size,
        num_layers: i.num_layers,
        num_heads: i.num_heads,
        num_kv_heads: i.num_kv_heads,
        head_dim: i.head_dim,
        vocab_size: i.vocab_size,
        intermediate_size: i.intermediate_size,
        parameter_count: i.parameter_count,
        quantization: i.quantization,
        dtype: i.dtype.clone(),
        rope_theta: i.rope_theta,
        chat_template: template.is_some(),
        tools: template.is_some_and(|t| t.has_tool_use_template()) || source.contains("tools"),
        thinking: source.contains("<think>") || tok.token_to_id("<think>").is_some(),
        defaults: ollmlx_api::Options::default(),
    }
}

/// Sampling defaults from generation_config.json (HF names mapped to Ollama's); a missing
/// or odd file only means no defaults.
fn generation_defaults(dir: &Path) -> ollmlx_api::Options {
    let Ok(text) = std::fs::read_to_string(dir.join("generation_config.json")) else { return Default::default() };
    let Ok(Value::Object(g)) = serde_json::from_str::<Value>(&text) else { return Default::default() };
    let mut map = serde_json::Map::new();
    for (hf, ours) in [("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"), ("repetition_penalty", "repeat_penalty")] {
        if let Some(v) = g.get(hf).filter(|v| v.is_number()) {
            map.insert(ours.to_string(), v.clone());
        }
    }
    ollmlx_api::Options::from_map(&map).ok().filter(|o| o.validate().is_ok()).unwrap_or_default()
}

/// Every token's bytes, computed once per model for the JSON constraint.
fn vocab_of(model: &Model) -> Vocab {
    let tok = model.tokenizer();
    let n = u32::try_from(tok.vocab_size().max(model.info().vocab_size)).unwrap_or(u32::MAX);
    let tokens = (0..n).map(|id| if tok.is_special(id) { None } else { Some(tok.token_bytes(id)) }).collect();
    Vocab::new(tokens, tok.eos_token_ids().to_vec())
}

/// Lets the daemon's JSON matcher drive the engine's sampler.
struct Adapter(crate::format::JsonConstraint);

impl TokenConstraint for Adapter {
    fn allowed(&mut self) -> Option<Vec<u32>> {
        Some(self.0.allowed())
    }
    fn advance(&mut self, token: u32) {
        self.0.advance(token);
    }
    fn is_complete(&self) -> bool {
        self.0.is_complete()
    }
}
