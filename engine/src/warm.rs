//! A short generation run while a model loads on a GPU, so that the first requests do not pay
//! for kernels MLX prepares at their first use in a process: some of its CUDA kernels are
//! compiled at run time (NVRTC) and cached on disk, and each module is loaded once per process.
//! Measured on an H100 with a 1B model: with an empty disk cache, eight first requests to a
//! fresh daemon waited 5.8 s for their first tokens; with the cache filled, the first 8-row step
//! took 68 ms where later ones took 2.5 ms, and 37 ms after this warm-up (what the rest is was
//! not found; BENCHMARKS.md). The run takes every path a request can: a lone sequence, and a
//! batch with prompts of different lengths, greedy and sampled rows.
use crate::decode::TokenStream;
use crate::error::Result;
use crate::mlx::{self, Device};
use crate::network::Network;
use crate::sample::{Sampler, SamplingParams};

/// Tokens each warm-up sequence generates: enough to reach the steady decode step.
const TOKENS: usize = 3;

/// Runs the warm-up where it helps (a GPU); a failure is logged, not returned, since the
/// requests themselves will report anything that is really wrong.
pub(crate) fn warm_generation(net: &Network) {
    if Device::default_device() != Device::Gpu {
        return;
    }
    let started = std::time::Instant::now();
    match run(net) {
        Ok(()) => tracing::debug!(elapsed = ?started.elapsed(), "generation paths warmed"),
        Err(e) => tracing::warn!(error = %e, "warming the generation paths failed"),
    }
    mlx::memory::clear_cache();
}

/// The warm-up run itself, on any device ([`Network::warm_up`]).
pub(crate) fn run(net: &Network) -> Result<()> {
    let greedy = || Sampler::new(SamplingParams::default());
    let sampled = || Sampler::new(SamplingParams { temperature: 0.7, top_p: 0.9, seed: Some(0), ..SamplingParams::default() });
    let mut alone = [TokenStream::new(net, vec![1, 2, 3], greedy()?, None)?];
    generate(&mut alone)?;
    let mut batch = [
        TokenStream::new(net, vec![1, 2, 3, 4, 5], greedy()?, None)?,
        TokenStream::new(net, vec![1, 2, 3], greedy()?, None)?,
        TokenStream::new(net, vec![1, 2, 3, 4], sampled()?, None)?,
    ];
    generate(&mut batch)?;
    // As a finished sequence does, each takes its KV back out of the shared batch.
    for s in &mut batch {
        s.leave_batch(&mut net.batch())?;
    }
    Ok(())
}

/// Steps the streams together until each has made [`TOKENS`] tokens (a prompt of a few tokens
/// takes two steps, so a bound of a dozen is never reached).
fn generate(streams: &mut [TokenStream<'_>]) -> Result<()> {
    for _ in 0..12 {
        let mut active: Vec<(&mut TokenStream<'_>, usize)> = streams
            .iter_mut()
            .filter(|s| s.produced() < TOKENS)
            .map(|s| {
                let left = TOKENS - s.produced();
                (s, left)
            })
            .collect();
        if active.is_empty() {
            break;
        }
        crate::batch::step_streams(&mut active, crate::PREFILL_STEP)?;
    }
    Ok(())
}
