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

/// MLX's buffer cache is returned every this many tokens of a sequence, as mlx-lm does.
const CLEAR_CACHE_EVERY: usize = 256;

/// Runs one batched step over `streams` (each with how many more tokens it wants) and returns
/// the token each one read this step (`None` while a prompt is being processed, or for a
/// sequence with nothing to do). All streams must belong to one network.
pub fn step_streams(streams: &mut [(&mut TokenStream<'_>, usize)], prefill_budget: usize) -> Result<Vec<Option<u32>>> {
    let Some(net) = streams.first().map(|(s, _)| s.network()) else { return Ok(Vec::new()) };
    if streams.iter().any(|(s, _)| !std::ptr::eq(s.network(), net)) {
        return Err(EngineError::InvalidOption { name: "batch", message: "sequences of different models cannot share a step".into() });
    }
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
    let fed: Vec<usize> = (0..streams.len()).filter(|&i| feeds[i].is_some()).collect();
    if !fed.is_empty() {
        let inputs: Vec<&mlx::Array> = fed.iter().filter_map(|&i| feeds[i].as_ref().map(|f| &f.ids)).collect();
        let mut caches: Vec<&mut [crate::cache::LayerCache]> = Vec::with_capacity(fed.len());
        for (i, (stream, _)) in streams.iter_mut().enumerate() {
            if feeds[i].is_some() {
                caches.push(&mut stream.cache[..]);
            }
        }
        let logits = net.forward_last(&inputs, &mut caches)?;
        for (row, &i) in fed.iter().enumerate() {
            if feeds[i].as_ref().is_some_and(|f| f.samples) {
                streams[i].0.sample(&logits.slice_axis(0, row, row + 1)?)?;
            }
        }
        let pending: Vec<&mlx::Array> = fed.iter().flat_map(|&i| streams[i].0.pending_arrays()).collect();
        mlx::async_eval(&pending)?;
    }
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
    for (g, t) in active.into_iter().zip(tokens) {
        if let Some(t) = t {
            g.accept(t);
        }
    }
    Ok(())
}
