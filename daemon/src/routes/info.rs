//! What tags, ps and show say about a model, derived from its config.json and tensors
//! (no load needed): details, `model_info` and capabilities.

use ollmlx_api::ollama::ModelDetails;
use ollmlx_store::ModelDetails as StoreDetails;
use serde_json::{Map, Value};

/// Ollama-style details.
pub fn details(d: &StoreDetails) -> ModelDetails {
    let family = d.config.get("model_type").and_then(Value::as_str).unwrap_or("").to_string();
    ModelDetails {
        parent_model: String::new(),
        format: "safetensors".into(),
        families: Some(vec![family.clone()]),
        family,
        parameter_size: parameter_size(parameter_count(d)),
        quantization_level: quantization_level(&d.config),
    }
}

/// Parameters counted from tensor shapes; packed 4-bit weights (U32) hold 32/bits values each.
pub fn parameter_count(d: &StoreDetails) -> u64 {
    let bits = d.config.pointer("/quantization/bits").and_then(Value::as_u64).filter(|b| *b > 0).unwrap_or(32);
    d.tensors
        .iter()
        .filter(|t| !t.name.ends_with(".scales") && !t.name.ends_with(".biases"))
        .map(|t| {
            let n: u64 = t.shape.iter().product();
            if t.dtype == "U32" { n * (32 / bits) } else { n }
        })
        .sum()
}

/// `"135M"`, `"1.2B"`.
pub fn parameter_size(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.1}B", f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.0}M", f / 1e6)
    } else {
        format!("{:.0}K", f / 1e3)
    }
}

/// `"Q4"` for quantized models, else the weight dtype (`"F32"`, `"BF16"`).
pub fn quantization_level(config: &Value) -> String {
    if let Some(bits) = config.pointer("/quantization/bits").and_then(Value::as_u64) {
        return format!("Q{bits}");
    }
    match config.get("torch_dtype").and_then(Value::as_str).unwrap_or("float32") {
        "bfloat16" => "BF16".into(),
        "float16" => "F16".into(),
        _ => "F32".into(),
    }
}

/// `model_info`: `general.*` and `<arch>.*` keys, as Ollama builds them for safetensors models.
pub fn model_info(d: &StoreDetails, name: &str) -> Map<String, Value> {
    let c = &d.config;
    let arch = c.get("model_type").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let mut m = Map::new();
    m.insert("general.architecture".into(), Value::from(arch.clone()));
    m.insert("general.basename".into(), Value::from(name));
    m.insert("general.parameter_count".into(), Value::from(parameter_count(d)));
    let keys = [
        ("context_length", "max_position_embeddings"),
        ("embedding_length", "hidden_size"),
        ("block_count", "num_hidden_layers"),
        ("feed_forward_length", "intermediate_size"),
        ("attention.head_count", "num_attention_heads"),
        ("attention.head_count_kv", "num_key_value_heads"),
        ("attention.key_length", "head_dim"),
        ("attention.layer_norm_rms_epsilon", "rms_norm_eps"),
        ("rope.freq_base", "rope_theta"),
        ("vocab_size", "vocab_size"),
    ];
    for (ours, hf) in keys {
        if let Some(v) = c.get(hf).filter(|v| v.is_number()) {
            m.insert(format!("{arch}.{ours}"), v.clone());
        }
    }
    if !m.contains_key(&format!("{arch}.attention.head_count_kv")) {
        if let Some(h) = c.get("num_attention_heads") {
            m.insert(format!("{arch}.attention.head_count_kv"), h.clone());
        }
    }
    m
}

/// `completion` always; `tools` and `thinking` when the chat template supports them.
pub fn capabilities(template: Option<&str>) -> Vec<String> {
    let mut caps = vec!["completion".to_string()];
    if let Some(t) = template {
        if t.contains("tools") {
            caps.push("tools".into());
        }
        if t.contains("<think>") {
            caps.push("thinking".into());
        }
    }
    caps
}

/// `key  value` lines, as Ollama prints parameters.
pub fn parameters_text(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{k:<30} {v}")).collect::<Vec<_>>().join("\n")
}
