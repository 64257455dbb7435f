//! `~/.ollmlx/config.toml`: the same keys as the environment (lower case, without the
//! `OLLMLX_` prefix) plus per-model tables:
//!
//! ```toml
//! memory_budget = "12GiB"
//! keep_alive = "10m"
//!
//! [model."smollm2:latest"]
//! keep_alive = -1
//! pinned = true
//! options = { temperature = 0.2, num_ctx = 8192 }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use ollmlx_api::{KeepAlive, Options};
use serde::Deserialize;

/// A value that may be written as a number or a string in TOML (`max_queue = 5` or `"5"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Text(String),
    /// A boolean (`control_remote = true`).
    Bool(bool),
}

impl Scalar {
    /// The value as the text an environment variable would hold.
    pub fn text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Text(s) => s.clone(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// `origins = "a,b"` or `origins = ["a", "b"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Origins {
    /// Comma-separated.
    Text(String),
    /// A list.
    List(Vec<String>),
}

/// Per-model settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFileConfig {
    /// Keep-alive for this model (overrides the server default; a request still overrides it).
    pub keep_alive: Option<KeepAlive>,
    /// Pin on load: never evicted or expired.
    #[serde(default)]
    pub pinned: bool,
    /// Default options for this model.
    pub options: Option<Options>,
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FileConfig {
    pub host: Option<String>,
    pub models: Option<String>,
    pub memory_budget: Option<Scalar>,
    pub keep_alive: Option<Scalar>,
    pub max_loaded: Option<Scalar>,
    pub max_queue: Option<Scalar>,
    pub origins: Option<Origins>,
    pub context_length: Option<Scalar>,
    pub load_timeout: Option<Scalar>,
    pub exit_timeout: Option<Scalar>,
    pub log_file: Option<String>,
    pub max_body: Option<Scalar>,
    pub read_timeout: Option<Scalar>,
    pub control_remote: Option<Scalar>,
    pub num_parallel: Option<Scalar>,
    pub prefix_cache: Option<Scalar>,
    /// `[model."name"]` tables.
    #[serde(default)]
    pub model: BTreeMap<String, ModelFileConfig>,
}

impl FileConfig {
    /// Reads `path`; a missing file is an empty config unless `required`.
    pub fn read(path: &Path, required: bool) -> anyhow::Result<FileConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(FileConfig::default()),
            Err(e) => return Err(anyhow::anyhow!("cannot read config file {}: {e}", path.display())),
        };
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_model_tables() {
        let c: FileConfig = toml::from_str(
            r#"
            memory_budget = "12GiB"
            max_queue = 5
            origins = ["a://*"]
            [model."smollm2:latest"]
            keep_alive = -1
            pinned = true
            options = { temperature = 0.2, num_ctx = 8192 }
            "#,
        )
        .unwrap();
        assert_eq!(c.memory_budget.unwrap().text(), "12GiB");
        assert_eq!(c.max_queue.unwrap().text(), "5");
        let m = &c.model["smollm2:latest"];
        assert_eq!(m.keep_alive, Some(KeepAlive::Forever));
        assert!(m.pinned);
        assert_eq!(m.options.as_ref().unwrap().num_ctx, Some(8192));
    }

    #[test]
    fn unknown_keys_and_bad_options_fail_with_names() {
        let e = toml::from_str::<FileConfig>("memory_budgte = 1").unwrap_err().to_string();
        assert!(e.contains("memory_budgte"), "{e}");
        let e = toml::from_str::<FileConfig>("[model.x]\noptions = { temperature = \"hot\" }").unwrap_err();
        assert!(e.to_string().contains("temperature"), "{e}");
    }
}
