//! The macOS LaunchAgent property list (`~/Library/LaunchAgents/<label>.plist`).
//!
//! Keys follow launchd.plist(5). The struct derives both directions so tests can parse a
//! rendered file back and compare field by field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{path_str, ServiceSpec, LAUNCHD_SOCKET_NAME};

/// File name of the daemon's stdout log inside [`ServiceSpec::log_dir`].
pub const STDOUT_LOG: &str = "ollmlxd.out.log";
/// File name of the daemon's stderr log inside [`ServiceSpec::log_dir`].
pub const STDERR_LOG: &str = "ollmlxd.err.log";

/// A LaunchAgent definition, in launchd's key names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LaunchAgent {
    /// `Label`: the unique job name.
    pub label: String,
    /// `ProgramArguments`: absolute program path, then its arguments.
    pub program_arguments: Vec<String>,
    /// `RunAtLoad`: start as soon as the agent is bootstrapped (and at login).
    pub run_at_load: bool,
    /// `KeepAlive`: restart policy.
    pub keep_alive: KeepAlive,
    /// `ThrottleInterval`: minimum seconds between launches.
    pub throttle_interval: u32,
    /// `ExitTimeOut`: seconds from SIGTERM to SIGKILL.
    pub exit_time_out: u32,
    /// `ProcessType`: `Interactive` so the daemon is not throttled like a background job.
    pub process_type: String,
    /// `EnvironmentVariables`, omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    /// `StandardOutPath`.
    pub standard_out_path: String,
    /// `StandardErrorPath`.
    pub standard_error_path: String,
    /// `Sockets`: socket name → listener, present only with socket activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<BTreeMap<String, LaunchSocket>>,
}

/// The `KeepAlive` dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeepAlive {
    /// `SuccessfulExit = false`: relaunch only after a non-zero exit or a crash, so a clean stop
    /// (SIGTERM → exit 0) stays stopped.
    pub successful_exit: bool,
}

/// One entry of the `Sockets` dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSocket {
    /// `SockNodeName`: the address to bind.
    #[serde(rename = "SockNodeName")]
    pub node_name: String,
    /// `SockServiceName`: the port, as a string (launchd accepts names or numbers).
    #[serde(rename = "SockServiceName")]
    pub service_name: String,
    /// `SockFamily`: `IPv4` or `IPv6`; omitted for host names so launchd resolves both.
    #[serde(
        rename = "SockFamily",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub family: Option<String>,
}

impl LaunchAgent {
    /// Builds the agent for `spec` (validated first).
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] for values a plist cannot carry (non-UTF-8 paths, bad labels).
    pub fn from_spec(spec: &ServiceSpec) -> Result<Self> {
        spec.validate()?;
        let mut program_arguments = vec![path_str("program", &spec.program)?.to_owned()];
        program_arguments.extend(spec.args.iter().cloned());
        let (stdout, stderr) = log_paths(&spec.log_dir);
        let sockets = spec.socket.as_ref().map(|socket| {
            let family = socket
                .ip()
                .map(|ip| if ip.is_ipv4() { "IPv4" } else { "IPv6" }.to_owned());
            let listener = LaunchSocket {
                node_name: socket
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                service_name: socket.port.to_string(),
                family,
            };
            BTreeMap::from([(LAUNCHD_SOCKET_NAME.to_owned(), listener)])
        });
        Ok(Self {
            label: spec.label.clone(),
            program_arguments,
            run_at_load: true,
            keep_alive: KeepAlive {
                successful_exit: false,
            },
            throttle_interval: spec.throttle_interval_s,
            exit_time_out: spec.exit_timeout_s,
            process_type: "Interactive".to_owned(),
            environment_variables: spec.env.clone(),
            standard_out_path: path_str("log_dir", &stdout)?.to_owned(),
            standard_error_path: path_str("log_dir", &stderr)?.to_owned(),
            sockets,
        })
    }

    /// The agent as an XML property list.
    ///
    /// # Errors
    /// [`Error::Plist`] if serialization fails.
    pub fn to_xml(&self) -> Result<String> {
        let mut buf = Vec::new();
        plist::to_writer_xml(&mut buf, self).map_err(|source| Error::Plist {
            label: self.label.clone(),
            source,
        })?;
        buf.push(b'\n');
        // The XML writer only emits UTF-8, so the lossy conversion never replaces anything.
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// `(stdout, stderr)` log files inside `log_dir`.
#[must_use]
pub fn log_paths(log_dir: &Path) -> (PathBuf, PathBuf) {
    (log_dir.join(STDOUT_LOG), log_dir.join(STDERR_LOG))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ServiceEnv, SocketSpec};

    fn spec() -> ServiceSpec {
        let mut spec = ServiceSpec::new(
            "/opt/ollmlx/bin/ollmlxd",
            &ServiceEnv::new("/Users/me", 501),
        );
        spec.args = vec!["--verbose".into()];
        spec.env
            .insert("OLLMLX_HOST".into(), "127.0.0.1:11434".into());
        spec
    }

    #[test]
    fn renders_every_required_key() {
        let xml = LaunchAgent::from_spec(&spec()).unwrap().to_xml().unwrap();
        let value = plist::Value::from_reader_xml(xml.as_bytes()).unwrap();
        let dict = value.as_dictionary().unwrap();
        assert_eq!(dict["Label"].as_string(), Some("com.ollmlx.daemon"));
        let args: Vec<_> = dict["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_string().unwrap())
            .collect();
        assert_eq!(args, ["/opt/ollmlx/bin/ollmlxd", "--verbose"]);
        assert_eq!(dict["RunAtLoad"].as_boolean(), Some(true));
        let keep_alive = dict["KeepAlive"].as_dictionary().unwrap();
        assert_eq!(keep_alive["SuccessfulExit"].as_boolean(), Some(false));
        assert_eq!(dict["ThrottleInterval"].as_unsigned_integer(), Some(10));
        assert_eq!(dict["ExitTimeOut"].as_unsigned_integer(), Some(30));
        assert_eq!(dict["ProcessType"].as_string(), Some("Interactive"));
        let env = dict["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["OLLMLX_HOST"].as_string(), Some("127.0.0.1:11434"));
        assert_eq!(
            dict["StandardOutPath"].as_string(),
            Some("/Users/me/Library/Logs/ollmlx/ollmlxd.out.log")
        );
        assert_eq!(
            dict["StandardErrorPath"].as_string(),
            Some("/Users/me/Library/Logs/ollmlx/ollmlxd.err.log")
        );
        assert!(!dict.contains_key("Sockets"));
    }

    #[test]
    fn socket_family_follows_the_host() {
        let family = |host: &str| {
            let spec = ServiceSpec {
                socket: Some(SocketSpec {
                    host: host.into(),
                    port: 11434,
                }),
                ..spec()
            };
            let agent = LaunchAgent::from_spec(&spec).unwrap();
            let socket = agent.sockets.unwrap().remove(LAUNCHD_SOCKET_NAME).unwrap();
            assert_eq!(socket.service_name, "11434");
            (socket.node_name, socket.family)
        };
        assert_eq!(
            family("127.0.0.1"),
            ("127.0.0.1".into(), Some("IPv4".into()))
        );
        assert_eq!(family("[::1]"), ("::1".into(), Some("IPv6".into())));
        assert_eq!(family("localhost"), ("localhost".into(), None));
    }

    #[test]
    fn empty_env_is_omitted_and_invalid_spec_is_rejected() {
        let mut plain = spec();
        plain.env.clear();
        let xml = LaunchAgent::from_spec(&plain).unwrap().to_xml().unwrap();
        assert!(!xml.contains("EnvironmentVariables"), "{xml}");
        let relative = ServiceSpec {
            program: "ollmlxd".into(),
            ..spec()
        };
        assert!(matches!(
            LaunchAgent::from_spec(&relative),
            Err(Error::InvalidSpec {
                field: "program",
                ..
            })
        ));
    }
}
