//! Splits streamed text into thinking and content on `<think>...</think>`, holding back a
//! partial tag at the end of a chunk until the next chunk decides it.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace seen yet: an opening tag may still come.
    Before,
    Thinking,
    Content,
}

/// Streaming splitter.
#[derive(Debug)]
pub struct ThinkSplitter {
    state: State,
    pending: String,
}

/// A piece of output, split.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Split {
    /// Reasoning text.
    pub thinking: String,
    /// Answer text.
    pub content: String,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        ThinkSplitter { state: State::Before, pending: String::new() }
    }
}

impl ThinkSplitter {
    /// Adds text; returns what can be released now.
    pub fn push(&mut self, text: &str) -> Split {
        self.pending.push_str(text);
        let mut out = Split::default();
        loop {
            match self.state {
                State::Before => {
                    let trimmed = self.pending.trim_start();
                    if let Some(rest) = trimmed.strip_prefix(OPEN) {
                        self.pending = rest.trim_start().to_string();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(trimmed) {
                        return out; // maybe a tag; wait
                    } else {
                        self.state = State::Content;
                    }
                }
                State::Thinking => match self.pending.find(CLOSE) {
                    Some(i) => {
                        out.thinking.push_str(self.pending[..i].trim_end());
                        self.pending = self.pending[i + CLOSE.len()..].trim_start().to_string();
                        self.state = State::Content;
                    }
                    None => {
                        let keep = partial_suffix(&self.pending, CLOSE);
                        let cut = self.pending.len() - keep;
                        out.thinking.push_str(&self.pending[..cut]);
                        self.pending.drain(..cut);
                        return out;
                    }
                },
                State::Content => {
                    out.content.push_str(&self.pending);
                    self.pending.clear();
                    return out;
                }
            }
        }
    }

    /// Releases whatever is held at the end.
    pub fn finish(&mut self) -> Split {
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Thinking => Split { thinking: rest, content: String::new() },
            _ => Split { thinking: String::new(), content: rest },
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len()).rev().find(|&n| text.len() >= n && text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> Split {
        let mut s = ThinkSplitter::default();
        let mut all = Split::default();
        let mut pieces: Vec<Split> = chunks.iter().map(|c| s.push(c)).collect();
        pieces.push(s.finish());
        for c in pieces {
            all.thinking += &c.thinking;
            all.content += &c.content;
        }
        all
    }

    #[test]
    fn splits_across_chunk_boundaries() {
        let s = run(&["<th", "ink>\nhmm, ", "let me see</th", "ink>\n\nThe answer"]);
        assert_eq!(s.thinking, "hmm, let me see");
        assert_eq!(s.content, "The answer");
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(run(&["Hello", " <think> is a tag"]).content, "Hello <think> is a tag");
        assert_eq!(run(&["<", "b>bold"]).content, "<b>bold");
    }
}
