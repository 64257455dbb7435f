//! Continuous batching and the prefix cache: how many sequences of one model step together,
//! how many prompt tokens a step may process, and the prefix cache's byte budget per model.

use anyhow::{anyhow, bail};

use super::file::FileConfig;
use super::{layer, parse, scalar, Flags};
use crate::env;

/// Ollama's automatic choice on a machine with room: 4 parallel sequences per model. We batch
/// them in one forward pass, so more is cheap; 8 keeps per-token latency low on a laptop GPU.
pub const DEFAULT_NUM_PARALLEL: usize = 8;

/// Prompt tokens one batched step may process. Smaller keeps the other sequences' tokens
/// flowing while a long prompt arrives; larger prefills faster. 512 is mlx-lm server's
/// prefill batch order of magnitude.
pub const DEFAULT_PREFILL_CHUNK: usize = 512;

/// A smaller prefix cache holds no useful prefix (and a bare "1" meant to switch it on).
const MIN_PREFIX_CACHE: u64 = 1 << 20;

/// The prefix cache of one model holds at most this, or an eighth of the memory budget.
const DEFAULT_PREFIX_CAP: u64 = 1 << 30;

/// Validated batching settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Most sequences of one model decoding together; more wait their turn.
    pub num_parallel: usize,
    /// Prompt tokens per step.
    pub prefill_chunk: usize,
    /// Prefix-cache bytes per model; 0 turns it off.
    pub prefix_cache_bytes: u64,
}

/// Reads the batching settings from flags, the environment and the file (in that order).
pub fn from_layers(flags: &Flags, file: &FileConfig, memory_budget: u64) -> anyhow::Result<Batching> {
    let num_parallel = match layer(&flags.num_parallel, env::NUM_PARALLEL, "num_parallel", scalar(&file.num_parallel)) {
        Some((v, from)) => match parse::count(&v).map_err(|e| anyhow!("{from}: {e}"))? {
            0 => bail!("{from}: at least 1 sequence per model is needed"),
            n => n,
        },
        None => DEFAULT_NUM_PARALLEL,
    };
    let prefix_cache_bytes = match layer(&flags.prefix_cache, env::PREFIX_CACHE, "prefix_cache", scalar(&file.prefix_cache)) {
        Some((v, from)) => match v.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "no" => 0,
            "on" | "true" | "yes" => default_prefix_bytes(memory_budget),
            _ => match parse::bytes(&v, memory_budget).map_err(|e| anyhow!("{from}: {e} (or \"off\")"))? {
                // "1" read as one byte silently turned the cache into nothing.
                n @ 1..MIN_PREFIX_CACHE => {
                    bail!("{from}: {v:?} is {n} bytes, too small to hold a prefix; give a size such as \"512MiB\", or on/off")
                }
                n => n,
            },
        },
        None => default_prefix_bytes(memory_budget),
    };
    Ok(Batching { num_parallel, prefill_chunk: DEFAULT_PREFILL_CHUNK, prefix_cache_bytes })
}

fn default_prefix_bytes(memory_budget: u64) -> u64 {
    (memory_budget / 8).min(DEFAULT_PREFIX_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batching(flags: Flags) -> anyhow::Result<Batching> {
        from_layers(&flags, &FileConfig::default(), 8 << 30)
    }

    fn prefix(v: &str) -> anyhow::Result<u64> {
        batching(Flags { prefix_cache: Some(v.into()), ..Flags::default() }).map(|b| b.prefix_cache_bytes)
    }

    #[test]
    fn prefix_cache_sizes_and_switches() {
        assert_eq!(batching(Flags::default()).unwrap().prefix_cache_bytes, 1 << 30);
        assert_eq!(prefix("on").unwrap(), 1 << 30);
        assert_eq!(prefix("off").unwrap(), 0);
        assert_eq!(prefix("0").unwrap(), 0);
        assert_eq!(prefix("512MiB").unwrap(), 512 << 20);
        for tiny in ["1", "4096", "1KiB"] {
            let e = prefix(tiny).unwrap_err().to_string();
            assert!(e.contains("--prefix-cache") && e.contains("too small"), "{e}");
        }
    }
}
