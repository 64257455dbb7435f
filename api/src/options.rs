//! `options`: sampling and runner settings, with Ollama's defaults in one place.
//!
//! Every field is optional on the wire so that layers can be stacked (built-in defaults, then
//! the model's generation_config, then config.toml, then the request); [`Options::resolve`]
//! fills what is still unset from [`defaults`]. A value of the wrong type is a
//! [`OptionError`] naming the option (Ollama answers 500 there; we say which option is wrong).
//! Keys Ollama documents but ignores (mirostat, tfs_z, ...) and unknown keys are accepted and
//! listed in [`Options::ignored`] so the daemon can log them.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Ollama's `DefaultOptions`, the single source of every default.
pub mod defaults {
    /// Tokens of the prompt kept when the context shifts.
    pub const NUM_KEEP: i64 = 4;
    /// Random seed (negative: random).
    pub const SEED: i64 = -1;
    /// Tokens to generate (-1: until a stop or the context is full).
    pub const NUM_PREDICT: i64 = -1;
    /// Top-k sampling (0: off).
    pub const TOP_K: i64 = 40;
    /// Nucleus sampling (1: off).
    pub const TOP_P: f64 = 0.9;
    /// Min-p sampling (0: off).
    pub const MIN_P: f64 = 0.0;
    /// Typical sampling (1: off).
    pub const TYPICAL_P: f64 = 1.0;
    /// Tokens looked back for the repeat penalty (-1: whole context).
    pub const REPEAT_LAST_N: i64 = 64;
    /// Sampling temperature (0: greedy).
    pub const TEMPERATURE: f64 = 0.8;
    /// Repeat penalty (1: off).
    pub const REPEAT_PENALTY: f64 = 1.0;
    /// Presence penalty.
    pub const PRESENCE_PENALTY: f64 = 0.0;
    /// Frequency penalty.
    pub const FREQUENCY_PENALTY: f64 = 0.0;
    /// Context length when nothing else sets it (Ollama's tier below 24 GiB).
    pub const NUM_CTX: i64 = 4096;
    /// Prompt batch size.
    pub const NUM_BATCH: i64 = 512;
}

/// Largest `num_ctx` we accept at all; anything above is surely a mistake (10^9 tokens).
pub const MAX_NUM_CTX: i64 = 1 << 24;

/// An option that has the wrong type or an impossible value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionError {
    /// Wrong JSON type.
    #[error("option {name:?}: expected {expected}, got {got}")]
    Type {
        /// The option.
        name: String,
        /// What it must be.
        expected: &'static str,
        /// What was sent (JSON text).
        got: String,
    },
    /// A value outside the allowed range.
    #[error("option {name:?} is {value}, but must be {allowed}")]
    Range {
        /// The option.
        name: &'static str,
        /// The value sent.
        value: String,
        /// The allowed range in words.
        allowed: &'static str,
    },
}

/// Request options; `None` means "not set at this layer".
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)] // the fields are Ollama's option names, documented in `defaults`
pub struct Options {
    pub num_keep: Option<i64>,
    pub seed: Option<i64>,
    pub num_predict: Option<i64>,
    pub top_k: Option<i64>,
    pub top_p: Option<f64>,
    pub min_p: Option<f64>,
    pub typical_p: Option<f64>,
    pub repeat_last_n: Option<i64>,
    pub temperature: Option<f64>,
    pub repeat_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub stop: Option<Vec<String>>,
    pub num_ctx: Option<i64>,
    pub num_batch: Option<i64>,
    pub num_gpu: Option<i64>,
    pub main_gpu: Option<i64>,
    pub num_thread: Option<i64>,
    pub use_mmap: Option<bool>,
    /// Keys that were accepted but have no effect (unknown or retired); for a log line.
    pub ignored: Vec<String>,
}

/// Options with every value filled in.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct Resolved {
    pub num_keep: i64,
    pub seed: Option<u64>,
    /// `None`: until a stop or the context is full.
    pub num_predict: Option<usize>,
    pub top_k: usize,
    pub top_p: f64,
    pub min_p: f64,
    pub repeat_last_n: i64,
    pub temperature: f64,
    pub repeat_penalty: f64,
    pub presence_penalty: f64,
    pub frequency_penalty: f64,
    pub stop: Vec<String>,
    /// `None`: not set by anyone; the daemon picks the model's or the server's default.
    pub num_ctx: Option<usize>,
}

/// Integer-valued options, in wire order.
const INT_KEYS: &[&str] = &[
    "num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch", "num_gpu",
    "main_gpu", "num_thread",
];
/// Float-valued options, in wire order.
const FLOAT_KEYS: &[&str] =
    &["top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty", "frequency_penalty"];

impl Options {
    /// Reads options from a JSON object, naming the first bad option.
    pub fn from_map(map: &Map<String, Value>) -> Result<Options, OptionError> {
        let mut out = Options::default();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            if INT_KEYS.contains(&key.as_str()) {
                *out.int_slot(key).expect("listed int key") = Some(as_int(key, value)?);
            } else if FLOAT_KEYS.contains(&key.as_str()) {
                *out.float_slot(key).expect("listed float key") = Some(as_float(key, value)?);
            } else if key == "stop" {
                out.stop = Some(as_strings(key, value)?);
            } else if key == "use_mmap" {
                out.use_mmap = Some(value.as_bool().ok_or_else(|| type_error(key, "a boolean", value))?);
            } else {
                out.ignored.push(key.clone());
            }
        }
        Ok(out)
    }

    fn int_slot(&mut self, key: &str) -> Option<&mut Option<i64>> {
        Some(match key {
            "num_keep" => &mut self.num_keep,
            "seed" => &mut self.seed,
            "num_predict" => &mut self.num_predict,
            "top_k" => &mut self.top_k,
            "repeat_last_n" => &mut self.repeat_last_n,
            "num_ctx" => &mut self.num_ctx,
            "num_batch" => &mut self.num_batch,
            "num_gpu" => &mut self.num_gpu,
            "main_gpu" => &mut self.main_gpu,
            "num_thread" => &mut self.num_thread,
            _ => return None,
        })
    }

    fn float_slot(&mut self, key: &str) -> Option<&mut Option<f64>> {
        Some(match key {
            "top_p" => &mut self.top_p,
            "min_p" => &mut self.min_p,
            "typical_p" => &mut self.typical_p,
            "temperature" => &mut self.temperature,
            "repeat_penalty" => &mut self.repeat_penalty,
            "presence_penalty" => &mut self.presence_penalty,
            "frequency_penalty" => &mut self.frequency_penalty,
            _ => return None,
        })
    }

    /// Checks every set value against its allowed range.
    pub fn validate(&self) -> Result<(), OptionError> {
        check_f("temperature", self.temperature, |v| (0.0..=100.0).contains(&v), "between 0 and 100")?;
        check_f("top_p", self.top_p, |v| (0.0..=1.0).contains(&v), "between 0 and 1")?;
        check_f("min_p", self.min_p, |v| (0.0..=1.0).contains(&v), "between 0 and 1")?;
        check_f("typical_p", self.typical_p, |v| (0.0..=1.0).contains(&v), "between 0 and 1")?;
        check_f("repeat_penalty", self.repeat_penalty, |v| (0.0..=100.0).contains(&v), "between 0 and 100")?;
        check_f("presence_penalty", self.presence_penalty, |v| v.abs() <= 100.0, "between -100 and 100")?;
        check_f("frequency_penalty", self.frequency_penalty, |v| v.abs() <= 100.0, "between -100 and 100")?;
        check_i("top_k", self.top_k, |v| v >= 0, "0 or more")?;
        check_i("num_predict", self.num_predict, |v| v >= -2, "-1 (unlimited), -2 (fill the context) or 0 or more")?;
        check_i("num_ctx", self.num_ctx, |v| (1..=MAX_NUM_CTX).contains(&v), "between 1 and 16777216")?;
        check_i("repeat_last_n", self.repeat_last_n, |v| v >= -1, "-1 (whole context) or 0 or more")?;
        check_i("num_keep", self.num_keep, |v| v >= -1, "-1 or more")?;
        check_i("num_batch", self.num_batch, |v| v >= 1, "1 or more")?;
        check_i("num_thread", self.num_thread, |v| v >= 0, "0 or more")?;
        Ok(())
    }

    /// `self` with every value that `over` sets replaced by it.
    #[must_use]
    pub fn overlay(&self, over: &Options) -> Options {
        macro_rules! pick {
            ($($f:ident),*) => { Options { $($f: over.$f.clone().or_else(|| self.$f.clone()),)* ignored: over.ignored.clone() } };
        }
        pick!(
            num_keep, seed, num_predict, top_k, top_p, min_p, typical_p, repeat_last_n, temperature,
            repeat_penalty, presence_penalty, frequency_penalty, stop, num_ctx, num_batch, num_gpu, main_gpu,
            num_thread, use_mmap
        )
    }

    /// Fills unset values from [`defaults`]. Call [`Options::validate`] first.
    pub fn resolve(&self) -> Resolved {
        use defaults as d;
        let num_predict = self.num_predict.unwrap_or(d::NUM_PREDICT);
        Resolved {
            num_keep: self.num_keep.unwrap_or(d::NUM_KEEP),
            seed: self.seed.and_then(|s| u64::try_from(s).ok()),
            num_predict: usize::try_from(num_predict).ok(),
            top_k: usize::try_from(self.top_k.unwrap_or(d::TOP_K)).unwrap_or(0),
            top_p: self.top_p.unwrap_or(d::TOP_P),
            min_p: self.min_p.unwrap_or(d::MIN_P),
            repeat_last_n: self.repeat_last_n.unwrap_or(d::REPEAT_LAST_N),
            temperature: self.temperature.unwrap_or(d::TEMPERATURE),
            repeat_penalty: self.repeat_penalty.unwrap_or(d::REPEAT_PENALTY),
            presence_penalty: self.presence_penalty.unwrap_or(d::PRESENCE_PENALTY),
            frequency_penalty: self.frequency_penalty.unwrap_or(d::FREQUENCY_PENALTY),
            stop: self.stop.clone().unwrap_or_default().into_iter().filter(|s| !s.is_empty()).collect(),
            num_ctx: self.num_ctx.and_then(|n| usize::try_from(n).ok()),
        }
    }

    /// The set values as a JSON object (for /api/show `parameters` and the config file).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut copy = self.clone();
        for key in INT_KEYS {
            if let Some(v) = copy.int_slot(key).and_then(|s| *s) {
                map.insert((*key).to_string(), Value::from(v));
            }
        }
        for key in FLOAT_KEYS {
            if let Some(v) = copy.float_slot(key).and_then(|s| *s) {
                map.insert((*key).to_string(), Value::from(v));
            }
        }
        if let Some(stop) = &self.stop {
            map.insert("stop".into(), Value::from(stop.clone()));
        }
        if let Some(m) = self.use_mmap {
            map.insert("use_mmap".into(), Value::from(m));
        }
        map
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::Null => Ok(Options::default()),
            Value::Object(map) => Options::from_map(&map).map_err(de::Error::custom),
            other => Err(de::Error::custom(format!("options must be a JSON object, got {other}"))),
        }
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map = self.to_map();
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (k, v) in &map {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

fn type_error(key: &str, expected: &'static str, value: &Value) -> OptionError {
    OptionError::Type { name: key.to_string(), expected, got: value.to_string() }
}

/// An integer option; JSON floats are truncated as Ollama does.
fn as_int(key: &str, value: &Value) -> Result<i64, OptionError> {
    if let Some(i) = value.as_i64() {
        return Ok(i);
    }
    match value.as_f64() {
        // Truncation mirrors Ollama's int(float64) conversion; out-of-range saturates and is
        // then rejected by validate().
        #[allow(clippy::cast_possible_truncation)]
        Some(f) if f.is_finite() => Ok(f.trunc() as i64),
        _ => Err(type_error(key, "an integer", value)),
    }
}

fn as_float(key: &str, value: &Value) -> Result<f64, OptionError> {
    value.as_f64().ok_or_else(|| type_error(key, "a number", value))
}

fn as_strings(key: &str, value: &Value) -> Result<Vec<String>, OptionError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| type_error(key, "a list of strings", value)))
            .collect(),
        _ => Err(type_error(key, "a list of strings", value)),
    }
}

fn check_f(name: &'static str, v: Option<f64>, ok: impl Fn(f64) -> bool, allowed: &'static str) -> Result<(), OptionError> {
    match v {
        Some(x) if !x.is_finite() || !ok(x) => Err(OptionError::Range { name, value: x.to_string(), allowed }),
        _ => Ok(()),
    }
}

fn check_i(name: &'static str, v: Option<i64>, ok: impl Fn(i64) -> bool, allowed: &'static str) -> Result<(), OptionError> {
    match v {
        Some(x) if !ok(x) => Err(OptionError::Range { name, value: x.to_string(), allowed }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Options, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_types_and_truncates_float_ints() {
        let o = parse(r#"{"temperature":0,"num_predict":12.9,"stop":["a","b"],"seed":7,"use_mmap":true}"#).unwrap();
        assert_eq!(o.temperature, Some(0.0));
        assert_eq!(o.num_predict, Some(12));
        assert_eq!(o.stop.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert_eq!(o.seed, Some(7));
        assert_eq!(o.use_mmap, Some(true));
        assert_eq!(parse(r#"{"stop":"x"}"#).unwrap().stop, Some(vec!["x".into()]));
    }

    #[test]
    fn wrong_type_names_the_option() {
        let msg = parse(r#"{"temperature":"hot"}"#).unwrap_err().to_string();
        assert!(msg.contains("\"temperature\"") && msg.contains("a number"), "{msg}");
        let msg = parse(r#"{"stop":[1]}"#).unwrap_err().to_string();
        assert!(msg.contains("\"stop\""), "{msg}");
        assert!(parse("[1,2]").is_err());
    }

    #[test]
    fn unknown_and_retired_keys_are_listed() {
        let o = parse(r#"{"mirostat":1,"tfs_z":1.0,"banana":3,"top_k":5}"#).unwrap();
        assert_eq!(o.ignored, vec!["mirostat", "tfs_z", "banana"]);
        assert_eq!(o.top_k, Some(5));
    }

    #[test]
    fn absurd_values_are_named() {
        let cases = [
            (r#"{"num_predict":-5}"#, "num_predict"),
            (r#"{"top_p":7}"#, "top_p"),
            (r#"{"num_ctx":1000000000}"#, "num_ctx"),
            (r#"{"num_ctx":0}"#, "num_ctx"),
            (r#"{"temperature":-1}"#, "temperature"),
            (r#"{"top_k":-3}"#, "top_k"),
        ];
        for (json, name) in cases {
            let err = parse(json).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(name), "{json}: {err}");
        }
        parse(r#"{"num_predict":-1,"top_p":1,"num_ctx":8192,"temperature":0}"#).unwrap().validate().unwrap();
    }

    #[test]
    fn defaults_and_overlay() {
        let r = Options::default().resolve();
        assert_eq!(r.temperature, defaults::TEMPERATURE);
        assert_eq!(r.top_k, 40);
        assert_eq!(r.num_predict, None);
        assert_eq!(r.seed, None);
        let base = parse(r#"{"temperature":0.2,"top_k":10}"#).unwrap();
        let req = parse(r#"{"temperature":0.5}"#).unwrap();
        let merged = base.overlay(&req);
        assert_eq!(merged.temperature, Some(0.5));
        assert_eq!(merged.top_k, Some(10));
    }

    #[test]
    fn serialises_set_values_only() {
        let o = parse(r#"{"temperature":0.5,"stop":["x"]}"#).unwrap();
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"temperature":0.5,"stop":["x"]}"#);
    }
}
