//! [`StreamingDetokenizer`]: generated ids in, UTF-8 text pieces out.
//!
//! It decodes a short window of recent ids and emits what the window adds past the text already
//! given out (the "prefix/read offset" method of Hugging Face's text-generation-inference and of
//! `tokenizers`' own `DecodeStream`). Decoding through the tokenizer's decoder keeps every rule of
//! the full decode — `SentencePiece`'s dropped leading space, byte fallback, byte-level BPE — so the
//! pieces concatenate to `decode(all ids)`; a window that ends in U+FFFD (a multi-byte character
//! still incomplete) is held until more ids arrive or [`StreamingDetokenizer::finish`] is called.

use super::Tokenizer;

/// Incremental detokenizer; made by [`Tokenizer::detokenizer`]. Special tokens are kept in the
/// text (`decode(ids, false)`), as mlx-lm's streaming detokenizers do; the decode loop does not
/// push EOS ids.
pub struct StreamingDetokenizer<'t> {
    tokenizer: &'t Tokenizer,
    /// Ids from `prefix_offset` on (earlier ones are dropped once emitted).
    ids: Vec<u32>,
    /// Start of the window inside `ids`: one emitted chunk of context, so the decoder sees what
    /// precedes the new ids (e.g. whether a `▁` starts the text).
    prefix_offset: usize,
    /// End of the already emitted ids inside `ids`.
    read_offset: usize,
    /// `decode(ids[prefix_offset..read_offset])`.
    prefix_text: String,
}

impl<'t> StreamingDetokenizer<'t> {
    pub(crate) fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            prefix_text: String::new(),
        }
    }

    /// Adds one id; returns the text it completes (often "", e.g. inside a multi-byte character).
    pub fn push(&mut self, id: u32) -> String {
        self.ids.push(id);
        let window = self.decode(&self.ids[self.prefix_offset..]);
        if window.len() <= self.prefix_text.len() || window.ends_with('\u{FFFD}') {
            return String::new();
        }
        let piece = self.new_part(&window);
        // The window's own text is the next prefix: decode it once now rather than per push.
        let new_prefix = self.decode(&self.ids[self.read_offset..]);
        self.ids.drain(..self.read_offset);
        self.prefix_offset = 0;
        self.read_offset = self.ids.len();
        self.prefix_text = new_prefix;
        piece
    }

    /// Releases the text still held back (e.g. an incomplete character, as U+FFFD) and resets.
    pub fn finish(&mut self) -> String {
        let window = self.decode(&self.ids[self.prefix_offset..]);
        let piece = if window.len() > self.prefix_text.len() {
            self.new_part(&window)
        } else {
            String::new()
        };
        self.ids.clear();
        self.prefix_offset = 0;
        self.read_offset = 0;
        self.prefix_text.clear();
        piece
    }

    /// The part of `window` past the emitted prefix. Decoders in `tokenizers` only rewrite a
    /// token from its own neighbours, so the window starts with the prefix; if a decoder ever
    /// rewrites earlier text, the part after the common prefix is emitted so text keeps flowing.
    fn new_part(&self, window: &str) -> String {
        if let Some(rest) = window.strip_prefix(self.prefix_text.as_str()) {
            return rest.to_owned();
        }
        let common = window
            .char_indices()
            .zip(self.prefix_text.chars())
            .find(|((_, a), b)| a != b)
            .map_or_else(|| window.len().min(self.prefix_text.len()), |((i, _), _)| i);
        let mut start = common;
        while !window.is_char_boundary(start) {
            start -= 1;
        }
        window[start..].to_owned()
    }

    fn decode(&self, ids: &[u32]) -> String {
        match self.tokenizer.decode(ids, false) {
            Ok(text) => text,
            Err(error) => {
                // Decoders only fail on malformed vocabularies; dropping the text beats stopping
                // a generation halfway, and the full decode would fail the same way.
                tracing::warn!(%error, "streaming decode failed");
                String::new()
            }
        }
    }
}
