//! Raw bytes of one token, for logprobs `bytes` fields: byte-level BPE spells bytes with GPT-2's
//! printable alphabet, `SentencePiece` spells spaces as `▁` and unknown bytes as `<0xNN>` tokens.

use serde_json::Value;

/// How a vocabulary spells bytes in its token strings, read from tokenizer.json's `decoder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteStyle {
    /// GPT-2 style byte-level BPE (`Ġ` for a space): Llama 3, Qwen, `SmolLM`, GPT-2.
    ByteLevel,
    /// `SentencePiece` style (`▁` for a space, `<0xNN>` byte fallback): Llama 2, Mistral, Gemma.
    SentencePiece,
    /// Anything else (`WordPiece`, …): the token's own decoding is used.
    Other,
}

impl ByteStyle {
    /// Reads the style from a tokenizer.json `decoder` value (possibly a `Sequence`).
    pub fn detect(decoder: Option<&Value>) -> Self {
        let Some(decoder) = decoder else {
            return Self::Other;
        };
        match decoder.get("type").and_then(Value::as_str) {
            Some("ByteLevel") => Self::ByteLevel,
            Some("ByteFallback" | "Metaspace") => Self::SentencePiece,
            Some("Replace") if replaces_metaspace(decoder) => Self::SentencePiece,
            Some("Sequence") => {
                let parts = decoder.get("decoders").and_then(Value::as_array);
                let styles = parts.into_iter().flatten().map(|d| Self::detect(Some(d)));
                // A byte-level step decides the spelling; otherwise any SentencePiece step does.
                styles.fold(Self::Other, |acc, s| match (acc, s) {
                    (Self::ByteLevel, _) | (_, Self::ByteLevel) => Self::ByteLevel,
                    (Self::SentencePiece, _) | (_, Self::SentencePiece) => Self::SentencePiece,
                    _ => Self::Other,
                })
            }
            _ => Self::Other,
        }
    }
}

fn replaces_metaspace(decoder: &Value) -> bool {
    decoder.pointer("/pattern/String").and_then(Value::as_str) == Some("\u{2581}")
}

/// The bytes GPT-2's `bytes_to_unicode` does not map to themselves, in the order it assigns them
/// the characters U+0100, U+0101, …
const SHIFTED: [u8; 68] = shifted_bytes();

const fn is_printable_byte(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

const fn shifted_bytes() -> [u8; 68] {
    let mut out = [0u8; 68];
    let mut n = 0;
    let mut b: u8 = 0;
    loop {
        if !is_printable_byte(b) {
            out[n] = b;
            n += 1;
        }
        if b == u8::MAX {
            return out;
        }
        b += 1;
    }
}

/// The byte a GPT-2 alphabet character stands for, if it is one.
pub(crate) fn byte_level_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if let Ok(b) = u8::try_from(code) {
        return is_printable_byte(b).then_some(b);
    }
    let index = usize::try_from(code.checked_sub(256)?).ok()?;
    SHIFTED.get(index).copied()
}

/// A byte-level token's bytes. Like the `tokenizers` `ByteLevel` decoder, a token with any
/// character outside the alphabet (an added token such as a literal "\n\n") is taken as UTF-8.
pub(crate) fn byte_level_bytes(token: &str) -> Vec<u8> {
    token
        .chars()
        .map(byte_level_byte)
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// A `SentencePiece` token's bytes: `<0xNN>` is the byte NN, `▁` is a space.
pub(crate) fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    if let Some(byte) = byte_fallback(token) {
        return vec![byte];
    }
    token.replace('\u{2581}', " ").into_bytes()
}

/// The byte of a `<0xNN>` byte-fallback token.
fn byte_fallback(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GPT-2's table written out the way its reference code builds it.
    fn reference_table() -> Vec<(char, u8)> {
        let mut bs: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
            .chain(0xA1..=0xAC)
            .chain(0xAE..=0xFF)
            .collect();
        let mut cs = bs.clone();
        let mut n = 0;
        for b in 0..256u32 {
            if !bs.contains(&b) {
                bs.push(b);
                cs.push(256 + n);
                n += 1;
            }
        }
        cs.into_iter()
            .zip(bs)
            .map(|(c, b)| {
                (
                    char::from_u32(c).expect("valid char"),
                    u8::try_from(b).expect("byte"),
                )
            })
            .collect()
    }

    #[test]
    fn byte_level_alphabet_matches_gpt2() {
        let table = reference_table();
        assert_eq!(table.len(), 256);
        for (c, b) in table {
            assert_eq!(byte_level_byte(c), Some(b), "char {c:?}");
        }
        assert_eq!(byte_level_byte('Ġ'), Some(b' '));
        assert_eq!(byte_level_byte('Ċ'), Some(b'\n'));
        assert_eq!(byte_level_byte(' '), None);
        assert_eq!(byte_level_byte('\u{0144}'), None);
        assert_eq!(byte_level_byte('€'), None);
    }

    #[test]
    fn token_bytes_for_both_styles() {
        assert_eq!(byte_level_bytes("Ġhello"), b" hello");
        assert_eq!(byte_level_bytes("ðŁĺ"), vec![0xF0, 0x9F, 0x98]);
        assert_eq!(byte_level_bytes("<|im_start|>"), b"<|im_start|>");
        assert_eq!(byte_level_bytes("a b"), b"a b");
        assert_eq!(sentencepiece_bytes("\u{2581}Hello"), b" Hello");
        assert_eq!(sentencepiece_bytes("<0x0A>"), vec![0x0A]);
        assert_eq!(sentencepiece_bytes("<0xF0>"), vec![0xF0]);
        assert_eq!(sentencepiece_bytes("<0xZZ>"), b"<0xZZ>");
        assert_eq!(sentencepiece_bytes("<0x0A0>"), b"<0x0A0>");
    }

    #[test]
    fn style_detection_reads_sequences() {
        let json = |s: &str| serde_json::from_str::<Value>(s).expect("json");
        let llama2 = json(
            r#"{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
            {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}"#,
        );
        assert_eq!(ByteStyle::detect(Some(&llama2)), ByteStyle::SentencePiece);
        assert_eq!(
            ByteStyle::detect(Some(&json(r#"{"type":"ByteLevel"}"#))),
            ByteStyle::ByteLevel
        );
        assert_eq!(
            ByteStyle::detect(Some(&json(r#"{"type":"Metaspace"}"#))),
            ByteStyle::SentencePiece
        );
        assert_eq!(
            ByteStyle::detect(Some(&json(r#"{"type":"WordPiece"}"#))),
            ByteStyle::Other
        );
        assert_eq!(ByteStyle::detect(None), ByteStyle::Other);
    }
}
