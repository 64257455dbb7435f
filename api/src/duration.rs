//! `keep_alive`: how long a model stays loaded after its last request.
//!
//! Accepted on the wire (Ollama's rules, plus the unit-less strings Ollama rejects):
//! a JSON number of seconds (fractions allowed), a Go duration string (`"5m"`, `"1h30m"`,
//! `"300ms"`, `"-1m"`), or a bare numeric string of seconds (`"300"`, `"-1"`). Any negative
//! value means "until unloaded"; zero means "unload when the request ends".

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A keep-alive setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Keep the model until it is unloaded explicitly or evicted (any negative value).
    Forever,
    /// Keep the model this long after its last request ends; zero unloads at once.
    For(Duration),
}

/// A keep-alive value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepAliveError {
    /// The string is neither a number nor a Go duration.
    #[error("invalid duration {0:?}: expected seconds (e.g. 300) or a duration such as \"5m\", \"1h30m\", \"-1\"")]
    Invalid(String),
    /// The value does not fit in a duration.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

impl KeepAlive {
    /// Zero: unload as soon as the request ends.
    pub const ZERO: KeepAlive = KeepAlive::For(Duration::ZERO);

    /// Parses a string: a unit-less number of seconds or a Go duration.
    pub fn parse(text: &str) -> Result<KeepAlive, KeepAliveError> {
        let trimmed = text.trim().trim_matches(|c| c == '"' || c == '\'');
        if let Ok(seconds) = trimmed.parse::<f64>() {
            return KeepAlive::from_seconds(seconds).ok_or_else(|| KeepAliveError::Overflow(text.to_string()));
        }
        parse_go_duration(trimmed).map_err(|e| match e {
            GoDurationError::Invalid => KeepAliveError::Invalid(text.to_string()),
            GoDurationError::Overflow => KeepAliveError::Overflow(text.to_string()),
        })
    }

    /// Seconds as a JSON number gives them: negative means forever.
    pub fn from_seconds(seconds: f64) -> Option<KeepAlive> {
        if seconds.is_nan() {
            return None;
        }
        if seconds < 0.0 {
            return Some(KeepAlive::Forever);
        }
        Duration::try_from_secs_f64(seconds).ok().map(KeepAlive::For)
    }

    /// True when the model should be unloaded as soon as its requests end.
    pub fn is_zero(&self) -> bool {
        *self == KeepAlive::ZERO
    }

    /// The duration, or `None` for forever.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            KeepAlive::Forever => None,
            KeepAlive::For(d) => Some(*d),
        }
    }
}

impl fmt::Display for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepAlive::Forever => f.write_str("-1"),
            KeepAlive::For(d) => f.write_str(&format_go_duration(*d)),
        }
    }
}

impl Serialize for KeepAlive {
    /// As Ollama re-serialises it: `-1` for forever, a Go duration string otherwise.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepAlive::Forever => serializer.serialize_i64(-1),
            KeepAlive::For(d) => serializer.serialize_str(&format_go_duration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for KeepAlive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeepAliveVisitor)
    }
}

struct KeepAliveVisitor;

impl Visitor<'_> for KeepAliveVisitor {
    type Value = KeepAlive;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("keep_alive as seconds (number or numeric string) or a duration string such as \"5m\"")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeepAlive, E> {
        if v < 0 {
            return Ok(KeepAlive::Forever);
        }
        Ok(KeepAlive::For(Duration::from_secs(v.unsigned_abs())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeepAlive, E> {
        Ok(KeepAlive::For(Duration::from_secs(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeepAlive, E> {
        KeepAlive::from_seconds(v).ok_or_else(|| E::custom(format!("invalid keep_alive {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeepAlive, E> {
        KeepAlive::parse(v).map_err(|e| E::custom(format!("invalid keep_alive: {e}")))
    }
}

enum GoDurationError {
    Invalid,
    Overflow,
}

/// Parses Go's `time.ParseDuration` syntax: an optional sign, then one or more
/// `<decimal><unit>` pairs with units ns, us (µs), ms, s, m, h. A lone "0" is zero.
/// Negative results become [`KeepAlive::Forever`].
fn parse_go_duration(text: &str) -> Result<KeepAlive, GoDurationError> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return Err(GoDurationError::Invalid);
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(GoDurationError::Invalid);
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| GoDurationError::Invalid)?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(GoDurationError::Invalid),
        };
        rest = &rest[unit_len..];
        total_nanos += value * scale;
    }
    if negative && total_nanos > 0.0 {
        return Ok(KeepAlive::Forever);
    }
    if total_nanos > u64::MAX as f64 {
        return Err(GoDurationError::Overflow);
    }
    // Truncation is intended: Go durations are integer nanoseconds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(KeepAlive::For(Duration::from_nanos(total_nanos as u64)))
}

/// Formats like Go's `Duration.String`: `5m0s`, `1h0m0s`, `1.5s`, `300ms`, `0s`.
fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    let total_secs = d.as_secs();
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs_nanos = nanos % 60_000_000_000;
    let secs = trim_fraction(secs_nanos, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / unit` with the fraction written without trailing zeros (`1500, 1000` -> `1.5`).
fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(json: &str) -> Result<KeepAlive, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_are_seconds() {
        assert_eq!(de("300").unwrap(), KeepAlive::For(Duration::from_secs(300)));
        assert_eq!(de("1.5").unwrap(), KeepAlive::For(Duration::from_millis(1500)));
        assert_eq!(de("0").unwrap(), KeepAlive::ZERO);
        assert_eq!(de("-1").unwrap(), KeepAlive::Forever);
        assert_eq!(de("-0.5").unwrap(), KeepAlive::Forever);
    }

    #[test]
    fn unitless_strings_are_seconds() {
        assert_eq!(de("\"300\"").unwrap(), KeepAlive::For(Duration::from_secs(300)));
        assert_eq!(de("\"-1\"").unwrap(), KeepAlive::Forever);
        assert_eq!(de("\"0\"").unwrap(), KeepAlive::ZERO);
        assert_eq!(de("\" 10 \"").unwrap(), KeepAlive::For(Duration::from_secs(10)));
    }

    #[test]
    fn go_durations() {
        assert_eq!(de("\"5m\"").unwrap(), KeepAlive::For(Duration::from_secs(300)));
        assert_eq!(de("\"1h30m\"").unwrap(), KeepAlive::For(Duration::from_secs(5400)));
        assert_eq!(de("\"300ms\"").unwrap(), KeepAlive::For(Duration::from_millis(300)));
        assert_eq!(de("\"1.5h\"").unwrap(), KeepAlive::For(Duration::from_secs(5400)));
        assert_eq!(de("\"0s\"").unwrap(), KeepAlive::ZERO);
        assert_eq!(de("\"0m\"").unwrap(), KeepAlive::ZERO);
        assert_eq!(de("\"-1m\"").unwrap(), KeepAlive::Forever);
        assert_eq!(de("\"2us\"").unwrap(), KeepAlive::For(Duration::from_micros(2)));
    }

    #[test]
    fn rejects_garbage_and_other_types() {
        for bad in ["\"five\"", "\"5x\"", "\"\"", "\"m5\"", "\"-\"", "true", "{}", "[1]", "null"] {
            assert!(de(bad).is_err(), "{bad} should fail");
        }
        let msg = de("\"soon\"").unwrap_err().to_string();
        assert!(msg.contains("keep_alive") && msg.contains("soon"), "{msg}");
    }

    #[test]
    fn serialises_like_ollama() {
        assert_eq!(serde_json::to_string(&KeepAlive::Forever).unwrap(), "-1");
        let cases = [(300, "5m0s"), (3600, "1h0m0s"), (90, "1m30s"), (0, "0s"), (5, "5s")];
        for (secs, text) in cases {
            assert_eq!(KeepAlive::For(Duration::from_secs(secs)).to_string(), text);
        }
        assert_eq!(KeepAlive::For(Duration::from_millis(1500)).to_string(), "1.5s");
        assert_eq!(KeepAlive::For(Duration::from_millis(300)).to_string(), "300ms");
    }

    #[test]
    fn round_trips() {
        for text in ["5m0s", "1h0m0s", "1.5s", "300ms", "0s"] {
            let ka = KeepAlive::parse(text).unwrap();
            assert_eq!(ka.to_string(), text);
        }
    }
}
