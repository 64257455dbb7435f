//! What a model folder's JSON side files say about special tokens: `tokenizer_config.json`,
//! `special_tokens_map.json`, `generation_config.json` and `config.json`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::TextError;

/// The special-token names `transformers` exposes to chat templates, in its order.
const SPECIAL_NAMES: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// `tokenizer_config.json` (an empty map when the file is absent) and where it lives.
pub(crate) struct TokenizerConfig {
    pub path: PathBuf,
    pub fields: Map<String, Value>,
}

impl TokenizerConfig {
    /// Reads `dir/tokenizer_config.json`; a missing file is an empty config.
    pub fn read(dir: &Path) -> Result<Self, TextError> {
        let path = dir.join("tokenizer_config.json");
        let fields = read_object(&path)?.unwrap_or_default();
        Ok(Self { path, fields })
    }

    /// The special tokens as `(name, text)`: `tokenizer_config.json` first, then
    /// `special_tokens_map.json` for the names it lacks (as transformers' legacy path does).
    pub fn special_tokens(&self, dir: &Path) -> Result<Vec<(&'static str, String)>, TextError> {
        let map_path = dir.join("special_tokens_map.json");
        let map = read_object(&map_path)?.unwrap_or_default();
        let mut out = Vec::new();
        for name in SPECIAL_NAMES {
            let own = token_text(&self.path, name, self.fields.get(name))?;
            let text = match own {
                Some(text) => Some(text),
                None => token_text(&map_path, name, map.get(name))?,
            };
            if let Some(text) = text {
                out.push((name, text));
            }
        }
        Ok(out)
    }

    /// `add_bos_token`, when the file says.
    pub fn add_bos_token(&self) -> Result<Option<bool>, TextError> {
        match self.fields.get("add_bos_token") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(field_error(
                &self.path,
                "add_bos_token",
                "is not a boolean",
                other,
            )),
        }
    }
}

/// Token ids from `generation_config.json`, falling back to `config.json`, as mlx-lm's
/// `load_config` does: `generation_config`'s `eos_token_id` wins when present and non-empty.
pub(crate) struct GenerationIds {
    pub eos: Vec<u32>,
    pub bos: Option<u32>,
}

impl GenerationIds {
    /// Reads both files; either may be absent. A `generation_config.json` that does not parse is
    /// skipped with a warning, because mlx-lm skips it too and the model still works without it.
    pub fn read(dir: &Path) -> Result<Self, TextError> {
        let gen_path = dir.join("generation_config.json");
        let generation = match read_object(&gen_path) {
            Ok(fields) => fields.unwrap_or_default(),
            Err(TextError::Json { path, source }) => {
                tracing::warn!(path = %path.display(), error = %source, "ignoring unparseable file");
                Map::new()
            }
            Err(e) => return Err(e),
        };
        let mut eos = id_list(&gen_path, "eos_token_id", generation.get("eos_token_id"))?;
        let mut bos = id_list(&gen_path, "bos_token_id", generation.get("bos_token_id"))?;
        if eos.is_empty() || bos.is_empty() {
            let cfg_path = dir.join("config.json");
            let config = read_object(&cfg_path)?.unwrap_or_default();
            if eos.is_empty() {
                eos = id_list(&cfg_path, "eos_token_id", config.get("eos_token_id"))?;
            }
            if bos.is_empty() {
                bos = id_list(&cfg_path, "bos_token_id", config.get("bos_token_id"))?;
            }
        }
        Ok(Self {
            eos,
            bos: bos.first().copied(),
        })
    }
}

/// Reads a JSON file that must hold an object; `Ok(None)` when the file does not exist.
pub(crate) fn read_object(path: &Path) -> Result<Option<Map<String, Value>>, TextError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TextError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(field_error(
            path,
            "(top level)",
            "is not a JSON object",
            &other,
        )),
        Err(source) => Err(TextError::Json {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A special token's text: a plain string, or an `AddedToken` object's `content`.
fn token_text(
    path: &Path,
    field: &str,
    value: Option<&Value>,
) -> Result<Option<String>, TextError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(obj)) => match obj.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(TextError::Field {
                path: path.to_owned(),
                field: field.to_owned(),
                message: "is an object without a string `content`".to_owned(),
            }),
        },
        Some(other) => Err(field_error(
            path,
            field,
            "is neither a string nor a token object",
            other,
        )),
    }
}

/// A token id field that may be an integer, a list of integers, or null.
fn id_list(path: &Path, field: &str, value: Option<&Value>) -> Result<Vec<u32>, TextError> {
    let as_id = |v: &Value| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| field_error(path, field, "holds something that is not a token id", v))
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(as_id).collect(),
        Some(v) => Ok(vec![as_id(v)?]),
    }
}

fn field_error(path: &Path, field: &str, what: &str, value: &Value) -> TextError {
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let mut cut = 80;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    TextError::Field {
        path: path.to_owned(),
        field: field.to_owned(),
        message: format!("{what}: {shown}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }

    #[test]
    fn special_tokens_accept_strings_objects_and_fill_from_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "tokenizer_config.json",
            r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null}"#,
        );
        write(
            dir.path(),
            "special_tokens_map.json",
            r#"{"eos_token": "IGNORED", "unk_token": {"content": "<unk>"}}"#,
        );
        let cfg = TokenizerConfig::read(dir.path()).expect("read");
        let special = cfg.special_tokens(dir.path()).expect("special");
        assert_eq!(
            special,
            vec![
                ("bos_token", "<s>".to_owned()),
                ("eos_token", "</s>".to_owned()),
                ("unk_token", "<unk>".to_owned())
            ]
        );
    }

    #[test]
    fn bad_shapes_name_file_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "tokenizer_config.json",
            r#"{"eos_token": 7, "add_bos_token": "yes"}"#,
        );
        let cfg = TokenizerConfig::read(dir.path()).expect("read");
        let err = cfg
            .special_tokens(dir.path())
            .expect_err("eos_token is a number");
        let msg = err.to_string();
        assert!(
            msg.contains("tokenizer_config.json") && msg.contains("`eos_token`"),
            "{msg}"
        );
        let err = cfg.add_bos_token().expect_err("not a bool").to_string();
        assert!(err.contains("`add_bos_token`"), "{err}");
    }

    #[test]
    fn generation_ids_prefer_generation_config_then_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "config.json",
            r#"{"eos_token_id": 5, "bos_token_id": 1}"#,
        );
        let ids = GenerationIds::read(dir.path()).expect("config only");
        assert_eq!((ids.eos, ids.bos), (vec![5], Some(1)));
        write(
            dir.path(),
            "generation_config.json",
            r#"{"eos_token_id": [7, 8]}"#,
        );
        let ids = GenerationIds::read(dir.path()).expect("both");
        assert_eq!((ids.eos, ids.bos), (vec![7, 8], Some(1)));
        write(
            dir.path(),
            "generation_config.json",
            r#"{"eos_token_id": [-1]}"#,
        );
        assert!(matches!(
            GenerationIds::read(dir.path()),
            Err(TextError::Field { .. })
        ));
        write(dir.path(), "generation_config.json", "{not json");
        let ids =
            GenerationIds::read(dir.path()).expect("unparseable generation config is skipped");
        assert_eq!(ids.eos, vec![5]);
    }

    #[test]
    fn non_object_json_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "tokenizer_config.json", "[1, 2]");
        assert!(matches!(
            TokenizerConfig::read(dir.path()),
            Err(TextError::Field { .. })
        ));
        write(dir.path(), "tokenizer_config.json", "{");
        assert!(matches!(
            TokenizerConfig::read(dir.path()),
            Err(TextError::Json { .. })
        ));
    }
}
