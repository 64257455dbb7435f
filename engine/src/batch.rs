//! Continuous batching: every sequence that has work steps together in ONE forward pass of
//! the network (the weights are read once for the whole batch), each with its own cache,
//! sampler, constraint and length. Sequences join and leave between steps: a step is built
//! from whatever the caller passes in.
//!
//! Prompts are processed in chunks that share a per-step token budget, so a long prompt that
//! arrives does not stall the sequences already decoding for its whole prefill.
use crate::decode::TokenStream;
use crate::error::{EngineError, Result};
use crate::generate::Generation;
use crate::mlx;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// MLX's buffer cache is returned every this many tokens of a sequence, as mlx-lm does.
const CLEAR_CACHE_EVERY: usize = 256;

/// Decoding sequences share the network's batched KV buffer from this many on; below it,
/// one sequence decodes over its own cache exactly as it would alone.
const MIN_SHARED_ROWS: usize = 2;

/// Where the time of batched steps went, summed over the process (benchmarks read it to tell
/// host-side cost from device time).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    /// Steps that ran a forward pass.
    pub steps: u64,
    /// Building the step's graph: feeds, batch joins and leaves, the forward pass, sampling.
    pub build: Duration,
    /// `async_eval`: MLX's host side of launching the step's work.
    pub dispatch: Duration,
    /// Reading the tokens: waiting for the device, then the per-sequence bookkeeping.
    pub wait: Duration,
}

static STEPS: AtomicU64 = AtomicU64::new(0);
static BUILD_NS: AtomicU64 = AtomicU64::new(0);
static DISPATCH_NS: AtomicU64 = AtomicU64::new(0);
static WAIT_NS: AtomicU64 = AtomicU64::new(0);

/// The step times summed so far.
pub fn step_times() -> StepTimes {
    let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
    StepTimes { steps: STEPS.load(Ordering::Relaxed), build: d(&BUILD_NS), dispatch: d(&DISPATCH_NS), wait: d(&WAIT_NS) }
}

fn add(counter: &AtomicU64, from: Instant, to: Instant) {
    counter.fetch_add(u64::try_from((to - from).as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Runs one batched step over `streams` (each with how many more tokens it wants) and returns
/// the token each one read this step (`None` while a prompt is being processed, or for a
/// sequence with nothing to do). All streams must belong to one network.
///
/// Sequences that decode one token this step (at least [`MIN_SHARED_ROWS`] of them, on a
/// network that allows it) run as rows of the network's shared decode batch, in one attention
/// call per layer; prompt chunks run packed after them over their own caches. A sequence joins
/// the shared batch when it starts decoding and leaves it (with a cache of its own again) in
/// the first step it does not decode.
pub fn step_streams(streams: &mut [(&mut TokenStream<'_>, usize)], prefill_budget: usize) -> Result<Vec<Option<u32>>> {
    let Some(net) = streams.first().map(|(s, _)| s.network()) else { return Ok(Vec::new()) };
    let started = Instant::now();
    let mut launched = None;
    if streams.iter().any(|(s, _)| !std::ptr::eq(s.network(), net)) {
        return Err(EngineError::InvalidOption { name: "batch", message: "sequences of different models cannot share a step".into() });
    }
    // What this step runs, for the step trace: shared decode rows, packed sequences, their tokens.
    let mut shape = (0, 0, 0);
    let mut budget = prefill_budget;
    let mut feeds = Vec::with_capacity(streams.len());
    for (stream, wanted) in streams.iter_mut() {
        let feed = stream.feed(budget, *wanted)?;
        if let Some(f) = &feed {
            if !f.samples || f.ids.size() > 1 {
                budget = budget.saturating_sub(f.ids.size());
            }
        }
        feeds.push(feed);
    }
    let mut decoding: Vec<bool> = feeds.iter().map(|f| f.as_ref().is_some_and(|f| f.decodes)).collect();
    if !net.batches_rows() || decoding.iter().filter(|&&d| d).count() < MIN_SHARED_ROWS {
        decoding.fill(false);
    }
    let mut batch = net.batch();
    let mut joining = Vec::new();
    for (i, (stream, _)) in streams.iter_mut().enumerate() {
        if decoding[i] {
            joining.extend(stream.to_batch());
        } else {
            stream.leave_batch(&mut batch)?;
        }
    }
    batch.join(joining)?;
    let fed: Vec<usize> = (0..streams.len()).filter(|&i| feeds[i].is_some()).collect();
    if !fed.is_empty() {
        // The shared rows, in row order: each row's token, or a stand-in for a sequence that
        // sits this step out (its row is carried along and its output ignored).
        let row_of: Vec<Option<usize>> = (0..streams.len())
            .map(|i| decoding[i].then(|| batch.ids().iter().position(|&id| id == streams[i].0.row())).flatten())
            .collect();
        let n_rows = if decoding.contains(&true) { batch.ids().len() } else { 0 };
        let mut present = vec![false; n_rows];
        let mut row_ids: Vec<Option<&mlx::Array>> = vec![None; n_rows];
        for (i, r) in row_of.iter().enumerate() {
            if let (Some(r), Some(f)) = (r, &feeds[i]) {
                present[*r] = true;
                row_ids[*r] = Some(&f.ids);
            }
        }
        let mut step = None;
        if n_rows > 0 {
            let stand_in = mlx::zeros(&[1], row_ids.iter().flatten().next().map_or(mlx::Dtype::Uint32, |a| a.dtype()))?;
            let ids: Vec<&mlx::Array> = row_ids.iter().map(|a| a.unwrap_or(&stand_in)).collect();
            step = Some(batch.begin_step(mlx::concatenate(&ids, 0)?)?);
        }
        let packed: Vec<usize> = fed.iter().copied().filter(|&i| !decoding[i]).collect();
        shape = (n_rows, packed.len(), packed.iter().filter_map(|&i| feeds[i].as_ref()).map(|f| f.ids.size()).sum::<usize>());
        // Each fed stream's row of the logits: the shared rows first, then the packed ones.
        let mut logits_row = row_of;
        for (k, &i) in packed.iter().enumerate() {
            logits_row[i] = Some(n_rows + k);
        }
        let inputs: Vec<&mlx::Array> = packed.iter().filter_map(|&i| feeds[i].as_ref().map(|f| &f.ids)).collect();
        let mut caches: Vec<&mut [crate::cache::LayerCache]> = Vec::with_capacity(packed.len());
        for (i, (stream, _)) in streams.iter_mut().enumerate() {
            if feeds[i].is_some() && !decoding[i] {
                caches.push(&mut stream.cache[..]);
            }
        }
        let logits = net.forward_last(step.as_mut(), &inputs, &mut caches)?;
        drop(step);
        batch.commit(&present);
        let sampling: Vec<(usize, usize)> = fed
            .iter()
            .filter_map(|&i| logits_row[i].filter(|_| feeds[i].as_ref().is_some_and(|f| f.samples)).map(|row| (i, row)))
            .collect();
        let (greedy, mut one_by_one): (Vec<_>, Vec<_>) = sampling.into_iter().partition(|&(i, _)| streams[i].0.is_greedy());
        if greedy.len() < MIN_SHARED_ROWS {
            // A lone greedy row samples as a sequence alone does.
            one_by_one.extend(greedy);
        } else {
            // One argmax for every greedy row: the same tokens, in a handful of operations
            // instead of a few per row (a batched step is host-bound on a small model).
            let rows: Vec<u32> = greedy.iter().map(|&(_, row)| row as u32).collect();
            let consecutive = rows.windows(2).all(|w| w[1] == w[0] + 1);
            let block = if consecutive {
                logits.slice_axis(0, rows[0] as usize, rows[0] as usize + rows.len())?
            } else {
                logits.take(&mlx::Array::from_slice(&rows, &[rows.len()])?, 0)?
            };
            let tokens = crate::sample::Sampler::greedy_rows(&block)?;
            for (k, &(i, _)) in greedy.iter().enumerate() {
                streams[i].0.set_sampled(tokens.slice_axis(0, k, k + 1)?);
            }
        }
        for (i, row) in one_by_one {
            streams[i].0.sample(&logits.slice_axis(0, row, row + 1)?)?;
        }
        let pending: Vec<&mlx::Array> = fed.iter().flat_map(|&i| streams[i].0.pending_arrays()).collect();
        let built = Instant::now();
        mlx::async_eval(&pending)?;
        let now = Instant::now();
        add(&BUILD_NS, started, built);
        add(&DISPATCH_NS, built, now);
        STEPS.fetch_add(1, Ordering::Relaxed);
        launched = Some((built, now));
    }
    drop(batch);
    let mut tokens = Vec::with_capacity(streams.len());
    let mut clear = false;
    for (stream, _) in streams.iter_mut() {
        let t = stream.finish_step()?;
        clear |= t.is_some() && stream.produced() % CLEAR_CACHE_EVERY == 0;
        tokens.push(t);
    }
    if clear || feeds.iter().flatten().any(|f| !f.samples) {
        mlx::memory::clear_cache();
    }
    if let Some((built, dispatched)) = launched {
        let now = Instant::now();
        add(&WAIT_NS, dispatched, now);
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
        let (rows, packed, packed_tokens) = shape;
        tracing::debug!(
            target: "ollmlx_engine::step",
            rows,
            packed,
            packed_tokens,
            build_ms = ms(started, built),
            dispatch_ms = ms(built, dispatched),
            wait_ms = ms(dispatched, now),
            "step"
        );
    }
    Ok(tokens)
}

/// Advances every generation by one batched step; each queues its events (see
/// [`Generation::next_event`]). Generations that are finished or still hold queued events
/// take no part. All must belong to one model.
pub fn step_generations(gens: &mut [&mut Generation<'_>], prefill_budget: usize) -> Result<()> {
    let mut active: Vec<&mut Generation<'_>> = Vec::with_capacity(gens.len());
    for g in gens.iter_mut() {
        if g.begin_step() {
            active.push(g);
        }
    }
    if active.is_empty() {
        return Ok(());
    }
    let mut streams: Vec<(&mut TokenStream<'_>, usize)> = Vec::with_capacity(active.len());
    for g in active.iter_mut() {
        let wanted = g.wanted();
        streams.push((g.stream_mut(), wanted));
    }
    let tokens = step_streams(&mut streams, prefill_budget)?;
    drop(streams);
    for (g, t) in active.iter_mut().zip(tokens) {
        if let Some(t) = t {
            g.accept(t);
        }
    }
    // A sequence that just finished (an EOS or a stop string, read while its next token was
    // already computing) takes its KV out of the shared batch now, for the prefix cache.
    for g in active.iter_mut().filter(|g| g.is_finished()) {
        let net = g.stream_mut().network();
        g.stream_mut().leave_batch(&mut net.batch())?;
    }
    Ok(())
}
