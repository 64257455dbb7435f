//! The second-turn measure: a conversation of about `target` tokens (varied sentences from a
//! seeded generator, counted with the model's own tokenizer), a first turn, then a second turn
//! that is the first turn's messages + its answer + one more user message. A server that keeps
//! the first turn's KV (a prefix cache) only prefills the new tail.

use std::path::Path;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::client::{self, RequestOptions, StreamStats};
use crate::servers::Target;

const ADJ: [&str; 24] = [
    "quiet", "rusty", "golden", "narrow", "ancient", "bright", "hollow", "crowded", "frozen", "gentle", "heavy", "hidden",
    "humid", "lonely", "muddy", "northern", "patient", "restless", "silver", "steep", "tired", "violet", "windy", "wooden",
];
const NOUN: [&str; 32] = [
    "harbour", "engineer", "library", "orchard", "bicycle", "glacier", "merchant", "telescope", "kitchen", "river",
    "archive", "lantern", "meadow", "printer", "satellite", "teacher", "tunnel", "vineyard", "warehouse", "baker",
    "compass", "ferry", "garden", "journal", "ladder", "market", "notebook", "pilot", "quarry", "station", "tower",
    "valley",
];
const VERB: [&str; 20] = [
    "repaired", "painted", "measured", "carried", "followed", "described", "borrowed", "counted", "cleaned", "visited",
    "photographed", "replaced", "inspected", "ignored", "opened", "weighed", "mapped", "sold", "tested", "moved",
];
const WHEN: [&str; 12] = [
    "before sunrise", "after the storm", "during the festival", "on a Tuesday", "late in autumn", "at noon",
    "while it snowed", "in early spring", "after midnight", "during the long drought", "before the ferry left",
    "when the bells rang",
];

/// A seeded generator of plain sentences (no external data, same text every run).
struct Sentences(u64);

impl Sentences {
    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        // xorshift64*: enough variety for text, deterministic across runs and machines.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
        words[usize::try_from(r).unwrap_or(0) % words.len()]
    }

    fn sentence(&mut self) -> String {
        let n = (self.0 % 97) + 3;
        format!(
            "The {} {} {} the {} {} {}, and {n} people noted it in the {} {}.",
            self.pick(&ADJ),
            self.pick(&NOUN),
            self.pick(&VERB),
            self.pick(&ADJ),
            self.pick(&NOUN),
            self.pick(&WHEN),
            self.pick(&ADJ),
            self.pick(&NOUN),
        )
    }
}

/// The first turn's messages: four user/assistant exchanges of notes, then a question, about
/// `target` content tokens in all by the tokenizer in `model_dir`. Returns them and the count.
pub fn conversation(model_dir: &Path, target: usize) -> Result<(Value, usize)> {
    let file = model_dir.join("tokenizer.json");
    let tok = tokenizers::Tokenizer::from_file(&file).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let count = |text: &str| tok.encode(text, false).map(|e| e.len()).map_err(|e| anyhow!("tokenize: {e}"));
    let question = "Using all the notes above, which three places were visited most often, and when?";
    let mut total = count(question)?;
    let per_message = target.saturating_sub(total) / 8;
    let mut gen = Sentences(0x9E37_79B9_7F4A_7C15);
    let mut messages = Vec::new();
    for part in 1..=8usize {
        let (role, mut text) = if part % 2 == 1 {
            ("user", format!("Here are my field notes, part {}. ", part.div_ceil(2)))
        } else {
            ("assistant", format!("Understood. Restating part {} in my own words: ", part / 2))
        };
        let start = total;
        while total - start < per_message {
            text.push(' ');
            text.push_str(&gen.sentence());
            total = start + count(&text)?;
        }
        messages.push(json!({"role": role, "content": text}));
    }
    messages.push(json!({"role": "user", "content": question}));
    Ok((Value::Array(messages), total))
}

const FOLLOW_UP: &str = "Thanks. Now name one object from the notes and say why it matters.";

/// Both turns of one conversation on one server.
#[derive(Debug, Clone)]
pub struct Turns {
    pub first: StreamStats,
    pub second: StreamStats,
}

/// Runs the first turn, then the second with the first's answer and one more question.
pub fn two_turns(http: &reqwest::blocking::Client, target: &Target, messages: &Value, opts: RequestOptions) -> Result<Turns> {
    let first = client::chat(http, target, messages, opts)?;
    let mut next = messages.as_array().cloned().unwrap_or_default();
    next.push(json!({"role": "assistant", "content": first.text}));
    next.push(json!({"role": "user", "content": FOLLOW_UP}));
    let second = client::chat(http, target, &Value::Array(next), opts)?;
    Ok(Turns { first, second })
}
