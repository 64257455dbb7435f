//! Random-weight llama folders of any size, written by the test: tiny-llama-f32's tokenizer and
//! config with a wider, deeper network, so that loading takes measurable time.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

/// Shape of the generated network.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
}

impl Shape {
    /// Bytes of f32 weights (embeddings tied to the output).
    pub fn bytes(&self, vocab: usize) -> u64 {
        self.tensors(vocab).iter().map(|(_, s)| s.iter().product::<usize>() as u64 * 4).sum()
    }

    fn tensors(&self, vocab: usize) -> Vec<(String, Vec<usize>)> {
        let (h, i) = (self.hidden, self.intermediate);
        let kv = h / 2; // head_dim 32, half as many kv heads as heads
        let mut out = vec![("model.embed_tokens.weight".to_string(), vec![vocab, h])];
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            out.push((format!("{p}.input_layernorm.weight"), vec![h]));
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
            out.push((format!("{p}.self_attn.q_proj.weight"), vec![h, h]));
            out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
            out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
            out.push((format!("{p}.self_attn.o_proj.weight"), vec![h, h]));
            out.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h]));
            out.push((format!("{p}.mlp.up_proj.weight"), vec![i, h]));
            out.push((format!("{p}.mlp.down_proj.weight"), vec![h, i]));
        }
        out.push(("model.norm.weight".to_string(), vec![h]));
        out
    }
}

/// Writes a model folder at `dir` from the `tiny-llama-f32` fixture's tokenizer and config.
pub fn write_llama(template: &Path, dir: &Path, shape: Shape, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
        if template.join(f).exists() {
            std::fs::copy(template.join(f), dir.join(f)).unwrap();
        }
    }
    let mut config: Value = serde_json::from_slice(&std::fs::read(template.join("config.json")).unwrap()).unwrap();
    let heads = shape.hidden / 32;
    config["hidden_size"] = json!(shape.hidden);
    config["num_hidden_layers"] = json!(shape.layers);
    config["intermediate_size"] = json!(shape.intermediate);
    config["num_attention_heads"] = json!(heads);
    config["num_key_value_heads"] = json!(heads / 2);
    config["head_dim"] = json!(32);
    let vocab = usize::try_from(config["vocab_size"].as_u64().unwrap()).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    write_safetensors(&dir.join("model.safetensors"), &shape.tensors(vocab), seed);
}

/// One safetensors file: norms are 1, other weights uniform in ±0.05 from a 1 MiB random block
/// reused across tensors (the values only need to be finite and varied, and writing stays fast).
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>)], seed: u64) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "mlx"}));
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let n = shape.iter().product::<usize>() * 4;
        header.insert(name.clone(), json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}));
        offset += n;
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let block = random_block(seed);
    let one: Vec<u8> = std::iter::repeat_n(1.0f32.to_le_bytes(), 4096).flatten().collect();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(&(head.len() as u64).to_le_bytes()).unwrap();
    out.write_all(&head).unwrap();
    for (name, shape) in tensors {
        let mut left = shape.iter().product::<usize>() * 4;
        let src = if name.ends_with("norm.weight") { &one } else { &block };
        while left > 0 {
            let n = left.min(src.len());
            out.write_all(&src[..n]).unwrap();
            left -= n;
        }
    }
    out.flush().unwrap();
}

fn random_block(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(1 << 20);
    for _ in 0..(1 << 18) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        #[allow(clippy::cast_precision_loss)]
        let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
