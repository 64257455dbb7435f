//! [`StopMatcher`]: finds stop strings in streamed text, across token boundaries, without ever
//! emitting text that turns out to be part of a stop string.

/// What [`StopMatcher::push`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopStep {
    /// Text safe to emit now (may be empty while a possible stop string is pending).
    Emit(String),
    /// A stop string matched: this is the last text before it; the stop string itself is dropped
    /// and generation should end.
    Stopped(String),
}

/// Holds back streamed text only while it could still become a stop string.
#[derive(Debug, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not emitted: always a proper prefix of some stop string.
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for `stops`; empty strings are ignored (they would match everywhere).
    pub fn new(stops: &[String]) -> Self {
        let stops = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        Self { stops, held: String::new(), stopped: false }
    }

    /// Whether there is any stop string to look for.
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
    }

    /// Whether a stop string has matched.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next piece of text. After a stop, every call returns `Stopped("")`.
    pub fn push(&mut self, text: &str) -> StopStep {
        if self.stopped {
            return StopStep::Stopped(String::new());
        }
        self.held.push_str(text);
        if let Some(at) = self.earliest_match() {
            self.stopped = true;
            self.held.truncate(at);
            return StopStep::Stopped(std::mem::take(&mut self.held));
        }
        let keep = self.pending_suffix_len();
        let emit_len = self.held.len() - keep;
        let rest = self.held.split_off(emit_len);
        StopStep::Emit(std::mem::replace(&mut self.held, rest))
    }

    /// Releases held text at the end of generation (nothing after a stop).
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        std::mem::take(&mut self.held)
    }

    /// Byte offset in `held` where the stop string that completes first begins (ties: the one
    /// that begins first). "Completes first" makes the result independent of how the text was
    /// chunked: token by token, generation would have stopped there. Text before `held` was
    /// emitted only when no stop string could start in it, so every match lies in `held`.
    fn earliest_match(&self) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()).map(|at| (at + s.len(), at)))
            .min()
            .map(|(_, at)| at)
    }

    /// Length of the longest suffix of `held` that is a proper prefix of some stop string.
    fn pending_suffix_len(&self) -> usize {
        let held = self.held.as_bytes();
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let max = longest.saturating_sub(1).min(held.len());
        (1..=max)
            .rev()
            .find(|&len| {
                let start = held.len() - len;
                self.held.is_char_boundary(start)
                    && self.stops.iter().any(|s| s.as_bytes().starts_with(&held[start..]))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(stops: &[&str]) -> StopMatcher {
        StopMatcher::new(&stops.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    fn emit(s: &str) -> StopStep {
        StopStep::Emit(s.to_owned())
    }

    #[test]
    fn no_stops_passes_everything_through() {
        let mut m = matcher(&[]);
        assert!(m.is_empty());
        assert_eq!(m.push("hello"), emit("hello"));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn stop_inside_one_piece() {
        let mut m = matcher(&["STOP"]);
        assert_eq!(m.push("abcSTOPdef"), StopStep::Stopped("abc".into()));
        assert!(m.is_stopped());
        assert_eq!(m.push("more"), StopStep::Stopped(String::new()));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn stop_across_pieces_is_held_then_dropped() {
        let mut m = matcher(&["</s>"]);
        assert_eq!(m.push("Hi <"), emit("Hi "));
        assert_eq!(m.push("/"), emit(""));
        assert_eq!(m.push("s> tail"), StopStep::Stopped(String::new()));
    }

    #[test]
    fn false_start_is_released() {
        let mut m = matcher(&["</s>"]);
        assert_eq!(m.push("a</"), emit("a"));
        assert_eq!(m.push("x"), emit("</x"));
        assert_eq!(m.push("<"), emit(""));
        assert_eq!(m.finish(), "<");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut m = matcher(&["world", "lo w"]);
        assert_eq!(m.push("hello world"), StopStep::Stopped("hel".into()));
        // The stop that completes first wins, however the text is chunked.
        let mut m = matcher(&["abcd", "bc"]);
        assert_eq!(m.push("xab"), emit("x"));
        assert_eq!(m.push("c"), StopStep::Stopped("a".into()));
        let mut m = matcher(&["abcd", "bc"]);
        assert_eq!(m.push("xabcd"), StopStep::Stopped("xa".into()));
        let mut m = matcher(&["bcd", "abcd"]);
        assert_eq!(m.push("xabcd"), StopStep::Stopped("x".into()));
    }

    #[test]
    fn multibyte_stops_and_text() {
        let mut m = matcher(&["ünd"]);
        assert_eq!(m.push("grü"), emit("gr"));
        assert_eq!(m.push("ne"), emit("üne"));
        assert_eq!(m.push("ü"), emit(""));
        assert_eq!(m.push("nd!"), StopStep::Stopped(String::new()));
        let mut m = matcher(&["😀x"]);
        assert_eq!(m.push("a😀"), emit("a"));
        assert_eq!(m.finish(), "😀");
    }

    #[test]
    fn empty_stop_strings_are_ignored() {
        let mut m = matcher(&["", "zz"]);
        assert_eq!(m.push("abc"), emit("abc"));
    }
}
