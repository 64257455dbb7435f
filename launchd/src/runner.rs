//! The thin process layer: every `launchctl` / `systemctl` call goes through [`CommandRunner`],
//! so tests can record the exact argv and script the answers.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

/// What a finished command reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    /// Exit code; `None` when the process was killed by a signal.
    pub status: Option<i32>,
    /// Captured stdout, lossily decoded as UTF-8.
    pub stdout: String,
    /// Captured stderr, lossily decoded as UTF-8.
    pub stderr: String,
}

impl CommandOutput {
    /// A successful run (exit code 0) that printed `stdout`.
    #[must_use]
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            status: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A run that exited with `code` and printed `stderr`.
    #[must_use]
    pub fn exit(code: i32, stderr: impl Into<String>) -> Self {
        Self {
            status: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// Whether the command exited with code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Turns a non-zero exit into [`Error::CommandFailed`] naming `argv` and its stderr.
    ///
    /// # Errors
    /// [`Error::CommandFailed`] when the exit code is not 0.
    pub fn check(self, argv: &[String]) -> Result<Self> {
        if self.success() {
            return Ok(self);
        }
        // launchctl prints some failures on stdout, so fall back to it when stderr is empty.
        let message = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        Err(Error::CommandFailed {
            command: argv.join(" "),
            status: self.status,
            stderr: message.trim().to_owned(),
        })
    }
}

/// Runs one command to completion and captures its output.
///
/// `argv[0]` is the program; the rest are its arguments. A non-zero exit is NOT an error at this
/// layer (callers decide, e.g. `launchctl print` exiting 113 means "not loaded").
pub trait CommandRunner: Send + Sync {
    /// Runs `argv` and waits for it.
    ///
    /// # Errors
    /// [`Error::Spawn`] when the process could not be started.
    fn run(&self, argv: &[String]) -> Result<CommandOutput>;
}

/// The real runner: `std::process::Command`, stdin closed, stdout/stderr captured.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput> {
        let spawn_error = |source| Error::Spawn {
            command: argv.join(" "),
            source,
        };
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| spawn_error(std::io::Error::other("empty argv")))?;
        let output = Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(spawn_error)?;
        Ok(CommandOutput {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A test double: records every argv and answers from a script.
///
/// Each scripted answer is bound to an argv prefix and is used once, in the order added; a call
/// that matches no remaining answer succeeds with empty output. Clones share the same record, so
/// a test keeps one clone and hands another to the manager.
#[derive(Debug, Clone, Default)]
pub struct ScriptedRunner {
    inner: Arc<Mutex<Script>>,
}

#[derive(Debug, Default)]
struct Script {
    answers: VecDeque<(Vec<String>, CommandOutput)>,
    calls: Vec<Vec<String>>,
}

impl ScriptedRunner {
    /// An empty script: every command succeeds with no output.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `output` as the answer to the next call whose argv starts with `prefix`.
    #[must_use]
    pub fn answer(self, prefix: &[&str], output: CommandOutput) -> Self {
        let prefix = prefix.iter().map(|s| (*s).to_owned()).collect();
        self.lock().answers.push_back((prefix, output));
        self
    }

    /// Every argv run so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls (the remaining scripted answers stay).
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        // A panic in another test thread must not hide this runner's record.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CommandRunner for ScriptedRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput> {
        let mut script = self.lock();
        script.calls.push(argv.to_vec());
        let found = script
            .answers
            .iter()
            .position(|(prefix, _)| argv.starts_with(prefix));
        Ok(found
            .and_then(|i| script.answers.remove(i))
            .map_or_else(|| CommandOutput::ok(""), |(_, output)| output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn system_runner_captures_output_and_exit_code() {
        let out = SystemRunner
            .run(&argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]))
            .unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let err = out.check(&argv(&["sh", "-c", "x"])).unwrap_err();
        assert_eq!(err.to_string(), "`sh -c x` failed (exit code 3): err");
    }

    #[test]
    fn system_runner_reports_missing_binary() {
        let err = SystemRunner
            .run(&argv(&["/nonexistent/ollmlx-no-such-bin"]))
            .unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
        assert!(SystemRunner.run(&[]).is_err());
    }

    #[test]
    fn scripted_runner_uses_answers_once_in_order() {
        let runner = ScriptedRunner::new()
            .answer(&["a", "b"], CommandOutput::exit(1, "first"))
            .answer(&["a"], CommandOutput::ok("second"));
        assert_eq!(runner.run(&argv(&["a", "b", "c"])).unwrap().stderr, "first");
        assert_eq!(runner.run(&argv(&["a", "b"])).unwrap().stdout, "second");
        assert_eq!(runner.run(&argv(&["a"])).unwrap(), CommandOutput::ok(""));
        assert_eq!(runner.calls().len(), 3);
    }
}
