//! `run NAME [PROMPT]`: one streamed answer, or an interactive chat that keeps the history
//! (`/clear` forgets it, `/bye` or end of input leaves). Everything goes through `/api/chat`.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{anyhow, Context, Result};
use ollmlx_api::ollama::{ChatRequest, ChatResponse, Message};
use ollmlx_api::{KeepAlive, Options};
use serde_json::{Map, Value};

use crate::client::Client;
use reqwest::Method;
use crate::exit::Failure;

/// `run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Model name
    pub name: String,
    /// The prompt; without one, an interactive chat starts (or piped stdin is the prompt)
    pub prompt: Vec<String>,
    /// How long the model stays loaded afterwards: "5m", "1h", "-1" (forever)
    #[arg(long)]
    pub keep_alive: Option<String>,
    /// A model option, e.g. `-o temperature=0 -o num_predict=64` (repeatable)
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// A system message to start the conversation with
    #[arg(long)]
    pub system: Option<String>,
}

const HELP: &str = "Commands:\n  /clear   forget the conversation so far\n  /bye     leave (so does Ctrl-D)\n  /?       this help\n";

/// `run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let template = request_template(args)?;
    let client = Client::from_env()?;
    let mut prompt = args.prompt.join(" ");
    if prompt.is_empty() && std::io::stdin().is_terminal() {
        return chat_loop(&client, &template);
    }
    if prompt.is_empty() {
        std::io::stdin().read_to_string(&mut prompt).context("reading the prompt from stdin")?;
    }
    if prompt.trim().is_empty() {
        return Err(Failure::Usage("no prompt: give one as an argument or on stdin".into()).into());
    }
    let mut req = template;
    req.messages.push(user(prompt.trim_end()));
    answer(&client, &req, &mut std::io::stdout().lock()).map(drop)
}

/// The request every turn starts from: model, options, keep-alive and the system message.
fn request_template(args: &RunArgs) -> Result<ChatRequest> {
    let keep_alive = args
        .keep_alive
        .as_deref()
        .map(|k| KeepAlive::parse(k).map_err(|e| Failure::Usage(format!("--keep-alive: {e}"))))
        .transpose()?;
    let options = parse_options(&args.options)?;
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message { role: "system".into(), content: system.clone(), ..Message::default() });
    }
    Ok(ChatRequest { model: args.name.clone(), messages, options, stream: Some(true), keep_alive, ..ChatRequest::default() })
}

/// `KEY=VALUE` pairs: values are read as JSON (numbers, booleans, lists), else as text.
pub fn parse_options(pairs: &[String]) -> Result<Option<Options>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| Failure::Usage(format!("-o {pair:?}: expected KEY=VALUE")))?;
        let value = serde_json::from_str::<Value>(v.trim()).unwrap_or_else(|_| Value::from(v));
        map.insert(k.trim().to_string(), value);
    }
    let options = Options::from_map(&map).map_err(|e| Failure::Usage(e.to_string()))?;
    options.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Some(options))
}

fn user(text: &str) -> Message {
    Message { role: "user".into(), content: text.to_string(), ..Message::default() }
}

/// Streams one answer to `out` as it arrives and returns the whole assistant message.
fn answer(client: &Client, req: &ChatRequest, out: &mut impl Write) -> Result<Message> {
    let mut content = String::new();
    let write_err = |e: std::io::Error| anyhow!(e).context("writing the answer");
    for line in client.stream::<_, ChatResponse>(Method::POST, "/api/chat", Some(req))? {
        let line = line.with_context(|| format!("chatting with {}", req.model))?;
        out.write_all(line.message.content.as_bytes()).map_err(write_err)?;
        out.flush().map_err(write_err)?;
        content.push_str(&line.message.content);
        if line.done {
            break;
        }
    }
    if !content.ends_with('\n') {
        out.write_all(b"\n").map_err(write_err)?;
    }
    Ok(Message { role: "assistant".into(), content, ..Message::default() })
}

/// The interactive chat on a terminal.
fn chat_loop(client: &Client, template: &ChatRequest) -> Result<()> {
    // An empty chat loads the model, so a wrong name fails before the first prompt.
    let load = ChatRequest { stream: Some(false), messages: Vec::new(), ..template.clone() };
    let _: ChatResponse = client.post("/api/chat", &load).with_context(|| format!("loading {}", template.model))?;
    let mut history: Vec<Message> = Vec::new();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut stdout = std::io::stdout();
    loop {
        write!(stdout, ">>> ").and_then(|()| stdout.flush()).context("writing the prompt")?;
        let mut line = String::new();
        if input.read_line(&mut line).context("reading stdin")? == 0 {
            writeln!(stdout).ok();
            return Ok(());
        }
        match line.trim() {
            "" => continue,
            "/bye" => return Ok(()),
            "/clear" => {
                history.clear();
                writeln!(stdout, "Cleared session context").ok();
                continue;
            }
            "/?" | "/help" => {
                write!(stdout, "{HELP}").ok();
                continue;
            }
            cmd if cmd.starts_with('/') => {
                writeln!(stdout, "Unknown command '{cmd}'. Type /? for help").ok();
                continue;
            }
            _ => {}
        }
        history.push(user(line.trim_end_matches(['\r', '\n'])));
        let mut req = template.clone();
        req.messages.extend(history.iter().cloned());
        match answer(client, &req, &mut stdout.lock()) {
            Ok(reply) => history.push(reply),
            // Without a daemon or a model there is nothing more to do here.
            Err(e) if e.chain().any(<dyn std::error::Error>::is::<Failure>) => return Err(e),
            Err(e) => {
                eprintln!("Error: {e:#}");
                history.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_pairs() {
        let o = parse_options(&["temperature=0".into(), "num_predict=8".into(), "stop=[\"a\"]".into()]).unwrap().unwrap();
        assert_eq!(o.temperature, Some(0.0));
        assert_eq!(o.num_predict, Some(8));
        assert!(parse_options(&[]).unwrap().is_none());
        for bad in ["temperature", "num_predict=lots", "top_p=7"] {
            let err = parse_options(&[bad.to_string()]).unwrap_err();
            assert_eq!(crate::exit::code(&err), crate::exit::USAGE, "{bad}: {err}");
        }
    }
}
