//! Output shaping that needs no engine: the JSON constraint for `format`, tool-call parsing
//! from the model's own syntax, and the `<think>` splitter.

pub mod json;
pub mod schema;
pub mod think;
pub mod tools;

use std::sync::Arc;

use ollmlx_api::ollama::Format;

use json::Matcher;
use schema::Schema;

/// Every token's bytes (None for special tokens), computed once per model.
#[derive(Debug)]
pub struct Vocab {
    tokens: Vec<Option<Vec<u8>>>,
    eos: Vec<u32>,
}

impl Vocab {
    /// A vocabulary from token bytes and the EOS ids.
    pub fn new(tokens: Vec<Option<Vec<u8>>>, eos: Vec<u32>) -> Vocab {
        Vocab { tokens, eos }
    }
}

/// Constrains sampling so the output is one JSON document matching the format.
pub struct JsonConstraint {
    matcher: Matcher,
    vocab: Arc<Vocab>,
}

impl JsonConstraint {
    /// A constraint for `format` over `vocab`; a schema it cannot follow is an error.
    pub fn new(format: &Format, vocab: Arc<Vocab>) -> Result<JsonConstraint, String> {
        let schema = match format {
            Format::Json => Schema::any_object(),
            Format::Schema(v) => Schema::compile(v)?,
        };
        Ok(JsonConstraint { matcher: Matcher::new(Arc::new(schema)), vocab })
    }

    /// Token ids that keep the output a valid prefix; only EOS once the document is complete.
    pub fn allowed(&mut self) -> Vec<u32> {
        if self.matcher.is_complete() {
            return self.vocab.eos.clone();
        }
        let mut out = Vec::new();
        for (id, bytes) in self.vocab.tokens.iter().enumerate() {
            let Some(bytes) = bytes.as_deref().filter(|b| !b.is_empty()) else { continue };
            let mut m = self.matcher.clone();
            if bytes.iter().all(|b| m.feed(*b)) {
                out.push(u32::try_from(id).unwrap_or(u32::MAX));
            }
        }
        if out.is_empty() {
            // Nothing can continue (should not happen): end rather than emit garbage.
            return self.vocab.eos.clone();
        }
        out
    }

    /// Records the sampled token.
    pub fn advance(&mut self, token: u32) {
        let Some(Some(bytes)) = usize::try_from(token).ok().and_then(|i| self.vocab.tokens.get(i)) else { return };
        for b in bytes {
            if !self.matcher.feed(*b) {
                break;
            }
        }
    }

    /// True once one whole document was produced.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_complete()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_continuations_then_eos() {
        let toks = ["{", "}", "\"a\"", ":", "1", "x", " ", "{\"", "a\":", "2}"];
        let vocab = Arc::new(Vocab::new(toks.iter().map(|t| Some(t.as_bytes().to_vec())).collect(), vec![99]));
        let mut c = JsonConstraint::new(&Format::Json, vocab).unwrap();
        let first = c.allowed();
        assert!(first.contains(&0) && first.contains(&7) && !first.contains(&5) && !first.contains(&1));
        for t in [7u32, 8, 9] {
            assert!(c.allowed().contains(&t), "{t}");
            c.advance(t);
        }
        assert!(c.is_complete());
        assert_eq!(c.allowed(), vec![99]);
    }
}
