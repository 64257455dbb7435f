//! Continuous batching and the prefix cache: batched output equals each sequence run alone,
//! token for token, with mixed prompt lengths, options, limits and join times; a prefix-cache
//! hit (in memory, and saved to disk and read back) gives exactly a cold run's tokens.
mod common;
use common::*;
use ollmlx_engine::{step_generations, Event, GenerateParams, Generation, LoadOptions, Model, PrefixCache, SamplingParams};

/// Deterministic pseudo-random prompt ids of `len` tokens below `vocab`.
fn prompt(seed: u32, len: usize, vocab: usize) -> Vec<u32> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % (vocab as u32 - 2) + 1
        })
        .collect()
}

/// The sequences of the batch test: different prompt lengths (one longer than a prefill
/// chunk), limits and sampling options (greedy, seeded temperature, a repeat penalty that
/// takes the unpipelined path), stop strings and ignore_eos.
fn cases(vocab: usize) -> Vec<GenerateParams> {
    let greedy = SamplingParams { temperature: 0.0, ..Default::default() };
    let mk = |seed: u32, len: usize, max: usize, sampling: SamplingParams| GenerateParams {
        prompt: prompt(seed, len, vocab),
        max_tokens: Some(max),
        sampling,
        ignore_eos: true,
        prefill_chunk: Some(32),
        ..Default::default()
    };
    vec![
        mk(1, 5, 24, greedy.clone()),
        mk(2, 77, 40, greedy.clone()),
        mk(3, 1, 12, greedy.clone()),
        mk(4, 19, 30, SamplingParams { temperature: 0.8, top_k: 20, seed: Some(7), ..Default::default() }),
        mk(5, 33, 28, SamplingParams { temperature: 0.0, repeat_penalty: 1.3, repeat_last_n: 16, ..Default::default() }),
        GenerateParams { stop: vec!["e".into()], ignore_eos: false, ..mk(6, 9, 30, greedy.clone()) },
    ]
}

fn drain(g: &mut Generation<'_>, out: &mut Vec<u32>, done: &mut bool) {
    while let Some(e) = g.next_event() {
        match e {
            Event::Token { id, .. } => out.push(id),
            Event::Text(_) => {}
            Event::Done(_) => *done = true,
        }
    }
}

fn alone(model: &Model, params: GenerateParams) -> Vec<u32> {
    let mut g = Generation::new(model, params).unwrap();
    let mut out = Vec::new();
    while let Some(e) = g.step().unwrap() {
        if let Event::Token { id, .. } = e {
            out.push(id);
        }
    }
    out
}

/// Runs every case in one batch. Staggered, case i joins after `i` steps, so sequences join
/// while others decode and leave when done; otherwise all start together, as requests that
/// arrive at once do (their prompts end in the same step and join the shared rows together).
fn batched(model: &Model, params: Vec<GenerateParams>, staggered: bool) -> Vec<Vec<u32>> {
    let n = params.len();
    let mut pending: Vec<Option<GenerateParams>> = params.into_iter().map(Some).collect();
    let mut gens: Vec<Option<Generation<'_>>> = (0..n).map(|_| None).collect();
    let mut outs = vec![Vec::new(); n];
    let mut done = vec![false; n];
    for step in 0..10_000 {
        let starting = if staggered { step..(step + 1).min(n) } else if step == 0 { 0..n } else { 0..0 };
        for i in starting {
            gens[i] = Some(Generation::new(model, pending[i].take().unwrap()).unwrap());
        }
        let mut live: Vec<&mut Generation<'_>> = gens.iter_mut().flatten().collect();
        step_generations(&mut live, 32).unwrap();
        for (i, g) in gens.iter_mut().enumerate() {
            if let Some(g) = g {
                drain(g, &mut outs[i], &mut done[i]);
            }
        }
        if step >= n && done.iter().all(|d| *d) {
            return outs;
        }
    }
    panic!("the batch did not finish");
}

#[test]
fn batched_tokens_equal_each_sequence_alone() {
    for name in ["tiny-llama-f32", "tiny-qwen3-f32", "tiny-gemma3_text-f32", "tiny-phi3-f32", "tiny-llama-q4g64"] {
        let model = Model::load(&model_dir(name), &LoadOptions::default()).unwrap();
        let vocab = model.info().vocab_size;
        let want: Vec<Vec<u32>> = cases(vocab).into_iter().map(|p| alone(&model, p)).collect();
        for staggered in [true, false] {
            let got = batched(&model, cases(vocab), staggered);
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!(!w.is_empty(), "{name} case {i}: no tokens");
                assert_eq!(g, w, "{name} case {i} (staggered: {staggered}): batched tokens differ from the sequence alone");
            }
        }
    }
}

/// The load-time warm-up (run on a GPU; called here directly) takes every generation path and
/// leaves nothing behind: no rows in the shared batch, and the same tokens afterwards.
#[test]
fn the_warm_up_leaves_the_model_as_it_found_it() {
    for name in ["tiny-llama-f32", "tiny-llama-q4g64"] {
        let model = Model::load(&model_dir(name), &LoadOptions::default()).unwrap();
        let vocab = model.info().vocab_size;
        let before: Vec<Vec<u32>> = cases(vocab).into_iter().map(|p| alone(&model, p)).collect();
        model.network().warm_up().unwrap();
        assert_eq!(model.network().decode_batch_rows(), 0, "{name}: the warm-up left rows in the shared batch");
        let after: Vec<Vec<u32>> = cases(vocab).into_iter().map(|p| alone(&model, p)).collect();
        assert_eq!(after, before, "{name}: tokens changed after the warm-up");
        assert_eq!(batched(&model, cases(vocab), false), before, "{name}: batched tokens changed after the warm-up");
    }
}

/// Sequences in the shared decode batch that sit steps out (their client is slow) or are
/// dropped mid-decode (their client left) do not disturb the others, and a sequence that sat
/// out still gets exactly its tokens alone. The shared rows are really used, and freed.
#[test]
fn rows_that_sit_out_or_are_dropped_leave_the_others_exact() {
    for name in ["tiny-llama-f32", "tiny-qwen3-f32"] {
        let model = Model::load(&model_dir(name), &LoadOptions::default()).unwrap();
        let vocab = model.info().vocab_size;
        let greedy = |seed: u32, len: usize| GenerateParams {
            prompt: prompt(seed, len, vocab),
            max_tokens: Some(30),
            sampling: SamplingParams { temperature: 0.0, ..Default::default() },
            ignore_eos: true,
            ..Default::default()
        };
        let shapes = [(11, 7), (12, 40), (13, 3), (14, 21)];
        let want: Vec<Vec<u32>> = shapes.iter().map(|&(s, n)| alone(&model, greedy(s, n))).collect();
        let mut gens: Vec<Option<Generation<'_>>> = shapes.iter().map(|&(s, n)| Some(Generation::new(&model, greedy(s, n)).unwrap())).collect();
        let mut outs = vec![Vec::new(); shapes.len()];
        let mut done = vec![false; shapes.len()];
        let mut most_rows = 0;
        for step in 0..1_000 {
            if step == 8 {
                gens[1] = None; // its client left mid-decode
                done[1] = true;
            }
            let mut live: Vec<&mut Generation<'_>> = gens
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| !(*i == 0 && step % 3 == 1)) // sequence 0 sits every third step out
                .filter_map(|(_, g)| g.as_mut())
                .collect();
            step_generations(&mut live, 64).unwrap();
            most_rows = most_rows.max(model.network().decode_batch_rows());
            for (i, g) in gens.iter_mut().enumerate() {
                if let Some(g) = g {
                    drain(g, &mut outs[i], &mut done[i]);
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
        }
        assert!(most_rows >= 3, "{name}: the decoding sequences never shared the batch (at most {most_rows} rows)");
        for i in [0, 2, 3] {
            assert_eq!(outs[i], want[i], "{name} sequence {i}: tokens differ from the sequence alone");
        }
        assert_eq!(&outs[1][..], &want[1][..outs[1].len()], "{name}: the dropped sequence's tokens before it left");
        assert_eq!(model.network().decode_batch_rows(), 0, "{name}: finished sequences left rows behind");
    }
}

/// Generates `max` greedy tokens from `prompt`, optionally through `prefix`, and returns them
/// with the prompt tokens the prefix cache let it skip.
fn greedy(model: &Model, prompt: Vec<u32>, max: usize, prefix: Option<&mut PrefixCache>) -> (Vec<u32>, usize) {
    let params = GenerateParams { prompt, max_tokens: Some(max), ignore_eos: true, ..Default::default() };
    let mut g = Generation::new(model, params).unwrap();
    let reused = prefix.map_or(0, |p| g.reuse_prefix(p));
    let mut out = Vec::new();
    while let Some(e) = g.step().unwrap() {
        if let Event::Token { id, .. } = e {
            out.push(id);
        }
    }
    (out, reused)
}

#[test]
fn a_prefix_cache_hit_gives_a_cold_runs_tokens_in_memory_and_after_a_reload() {
    for name in ["tiny-llama-f32", "tiny-qwen2-f32", "tiny-llama-q4g64"] {
        let dir = model_dir(name);
        let model = Model::load(&dir, &LoadOptions::default()).unwrap();
        let vocab = model.info().vocab_size;
        // Turn one, kept in the cache.
        let first = prompt(11, 150, vocab);
        let params = GenerateParams { prompt: first.clone(), max_tokens: Some(20), ignore_eos: true, ..Default::default() };
        let mut g = Generation::new(&model, params).unwrap();
        let mut answer = Vec::new();
        while let Some(e) = g.step().unwrap() {
            if let Event::Token { id, .. } = e {
                answer.push(id);
            }
        }
        let mut cache = PrefixCache::new(1 << 30);
        cache.insert(&g);
        drop(g);
        assert_eq!(cache.len(), 1);
        // Turn two: turn one, its answer, then a new message.
        let second: Vec<u32> = first.iter().chain(&answer).copied().chain(prompt(12, 40, vocab)).collect();
        let (cold, _) = greedy(&model, second.clone(), 24, None);
        let (warm, reused) = greedy(&model, second.clone(), 24, Some(&mut cache));
        assert!(reused >= first.len(), "{name}: only {reused} of {} shared tokens reused", first.len() + answer.len());
        assert_eq!(warm, cold, "{name}: a prefix-cache hit changed the tokens");
        // Saved, read back by a fresh model (as after an unload or a restart), hit again.
        let saved = tempfile::tempdir().unwrap();
        cache.save(saved.path()).unwrap();
        drop(cache);
        drop(model);
        let model = Model::load(&dir, &LoadOptions::default()).unwrap();
        let mut cache = PrefixCache::load(saved.path(), 1 << 30);
        assert!(!cache.is_empty(), "{name}: nothing read back");
        let (reloaded, reused) = greedy(&model, second, 24, Some(&mut cache));
        assert!(reused >= first.len(), "{name}: {reused} tokens reused after reload");
        assert_eq!(reloaded, cold, "{name}: a prefix read back from disk changed the tokens");
    }
}

#[test]
fn the_prefix_cache_keeps_to_its_budget_and_skips_sliding_windows() {
    let model = Model::load(&model_dir("tiny-llama-f32"), &LoadOptions::default()).unwrap();
    let vocab = model.info().vocab_size;
    let mut cache = PrefixCache::new(u64::MAX);
    let run = |seed: u32, cache: &mut PrefixCache| {
        let params = GenerateParams { prompt: prompt(seed, 40, vocab), max_tokens: Some(4), ignore_eos: true, ..Default::default() };
        let mut g = Generation::new(&model, params).unwrap();
        while g.step().unwrap().is_some() {}
        cache.insert(&g);
    };
    run(1, &mut cache);
    let one = cache.bytes();
    assert!(one > 0);
    let mut small = PrefixCache::new(one * 2);
    for seed in 0..5 {
        run(seed + 10, &mut small);
    }
    assert!(small.bytes() <= one * 2, "{} bytes over a budget of {}", small.bytes(), one * 2);
    assert_eq!(small.len(), 2, "the oldest entries go first");
    // gemma3_text has sliding-window layers: its caches drop positions, so none is kept.
    let gemma = Model::load(&model_dir("tiny-gemma3_text-f32"), &LoadOptions::default()).unwrap();
    let params = GenerateParams { prompt: prompt(3, 40, gemma.info().vocab_size), max_tokens: Some(4), ignore_eos: true, ..Default::default() };
    let mut g = Generation::new(&gemma, params).unwrap();
    while g.step().unwrap().is_some() {}
    let mut c = PrefixCache::new(u64::MAX);
    c.insert(&g);
    assert!(c.is_empty());
}
