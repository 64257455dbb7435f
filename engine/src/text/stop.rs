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
    #[must_use]
    pub fn new(stops: &[String]) -> Self {
        let stops = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        Self {
            stops,
            held: String::new(),
            stopped: false,
        }
    }

    /// Whether there is any stop string to look for.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
    }

    /// Whether a stop string has matched.
    #[must_use]
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
                    && self
                        .stops
                        .iter()
                        .any(|s| s.as_bytes().starts_with(&held[start..]))
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

    /// SplitMix64, so the property test is reproducible without extra dependencies.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            usize::try_from((z ^ (z >> 31)) % n as u64).expect("fits")
        }

        fn text(&mut self, alphabet: &[&str], max_len: usize) -> String {
            (0..self.below(max_len + 1))
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    /// The longest suffix of `text` that is a proper prefix of a stop string (naive reference).
    fn pending(text: &str, stops: &[String]) -> usize {
        (1..=text.len())
            .rev()
            .filter(|&n| text.is_char_boundary(text.len() - n))
            .find(|&n| {
                stops
                    .iter()
                    .any(|s| s.len() > n && s.starts_with(&text[text.len() - n..]))
            })
            .unwrap_or(0)
    }

    #[test]
    fn stop_matcher_random_chunks_agree_with_a_naive_search() {
        let alphabet = ["a", "b", "c", "é", "😀", " "];
        let mut rng = Rng(0x5EED_0003);
        for _ in 0..3000 {
            let stops: Vec<String> = (0..1 + rng.below(3))
                .map(|_| rng.text(&alphabet, 4))
                .collect();
            let text = rng.text(&alphabet, 24);
            let live: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
            // Generation stops where the first stop string completes (ties: the longer one).
            let cut = live
                .iter()
                .filter_map(|s| text.find(s.as_str()).map(|at| (at + s.len(), at)))
                .min()
                .map(|(_, at)| at);
            let want = &text[..cut.unwrap_or(text.len())];

            let mut matcher = StopMatcher::new(&stops);
            let (mut out, mut fed, mut stopped) = (String::new(), String::new(), false);
            let chars: Vec<char> = text.chars().collect();
            let mut i = 0;
            while i < chars.len() && !stopped {
                let n = 1 + rng.below(4);
                let chunk: String = chars[i..(i + n).min(chars.len())].iter().collect();
                i += n;
                fed.push_str(&chunk);
                match matcher.push(&chunk) {
                    StopStep::Emit(piece) => {
                        out.push_str(&piece);
                        // Emitted exactly what cannot start a stop string.
                        assert_eq!(
                            out.len(),
                            fed.len() - pending(&fed, &live),
                            "text {text:?} stops {stops:?}"
                        );
                    }
                    StopStep::Stopped(piece) => {
                        out.push_str(&piece);
                        stopped = true;
                    }
                }
            }
            out.push_str(&matcher.finish());
            assert_eq!(stopped, cut.is_some(), "text {text:?} stops {stops:?}");
            assert_eq!(out, want, "text {text:?} stops {stops:?}");
        }
    }
}
