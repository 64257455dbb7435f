//! The engine's text side against references: chat templates rendered by transformers
//! (fixtures/templates/expected, made by render_expected.py), tokenizations by transformers
//! (fixtures/tokenizers/expected.json, made by encode_expected.py), and property tests of the
//! streaming detokenizer on the real SmolLM2 tokenizer (the stop matcher's are in its module).
mod common;

use std::path::{Path, PathBuf};

use ollmlx_engine::text::{ChatRenderRequest, ChatTemplate, TemplateFailure, TextError, Tokenizer};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn smollm2() -> Tokenizer {
    Tokenizer::from_dir(&common::model_dir("smollm2-135m-instruct-q4")).expect("SmolLM2 tokenizer")
}

fn spm_tiny() -> Tokenizer {
    Tokenizer::from_dir(&fixtures().join("tokenizers/spm-tiny")).expect("spm-tiny tokenizer")
}

/// SplitMix64: a tiny seeded generator so the property tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("fits")
    }

    fn text(&mut self, alphabet: &[&str], max_len: usize) -> String {
        (0..self.below(max_len + 1))
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

// ---------------------------------------------------------------- chat templates

/// Renders one fixture case the way render_expected.py does.
fn render_case(template: &ChatTemplate, case: &Value, extra: &Value) -> Result<String, TextError> {
    let messages = case["messages"].as_array().expect("messages").clone();
    let tools = case.get("tools").and_then(Value::as_array).cloned();
    let documents = case.get("documents").and_then(Value::as_array).cloned();
    let mut req = ChatRenderRequest::new(&messages);
    req.tools = tools.as_deref();
    req.documents = documents.as_deref();
    req.add_generation_prompt = case
        .get("add_generation_prompt")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    for source in [extra, case.get("extra").unwrap_or(&Value::Null)] {
        if let Some(map) = source.as_object() {
            req.extra.extend(map.clone());
        }
    }
    template.render(&req)
}

/// Compares one rendering with transformers' result: text byte for byte, or the same refusal.
fn check_case(
    dir: &Path,
    name: &str,
    case_name: &str,
    got: Result<String, TextError>,
) -> Option<String> {
    let txt = dir.join(format!("expected/{name}.{case_name}.txt"));
    let err = dir.join(format!("expected/{name}.{case_name}.err"));
    if let Ok(want) = std::fs::read_to_string(&txt) {
        return match got {
            Ok(text) if text == want => None,
            Ok(text) => Some(format!(
                "{name}/{case_name}: text differs\n--- want\n{want}\n--- got\n{text}"
            )),
            Err(e) => Some(format!("{name}/{case_name}: want text, got error {e}")),
        };
    }
    let want = std::fs::read_to_string(&err)
        .unwrap_or_else(|_| panic!("no expected file for {name}/{case_name}"));
    let (kind, message) = want.split_once('\n').unwrap_or((want.as_str(), ""));
    match (kind, got) {
        (_, Ok(text)) => Some(format!(
            "{name}/{case_name}: transformers fails ({want}) but we rendered\n{text}"
        )),
        (
            "raised",
            Err(TextError::Template {
                message: m,
                failure: TemplateFailure::Raised,
                ..
            }),
        ) if m == message => None,
        ("raised", Err(e)) => Some(format!(
            "{name}/{case_name}: want raise_exception({message:?}), got {e:?}"
        )),
        (
            _,
            Err(TextError::Template {
                failure: TemplateFailure::Render,
                ..
            }),
        ) => None,
        (_, Err(e)) => Some(format!(
            "{name}/{case_name}: want a render error, got {e:?}"
        )),
    }
}

#[test]
fn templates_render_like_transformers() {
    let dir = fixtures().join("templates");
    let cases = read_json(&dir.join("cases.json"));
    let manifest = read_json(&dir.join("manifest.json"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, entry) in manifest.as_object().expect("manifest object") {
        let source =
            std::fs::read_to_string(dir.join(format!("{name}.jinja"))).expect("template source");
        let special: Vec<(&str, &str)> = entry["special"]
            .as_object()
            .expect("special")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("token text")))
            .collect();
        let template =
            ChatTemplate::from_source(name, &source, &special).expect("template compiles");
        for case_name in entry["cases"].as_array().expect("cases") {
            let case_name = case_name.as_str().expect("case name");
            let got = render_case(
                &template,
                &cases[case_name],
                entry.get("extra").unwrap_or(&Value::Null),
            );
            failures.extend(check_case(&dir, name, case_name, got));
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn smollm2_folder_template_and_tokens_match_apply_chat_template() {
    let dir = common::model_dir("smollm2-135m-instruct-q4");
    let template = ChatTemplate::from_dir(&dir)
        .expect("load")
        .expect("SmolLM2 has a chat template");
    let fixture =
        std::fs::read_to_string(fixtures().join("templates/smollm2.jinja")).expect("fixture");
    assert_eq!(template.source(), fixture);
    let expected = read_json(&fixtures().join("tokenizers/expected.json"));
    let chat = &expected["smollm2"]["chat"];
    let messages = chat["messages"].as_array().expect("messages").clone();
    let prompt = template
        .render(&ChatRenderRequest::new(&messages))
        .expect("render");
    assert_eq!(prompt, chat["prompt"].as_str().expect("prompt"));
    let ids = smollm2().encode(&prompt, false).expect("encode");
    let want: Vec<u32> = serde_json::from_value(chat["ids"].clone()).expect("ids");
    assert_eq!(ids, want);
}

#[test]
fn template_sources_and_named_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = json!({
        "eos_token": {"content": "</s>"},
        "chat_template": [
            {"name": "default", "template": "D{{ messages|length }}{{ eos_token }}"},
            {"name": "tool_use", "template": "T{{ tools|length }}{% generation %}G{% endgeneration %}"}
        ]
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).expect("write");
    let template = ChatTemplate::from_dir(dir.path())
        .expect("load")
        .expect("present");
    assert!(template.has_tool_use_template());
    let messages = [json!({"role": "user", "content": "hi"})];
    let tools = [json!({"type": "function"})];
    let mut req = ChatRenderRequest::new(&messages);
    assert_eq!(template.render(&req).expect("default"), "D1</s>");
    req.tools = Some(&tools);
    assert_eq!(template.render(&req).expect("tool_use"), "T1G");

    // chat_template.jinja wins over tokenizer_config.json, as in transformers.
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "J{{ bos_token is defined }}",
    )
    .expect("write");
    let template = ChatTemplate::from_dir(dir.path())
        .expect("load")
        .expect("present");
    assert_eq!(
        template
            .render(&ChatRenderRequest::new(&messages))
            .expect("jinja file"),
        "JFalse"
    );

    let empty = tempfile::tempdir().expect("tempdir");
    assert!(ChatTemplate::from_dir(empty.path())
        .expect("no files is fine")
        .is_none());
}

#[test]
fn template_errors_are_typed_and_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "line one\n{{ ok }}\n{% for x in %}\n",
    )
    .expect("write");
    match ChatTemplate::from_dir(dir.path()) {
        Err(TextError::Template {
            template,
            line,
            failure: TemplateFailure::Syntax,
            ..
        }) => {
            assert_eq!((template.as_str(), line), ("chat_template.jinja", Some(3)));
        }
        other => panic!("want a syntax error, got {other:?}"),
    }
    let t =
        ChatTemplate::from_source("t", "{{ messages[0].content.nope() }}", &[]).expect("compiles");
    let messages = [json!({"role": "user", "content": "x"})];
    let err = t
        .render(&ChatRenderRequest::new(&messages))
        .expect_err("unknown method");
    assert!(
        matches!(
            err,
            TextError::Template {
                failure: TemplateFailure::Render,
                line: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    let mut req = ChatRenderRequest::new(&messages);
    req.extra.insert("messages".into(), json!([]));
    assert!(matches!(t.render(&req), Err(TextError::BadRequest(_))));
    let bad = [json!("not an object")];
    assert!(matches!(
        t.render(&ChatRenderRequest::new(&bad)),
        Err(TextError::BadRequest(_))
    ));
}

#[test]
fn strftime_now_gives_todays_date() {
    let source =
        std::fs::read_to_string(fixtures().join("templates/llama3.2.jinja")).expect("fixture");
    let template =
        ChatTemplate::from_source("llama3.2", &source, &[("bos_token", "<|begin_of_text|>")])
            .expect("compiles");
    let messages = [json!({"role": "user", "content": "hi"})];
    let before = chrono::Local::now().format("%d %b %Y").to_string();
    let text = template
        .render(&ChatRenderRequest::new(&messages))
        .expect("render");
    let after = chrono::Local::now().format("%d %b %Y").to_string();
    assert!(
        text.contains(&format!("Today Date: {before}"))
            || text.contains(&format!("Today Date: {after}")),
        "{text}"
    );
}

// ---------------------------------------------------------------- tokenizer

#[test]
fn tokenizers_match_transformers() {
    let expected = read_json(&fixtures().join("tokenizers/expected.json"));
    for (name, tok) in [("smollm2", smollm2()), ("spm-tiny", spm_tiny())] {
        for case in expected[name]["texts"].as_array().expect("texts") {
            let text = case["text"].as_str().expect("text");
            let ids = tok.encode(text, false).expect("encode");
            let want =
                |key: &str| serde_json::from_value::<Vec<u32>>(case[key].clone()).expect("ids");
            assert_eq!(ids, want("ids"), "{name}: {text:?}");
            assert_eq!(
                tok.encode(text, true).expect("encode"),
                want("ids_special"),
                "{name}: {text:?}"
            );
            assert_eq!(
                tok.decode(&ids, false).expect("decode"),
                case["decoded"].as_str().expect("decoded")
            );
            assert_eq!(
                tok.decode(&ids, true).expect("decode"),
                case["decoded_skip"].as_str().expect("decoded")
            );
        }
    }
}

#[test]
fn text_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Tokenizer>();
    send_sync::<ChatTemplate>();
    send_sync::<ollmlx_engine::text::StopMatcher>();
    send_sync::<ollmlx_engine::text::StreamingDetokenizer<'static>>();
}

#[test]
fn special_tokens_and_eos_ids() {
    let tok = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.eos_token_ids(), &[2]);
    assert_eq!(
        (tok.bos_token(), tok.bos_token_id()),
        (Some("<|im_start|>"), Some(1))
    );
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert_eq!(tok.add_bos_token(), Some(false));
    assert!(tok.is_eos(2) && !tok.is_eos(1));
    assert!(tok.is_special(2) && !tok.is_special(19556));
    assert_eq!(tok.id_to_token(19556).as_deref(), Some("Hello"));
    let spm = spm_tiny();
    assert_eq!(
        (spm.bos_token_id(), spm.eos_token_ids()),
        (Some(1), &[2][..])
    );
}

#[test]
fn token_bytes_rebuild_the_text() {
    let tok = smollm2();
    for text in ["Grüße 👋🏽 你好", "  tabs\tand\nnewlines ", "plain ascii 123"] {
        let bytes: Vec<u8> = tok
            .encode(text, false)
            .expect("encode")
            .iter()
            .flat_map(|&id| tok.token_bytes(id))
            .collect();
        assert_eq!(bytes, text.as_bytes());
    }
    assert_eq!(tok.token_bytes(2), b"<|im_end|>");
    assert!(tok.token_bytes(10_000_000).is_empty());
    let spm = spm_tiny();
    let ids = spm.encode("Hello 😀 wörld", false).expect("encode");
    let bytes: Vec<u8> = ids.iter().flat_map(|&id| spm.token_bytes(id)).collect();
    assert_eq!(
        bytes,
        " Hello 😀 wörld".as_bytes(),
        "SentencePiece pieces keep their ▁ as a space"
    );
    let f0 = spm.token_to_id("<0xF0>").expect("byte token");
    assert_eq!(spm.token_bytes(f0), vec![0xF0]);
}

#[test]
fn missing_or_broken_tokenizer_json_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    match Tokenizer::from_dir(dir.path()) {
        Err(TextError::MissingFile { path }) => assert!(path.ends_with("tokenizer.json")),
        other => panic!("want MissingFile, got {other:?}"),
    }
    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"model": {"type": "Nope"}}"#,
    )
    .expect("write");
    let err = Tokenizer::from_dir(dir.path()).expect_err("bad model");
    assert!(matches!(err, TextError::TokenizerLoad { .. }), "{err:?}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

// ---------------------------------------------------------------- streaming detokenizer

/// Streams `ids` and checks the pieces against the full decode.
fn stream_matches_decode(tok: &Tokenizer, ids: &[u32]) {
    let full = tok.decode(ids, false).expect("decode");
    let mut detok = tok.detokenizer();
    let mut joined = String::new();
    for &id in ids {
        let piece = detok.push(id);
        assert!(
            !piece.contains('\u{FFFD}') || full.contains('\u{FFFD}'),
            "ids {ids:?}: piece {piece:?}"
        );
        joined.push_str(&piece);
    }
    joined.push_str(&detok.finish());
    assert_eq!(joined, full, "ids {ids:?}");
}

#[test]
fn detokenizer_random_ids_concatenate_to_the_full_decode() {
    let tok = smollm2();
    let vocab = tok.vocab_size();
    // Byte tokens (ids 0..~300 in this vocabulary hold the single bytes) make broken UTF-8 likely.
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..400 {
        let len = 1 + rng.below(40);
        let ids: Vec<u32> = (0..len)
            .map(|_| {
                if rng.below(2) == 0 {
                    rng.below(300)
                } else {
                    rng.below(vocab)
                }
            })
            .map(|id| u32::try_from(id).expect("id"))
            .collect();
        stream_matches_decode(&tok, &ids);
    }
}

#[test]
fn detokenizer_round_trips_encoded_text() {
    let alphabet = [
        "a",
        "b",
        " ",
        "  ",
        "\n",
        "é",
        "ß",
        "你",
        "好",
        "😀",
        "👋🏽",
        "1",
        "23",
        ".",
        "'",
        "<|im_end|>",
        "Ġ",
    ];
    let mut rng = Rng(0x5EED_0002);
    for tok in [smollm2(), spm_tiny()] {
        for _ in 0..200 {
            let text = rng.text(&alphabet, 30);
            let ids = tok.encode(&text, false).expect("encode");
            stream_matches_decode(&tok, &ids);
        }
    }
}

#[test]
fn detokenizer_holds_a_split_emoji_until_complete() {
    let tok = smollm2();
    // "😀" is F0 9F 98 80; byte-level BPE spells each byte with one alphabet character.
    let byte_ids: Vec<u32> = ["ð", "Ł", "ĺ", "Ģ"]
        .iter()
        .map(|t| tok.token_to_id(t).expect("byte token"))
        .collect();
    let mut detok = tok.detokenizer();
    let hi = tok.encode("Hi", false).expect("encode");
    assert_eq!(detok.push(hi[0]), "Hi");
    let pieces: Vec<String> = byte_ids.iter().map(|&id| detok.push(id)).collect();
    assert_eq!(pieces, ["", "", "", "😀"]);
    assert_eq!(detok.push(byte_ids[0]), "");
    assert_eq!(
        detok.finish(),
        "\u{FFFD}",
        "an unfinished character is flushed as U+FFFD, like decode"
    );

    let spm = spm_tiny();
    let ids = spm.encode("Hello 😀 there", false).expect("encode");
    let mut detok = spm.detokenizer();
    let pieces: Vec<String> = ids.iter().map(|&id| detok.push(id)).collect();
    assert_eq!(
        pieces.first().map(String::as_str),
        Some("Hello "),
        "leading ▁ dropped only at the start"
    );
    assert!(
        pieces.iter().any(|p| p.contains('😀')) && pieces.iter().all(|p| !p.contains('\u{FFFD}'))
    );
    assert_eq!(pieces.concat() + &detok.finish(), "Hello 😀 there");
}
