//! Rebuilds a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json,
//! special_tokens_map.json) from GGUF metadata: byte-level BPE vocabulary
//! and merges, the pre-tokenizer llama.cpp names in `tokenizer.ggml.pre`,
//! CONTROL tokens as special added tokens, and the chat template.

use serde_json::{json, Map, Value as Json};

use super::reader::{GgufFile, Value};
use super::GgufError;

/// GGUF token types.
const TYPE_CONTROL: u64 = 3;
const TYPE_USER_DEFINED: u64 = 4;

/// Llama 3 split regex (llama.cpp `llama-bpe`, HF Llama 3 tokenizer.json).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2 split regex (single digits).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer files of an imported model plus the ids config.json needs.
#[derive(Debug)]
pub struct TokenizerFiles {
    /// tokenizer.json.
    pub tokenizer: Json,
    /// tokenizer_config.json.
    pub tokenizer_config: Json,
    /// special_tokens_map.json.
    pub special_tokens_map: Json,
    /// BOS id, if any.
    pub bos_id: Option<u64>,
    /// EOS ids (eos, then end-of-turn when different).
    pub eos_ids: Vec<u64>,
    /// Pad id, if any.
    pub pad_id: Option<u64>,
    /// Vocabulary size.
    pub vocab_size: usize,
}

/// Builds the tokenizer files from a GGUF file's metadata.
pub fn build(gguf: &GgufFile, context_length: Option<u64>) -> Result<TokenizerFiles, GgufError> {
    let model = gguf.str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(GgufError::Tokenizer(format!(
            "tokenizer.ggml.model {model:?} is not supported (only byte-level BPE, \"gpt2\")"
        )));
    }
    let tokens = string_array(gguf, "tokenizer.ggml.tokens")?;
    let merges = string_array(gguf, "tokenizer.ggml.merges")?;
    let types: Vec<u64> = gguf
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
        .unwrap_or_default();
    let pre = gguf
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let id = |key: &str| {
        gguf.get(key)
            .and_then(Value::as_u64)
            .filter(|i| (*i as usize) < tokens.len())
    };
    let (bos, eos, eot, unk, pad) = (
        id("tokenizer.ggml.bos_token_id"),
        id("tokenizer.ggml.eos_token_id"),
        id("tokenizer.ggml.eot_token_id"),
        id("tokenizer.ggml.unknown_token_id"),
        id("tokenizer.ggml.padding_token_id"),
    );
    let add_bos = gguf
        .get("tokenizer.ggml.add_bos_token")
        .is_some_and(|v| *v == Value::Bool(true));
    let text = |i: Option<u64>| i.map(|i| tokens[i as usize].clone());

    let mut vocab = Map::new();
    for (i, tok) in tokens.iter().enumerate() {
        vocab.entry(tok.clone()).or_insert(json!(i));
    }
    let merges: Vec<Json> = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| GgufError::Tokenizer(format!("merge {m:?} has no space")))
        })
        .collect::<Result<_, _>>()?;
    let added: Vec<Json> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == TYPE_CONTROL || **t == TYPE_USER_DEFINED)
        .filter_map(|(i, t)| {
            tokens
                .get(i)
                .map(|tok| added_token(i, tok, *t == TYPE_CONTROL))
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer(pre)?,
        "post_processor": post_processor(add_bos.then(|| bos.zip(text(bos))).flatten()),
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": text(unk), "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": matches!(pre, "llama-bpe" | "llama3"),
            "vocab": vocab, "merges": merges,
        },
    });
    let mut eos_ids: Vec<u64> = eos.into_iter().collect();
    if let Some(eot) = eot.filter(|e| !eos_ids.contains(e)) {
        eos_ids.push(eot);
    }
    let mut config = json!({
        "add_bos_token": add_bos,
        "add_eos_token": gguf.get("tokenizer.ggml.add_eos_token").is_some_and(|v| *v == Value::Bool(true)),
        "bos_token": text(bos),
        "eos_token": text(eos),
        "pad_token": text(pad),
        "unk_token": text(unk),
        "clean_up_tokenization_spaces": false,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": context_length,
    });
    if let Some(template) = gguf.get("tokenizer.chat_template").and_then(Value::as_str) {
        config["chat_template"] = json!(template);
    }
    let special = json!({"bos_token": text(bos), "eos_token": text(eos), "pad_token": text(pad), "unk_token": text(unk)});
    Ok(TokenizerFiles {
        tokenizer,
        tokenizer_config: config,
        special_tokens_map: strip_nulls(special),
        bos_id: bos,
        eos_ids,
        pad_id: pad,
        vocab_size: tokens.len(),
    })
}

fn string_array(gguf: &GgufFile, key: &str) -> Result<Vec<String>, GgufError> {
    let items = gguf
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| GgufError::MissingKey(key.to_string()))?;
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| GgufError::MissingKey(key.to_string()))
        })
        .collect()
}

fn added_token(id: usize, content: &str, special: bool) -> Json {
    json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
           "normalized": false, "special": special})
}

/// Maps llama.cpp's pre-tokenizer name onto the HF pre-tokenizer it came from.
fn pre_tokenizer(pre: &str) -> Result<Json, GgufError> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            byte_level(false)]})
    };
    Ok(match pre {
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "default" | "gpt2" | "gpt-2" => byte_level(true),
        "llama-bpe" | "llama3" => split(LLAMA3_SPLIT),
        "qwen2" => split(QWEN2_SPLIT),
        other => {
            return Err(GgufError::Tokenizer(format!(
                "pre-tokenizer {other:?} is not supported (supported: smollm, gpt2/default, llama-bpe, qwen2)"
            )))
        }
    })
}

/// Adds BOS through a template when the model wants it, else the usual
/// byte-level offsets processor.
fn post_processor(bos: Option<(u64, String)>) -> Json {
    match bos {
        Some((id, text)) => json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": text, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {text.clone(): {"id": text, "ids": [id], "tokens": [text]}},
        }),
        None => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    }
}

fn strip_nulls(mut v: Json) -> Json {
    if let Json::Object(map) = &mut v {
        map.retain(|_, v| !v.is_null());
    }
    v
}
