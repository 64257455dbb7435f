//! [`Tokenizer`]: a Hugging Face `tokenizer.json` plus what the folder's side files say about
//! special tokens and end-of-sequence ids.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::bytes::{self, ByteStyle};
use super::config::{GenerationIds, TokenizerConfig};
use super::detokenizer::StreamingDetokenizer;
use super::TextError;

/// A model's tokenizer, loaded from its folder.
///
/// Encoding follows `tokenizer.json` exactly, including its post-processor: whether a BOS token
/// is added with `add_special_tokens` is what that file says, as in transformers 5 (which ignores
/// `tokenizer_config`'s `add_bos_token` when a `tokenizer.json` exists). Rendered chat templates
/// usually contain the BOS text already, so callers encode them with `add_special_tokens: false`.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    style: ByteStyle,
    special: Vec<(&'static str, String)>,
    add_bos_token: Option<bool>,
    bos_id: Option<u32>,
    eos_ids: Vec<u32>,
}

/// The one part of tokenizer.json read besides what the `tokenizers` crate reads: the decoder,
/// which tells how token strings spell bytes.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    decoder: Option<serde_json::Value>,
}

impl Tokenizer {
    /// Loads `tokenizer.json` (required) and, when present, `tokenizer_config.json`,
    /// `special_tokens_map.json`, `generation_config.json` and `config.json` from `dir`.
    ///
    /// # Errors
    /// [`TextError::MissingFile`] without `tokenizer.json`; `Io`, `Json`, `Field` or
    /// `TokenizerLoad` naming the file (and field) that is unreadable or malformed.
    pub fn from_dir(dir: &Path) -> Result<Self, TextError> {
        let path = dir.join("tokenizer.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TextError::MissingFile { path });
            }
            Err(source) => return Err(TextError::Io { path, source }),
        };
        let head: Head = serde_json::from_str(&text).map_err(|source| TextError::Json {
            path: path.clone(),
            source,
        })?;
        let inner = tokenizers::Tokenizer::from_str(&text)
            .map_err(|source| TextError::TokenizerLoad { path, source })?;
        let config = TokenizerConfig::read(dir)?;
        let special = config.special_tokens(dir)?;
        let add_bos_token = config.add_bos_token()?;
        let ids = GenerationIds::read(dir)?;
        let mut tokenizer = Self {
            inner,
            style: ByteStyle::detect(head.decoder.as_ref()),
            special,
            add_bos_token,
            bos_id: None,
            eos_ids: Vec::new(),
        };
        tokenizer.bos_id = tokenizer.special_id("bos_token").or(ids.bos);
        tokenizer.eos_ids = tokenizer.collect_eos_ids(ids.eos);
        Ok(tokenizer)
    }

    /// The union of `generation_config`'s (or `config.json`'s) `eos_token_id` and the id of
    /// `tokenizer_config`'s `eos_token`, as mlx-lm's `TokenizerWrapper` builds it; nothing invented.
    fn collect_eos_ids(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if let Some(id) = self.special_id("eos_token") {
            ids.push(id);
        }
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        ids
    }

    /// The id of a named special token (e.g. `eos_token`), when it is in the vocabulary.
    fn special_id(&self, name: &str) -> Option<u32> {
        let text = self.special_token(name)?;
        let id = self.inner.token_to_id(text);
        if id.is_none() {
            tracing::warn!(token = text, name, "special token is not in the vocabulary");
        }
        id
    }

    /// The text of a named special token (`bos_token`, `eos_token`, `unk_token`, `pad_token`, …).
    pub fn special_token(&self, name: &str) -> Option<&str> {
        self.special
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
    }

    /// Token ids of `text`; `add_special_tokens` applies `tokenizer.json`'s post-processor (BOS…).
    ///
    /// # Errors
    /// [`TextError::Encode`] when the `tokenizers` pipeline fails.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|source| TextError::Encode { source })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`; `skip_special` drops special tokens (as transformers'
    /// `skip_special_tokens`). Ids outside the vocabulary are skipped, as `tokenizers` does.
    ///
    /// # Errors
    /// [`TextError::Decode`] when the tokenizer's decoder fails.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TextError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|source| TextError::Decode { source })
    }

    /// Every id that ends generation.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Whether `id` ends generation.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_ids.contains(&id)
    }

    /// The BOS token's text, when the model has one.
    pub fn bos_token(&self) -> Option<&str> {
        self.special_token("bos_token")
    }

    /// The BOS token's id, when known.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// The EOS token's text from `tokenizer_config.json` (other EOS ids may exist; see
    /// [`Tokenizer::eos_token_ids`]).
    pub fn eos_token(&self) -> Option<&str> {
        self.special_token("eos_token")
    }

    /// `tokenizer_config.json`'s `add_bos_token`, when set. Informational: [`Tokenizer::encode`]
    /// follows `tokenizer.json`'s post-processor.
    pub fn add_bos_token(&self) -> Option<bool> {
        self.add_bos_token
    }

    /// Number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The token string of `id` as the vocabulary spells it (e.g. `Ġhello`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a token string, when it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether `id` is a special added token (e.g. `<|im_end|>`).
    pub fn is_special(&self, id: u32) -> bool {
        self.inner
            .id_to_token(id)
            .is_some_and(|t| self.inner.get_added_vocabulary().is_special_token(&t))
    }

    /// The raw bytes `id` stands for (for logprobs `bytes`): byte-level BPE characters mapped
    /// back through GPT-2's alphabet, `SentencePiece` `▁` as a space and `<0xNN>` as the byte NN.
    /// Empty for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(token) = self.inner.id_to_token(id) else {
            return Vec::new();
        };
        match self.style {
            ByteStyle::ByteLevel => bytes::byte_level_bytes(&token),
            ByteStyle::SentencePiece => bytes::sentencepiece_bytes(&token),
            ByteStyle::Other => self
                .inner
                .decode(&[id], false)
                .map(String::into_bytes)
                .unwrap_or_default(),
        }
    }

    /// A fresh streaming detokenizer over this tokenizer.
    pub fn detokenizer(&self) -> StreamingDetokenizer<'_> {
        StreamingDetokenizer::new(self)
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("style", &self.style)
            .field("special", &self.special)
            .field("bos_id", &self.bos_id)
            .field("eos_ids", &self.eos_ids)
            .finish_non_exhaustive()
    }
}
