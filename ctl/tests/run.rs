//! `run`: one answer (prompt argument or piped stdin) and the interactive chat through a
//! pseudo-terminal. Greedy decoding makes the answers reproducible, so each streamed answer is
//! compared with the daemon's own non-streamed answer to the same conversation.

mod common;

use std::process::Command;

use common::{ctl_binary, Daemon};
use serde_json::{json, Value};

const MODEL: &str = "test/tiny-llama";
const OPTS: [&str; 4] = ["-o", "temperature=0", "-o", "num_predict=12"];

/// The daemon's answer to `messages` with the same options ollmlxctl sends.
fn reference(d: &Daemon, messages: &[(&str, &str)]) -> String {
    let messages: Vec<Value> = messages.iter().map(|(role, content)| json!({"role": role, "content": content})).collect();
    let body = json!({"model": MODEL, "messages": messages, "stream": false, "options": {"temperature": 0, "num_predict": 12}});
    d.post("/api/chat", &body)["message"]["content"].as_str().unwrap().to_string()
}

/// How the answer looks on screen: always ends with a newline.
fn printed(answer: &str) -> String {
    if answer.ends_with('\n') {
        answer.to_string()
    } else {
        format!("{answer}\n")
    }
}

#[test]
fn one_answer_from_argument_or_stdin() {
    let d = Daemon::start();
    let expected = reference(&d, &[("user", "hello there")]);
    assert!(!expected.is_empty());
    let mut args = vec!["run", MODEL, "hello", "there"];
    args.extend(OPTS);
    let out = d.ctl(&args).expect(0);
    assert_eq!(out.stdout, printed(&expected));

    let mut args = vec!["run", MODEL];
    args.extend(OPTS);
    let out = d.ctl_with(&args, &[], "hello there\n").expect(0);
    assert_eq!(out.stdout, printed(&expected));

    let out = d.ctl_with(&args, &[], "").expect(2);
    assert!(out.stderr.contains("no prompt"), "{out:?}");
    let out = d.ctl(&["run", "test/nothing", "hi"]).expect(4);
    assert!(out.stderr.contains("not found"), "{out:?}");
}

#[test]
fn interactive_chat_keeps_history_until_clear() {
    let d = Daemon::start();
    let mut cmd = Command::new(ctl_binary());
    cmd.args(["run", MODEL]).args(OPTS);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_")) {
        cmd.env_remove(k);
    }
    cmd.env("OLLMLX_HOST", &d.host).env("HOME", d.dir.path()).env("TERM", "dumb");
    // rexpect turns the terminal's echo off, so only our own output comes back.
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();

    let first = reference(&d, &[("user", "hello")]);
    let second = reference(&d, &[("user", "hello"), ("assistant", &first), ("user", "and then?")]);
    let fresh = reference(&d, &[("user", "and then?")]);
    assert_ne!(second, fresh, "the prompts must give different answers with and without history");

    let mut session = Chat { p: &mut p };
    // The first prompt appears once the model is loaded.
    session.wait_prompt();
    assert_eq!(session.turn("hello"), printed(&first));
    assert_eq!(session.turn("and then?"), printed(&second));
    session.command("/clear", "Cleared session context\r\n");
    assert_eq!(session.turn("and then?"), printed(&fresh));
    session.command("/nope", "Unknown command '/nope'. Type /? for help\r\n");
    session.p.send_line("/bye").unwrap();
    session.p.exp_eof().unwrap();
    let status = session.p.process_mut().wait().unwrap();
    assert!(matches!(status, rexpect::process::wait::WaitStatus::Exited(_, 0)), "{status:?}");
}

/// rexpect hands back each byte as one `char`; the bytes are UTF-8.
fn utf8(latin1: &str) -> String {
    let bytes: Vec<u8> = latin1.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The terminal side of one chat session.
struct Chat<'a> {
    p: &'a mut rexpect::session::PtySession,
}

impl Chat<'_> {
    fn wait_prompt(&mut self) {
        self.p.exp_string(">>> ").unwrap();
    }

    /// Sends a message; returns what was printed before the next prompt.
    fn turn(&mut self, text: &str) -> String {
        self.p.send_line(text).unwrap();
        utf8(&self.p.exp_string(">>> ").unwrap()).replace("\r\n", "\n")
    }

    fn command(&mut self, cmd: &str, answer: &str) {
        self.p.send_line(cmd).unwrap();
        assert_eq!(self.p.exp_string(">>> ").unwrap(), answer);
    }
}
