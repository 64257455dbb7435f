//! systemd user units: `ollmlx.service` and the optional `ollmlx.socket`.
//!
//! Quoting follows systemd.syntax(7) and systemd.service(5): words are unquoted and C-unescaped
//! first, then `%` specifiers are expanded (so a literal `%` is `%%`), and in `ExecStart=` only,
//! `$VAR` is substituted at exec time (so a literal `$` is `$$`). `Environment=` gives `$` no
//! meaning, so it is written as is.

use std::fmt::Write as _;

use crate::error::Result;
use crate::spec::{path_str, ServiceSpec, SocketSpec};

/// Stem of both unit names.
pub const UNIT_STEM: &str = "ollmlx";
/// The service unit's file name.
pub const SERVICE_UNIT: &str = "ollmlx.service";
/// The socket unit's file name.
pub const SOCKET_UNIT: &str = "ollmlx.socket";

/// Renders `ollmlx.service` for `spec` (validated first). With `spec.socket` set, the service
/// requires and orders after `ollmlx.socket`, which hands it the listener.
///
/// # Errors
/// [`crate::Error::InvalidSpec`] for values a unit file cannot carry.
pub fn service_unit(spec: &ServiceSpec) -> Result<String> {
    spec.validate()?;
    let mut exec = quote_exec_word(path_str("program", &spec.program)?);
    for arg in &spec.args {
        exec.push(' ');
        exec.push_str(&quote_exec_word(arg));
    }
    let mut unit = String::from(GENERATED_HEADER);
    unit.push_str("[Unit]\nDescription=ollmlx daemon (Ollama API served from MLX)\n");
    if spec.socket.is_some() {
        // Requires= pulls the socket in; After= makes sure it is listening before we start.
        let _ = writeln!(unit, "Requires={SOCKET_UNIT}\nAfter={SOCKET_UNIT}");
    }
    unit.push_str("\n[Service]\nType=notify\nNotifyAccess=main\n");
    let _ = writeln!(unit, "ExecStart={exec}");
    for (key, value) in &spec.env {
        let _ = writeln!(unit, "Environment={}", quote_environment(key, value));
    }
    // on-failure mirrors launchd's KeepAlive{SuccessfulExit=false}: a clean stop stays stopped.
    let _ = writeln!(
        unit,
        "Restart=on-failure\nRestartSec={}",
        spec.throttle_interval_s
    );
    let _ = writeln!(
        unit,
        "TimeoutStopSec={}\nWatchdogSec={}",
        spec.exit_timeout_s, spec.watchdog_s
    );
    unit.push_str("\n[Install]\nWantedBy=default.target\n");
    Ok(unit)
}

/// Renders `ollmlx.socket` listening on `socket` (IPv6 addresses get brackets).
#[must_use]
pub fn socket_unit(socket: &SocketSpec) -> String {
    let host = socket.host.trim_start_matches('[').trim_end_matches(']');
    let listen = match socket.ip() {
        Some(ip) if ip.is_ipv6() => format!("[{host}]:{}", socket.port),
        _ => format!("{host}:{}", socket.port),
    };
    format!(
        "{GENERATED_HEADER}[Unit]\nDescription=ollmlx daemon listener\n\n[Socket]\n\
         ListenStream={}\n\n[Install]\nWantedBy=sockets.target\n",
        escape_specifiers(&listen)
    )
}

const GENERATED_HEADER: &str = "# Written by ollmlx; reinstalling the service overwrites it.\n";

/// One `Environment=` assignment, double-quoted: `"KEY=value"`.
///
/// The key is not escaped: [`ServiceSpec::validate`] only admits `[A-Za-z_][A-Za-z0-9_]*`.
#[must_use]
pub fn quote_environment(key: &str, value: &str) -> String {
    format!("\"{key}={}\"", c_escape(&escape_specifiers(value)))
}

/// One `ExecStart=` word: `%` and `$` doubled, quoted only when it has to be.
#[must_use]
pub fn quote_exec_word(word: &str) -> String {
    // A bare `;` separates command lines; systemd.service(5) spells a literal one `\;`.
    if word == ";" {
        return "\\;".to_owned();
    }
    let escaped = escape_specifiers(word).replace('$', "$$");
    let plain = !escaped.is_empty()
        && !escaped
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if plain {
        escaped
    } else {
        format!("\"{}\"", c_escape(&escaped))
    }
}

/// `%` → `%%`, so specifier expansion gives the text back.
fn escape_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// C-style escapes for text inside double quotes: backslash, quote and ASCII control characters
/// (so a value never spans lines in the unit file).
fn c_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ServiceEnv;

    #[test]
    fn service_unit_has_every_required_line() {
        let mut spec =
            ServiceSpec::new("/usr/local/bin/ollmlxd", &ServiceEnv::new("/home/me", 1000));
        spec.args = vec!["--flag".into(), "two words".into()];
        spec.env
            .insert("OLLMLX_HOST".into(), "127.0.0.1:11434".into());
        let unit = service_unit(&spec).unwrap();
        for line in [
            "[Unit]",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            "ExecStart=/usr/local/bin/ollmlxd --flag \"two words\"",
            "Environment=\"OLLMLX_HOST=127.0.0.1:11434\"",
            "Restart=on-failure",
            "RestartSec=10",
            "TimeoutStopSec=30",
            "WatchdogSec=30",
            "[Install]",
            "WantedBy=default.target",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "missing {line:?} in\n{unit}"
            );
        }
        assert!(!unit.contains("Requires="), "{unit}");
        spec.socket = Some(SocketSpec {
            host: "127.0.0.1".into(),
            port: 11434,
        });
        let unit = service_unit(&spec).unwrap();
        assert!(
            unit.contains("Requires=ollmlx.socket\nAfter=ollmlx.socket\n"),
            "{unit}"
        );
    }

    #[test]
    fn socket_unit_listens_where_asked() {
        let v4 = socket_unit(&SocketSpec {
            host: "127.0.0.1".into(),
            port: 11434,
        });
        assert!(
            v4.contains("\n[Socket]\nListenStream=127.0.0.1:11434\n"),
            "{v4}"
        );
        assert!(
            v4.contains("\n[Install]\nWantedBy=sockets.target\n"),
            "{v4}"
        );
        let v6 = socket_unit(&SocketSpec {
            host: "::1".into(),
            port: 8080,
        });
        assert!(v6.contains("ListenStream=[::1]:8080\n"), "{v6}");
    }

    #[test]
    fn escaping_rules() {
        assert_eq!(quote_environment("A", "x y"), r#""A=x y""#);
        assert_eq!(
            quote_environment("A", r#"say "hi" \o/"#),
            r#""A=say \"hi\" \\o/""#
        );
        assert_eq!(quote_environment("A", "100%$HOME"), r#""A=100%%$HOME""#);
        assert_eq!(quote_environment("A", "l1\nl2\u{1b}"), r#""A=l1\nl2\x1b""#);
        assert_eq!(quote_exec_word("/bin/x"), "/bin/x");
        assert_eq!(quote_exec_word("$HOME%h"), "$$HOME%%h");
        assert_eq!(quote_exec_word(""), r#""""#);
        assert_eq!(quote_exec_word("it's"), r#""it's""#);
        assert_eq!(quote_exec_word(";"), r"\;");
    }
}
