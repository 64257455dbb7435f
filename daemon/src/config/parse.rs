//! Parsers for setting values; each error says what was expected.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Ollama's default port.
pub const DEFAULT_PORT: u16 = 11434;

/// `host`, `host:port`, `:port`, `[::1]:port` or `http://host:port` -> a socket address.
pub fn host(text: &str) -> Result<SocketAddr, String> {
    let mut rest = text.trim();
    let mut default_port = DEFAULT_PORT;
    if let Some(r) = rest.strip_prefix("http://") {
        rest = r;
        default_port = 80;
    } else if let Some(r) = rest.strip_prefix("https://") {
        rest = r;
        default_port = 443;
    }
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!("{text:?} has a path; expected host[:port]"));
    }
    let (host, port) = split_host_port(rest).ok_or_else(|| format!("{text:?}: expected host[:port]"))?;
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("{text:?}: port {p:?} is not a number 0-65535"))?,
        None => default_port,
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{text:?}: cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?}: {host:?} has no address"))
}

fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        return match after {
            "" => Some((h, None)),
            p => Some((h, Some(p.strip_prefix(':')?))),
        };
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, _)) if h.contains(':') => Some((text, None)),
        Some((h, p)) => Some((h, Some(p))),
        None => Some((text, None)),
    }
}

/// Bytes: a plain number, a number with a unit (`K`, `KB`, `KiB`, `M`, `G`, `T`; `KB`-style is
/// decimal, the others binary), or a percentage of `total_memory`.
pub fn bytes(text: &str, total_memory: u64) -> Result<u64, String> {
    let t = text.trim();
    let expected = "expected bytes, a size such as \"12GiB\" or \"512MB\", or a percentage such as \"60%\"";
    if let Some(p) = t.strip_suffix('%') {
        let pct: f64 = p.trim().parse().map_err(|_| format!("{text:?}: {expected}"))?;
        if !(0.0..=100.0).contains(&pct) || pct == 0.0 {
            return Err(format!("{text:?}: a percentage must be above 0 and at most 100"));
        }
        return Ok(scale(total_memory as f64 * pct / 100.0));
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("{text:?}: {expected}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        "t" | "tib" => 1024.0f64.powi(4),
        "tb" => 1e12,
        other => return Err(format!("{text:?}: unknown unit {other:?}; {expected}")),
    };
    Ok(scale(value * mult))
}

// Rounding a finite, non-negative size to whole bytes is the intent here.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn scale(v: f64) -> u64 {
    v.round() as u64
}

/// A non-negative integer.
pub fn count(text: &str) -> Result<usize, String> {
    text.trim().parse::<usize>().map_err(|_| format!("{text:?}: expected a whole number 0 or more"))
}

/// A switch: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case).
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{text:?}: expected 1/true/yes/on or 0/false/no/off")),
    }
}

/// Human size for messages: `1.5 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host("127.0.0.1:8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(host("0.0.0.0").unwrap().to_string(), "0.0.0.0:11434");
        assert_eq!(host(":9000").unwrap().to_string(), "127.0.0.1:9000");
        assert_eq!(host("http://127.0.0.1").unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(host("[::1]:5").unwrap().to_string(), "[::1]:5");
        assert_eq!(host("::1").unwrap().to_string(), "[::1]:11434");
        assert!(host("127.0.0.1:99999").is_err());
        assert!(host("127.0.0.1:x").is_err());
        assert!(host("http://a/b").is_err());
    }

    #[test]
    fn sizes() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(bytes("12GiB", 0).unwrap(), 12 * gib);
        assert_eq!(bytes("12G", 0).unwrap(), 12 * gib);
        assert_eq!(bytes("1.5 GiB", 0).unwrap(), 3 * gib / 2);
        assert_eq!(bytes("512MB", 0).unwrap(), 512_000_000);
        assert_eq!(bytes("1000", 0).unwrap(), 1000);
        assert_eq!(bytes("50%", 1000).unwrap(), 500);
        for bad in ["", "abc", "12XB", "0%", "150%", "-5", "%"] {
            assert!(bytes(bad, 1000).is_err(), "{bad}");
        }
        assert_eq!(human_bytes(3 * gib / 2), "1.5 GiB");
    }

    #[test]
    fn booleans() {
        for t in ["1", "true", "TRUE", " yes ", "on"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["0", "false", "No", "off"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert!(boolean("maybe").is_err());
        assert!(boolean("").is_err());
    }
}
