//! Store commands that are one request each: list, show, rm, cp.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use ollmlx_api::ollama::{CopyRequest, DeleteRequest, ListResponse, ShowRequest, ShowResponse};
use reqwest::Method;
use serde_json::Value;

use super::{emit, emit_json};
use crate::client::Client;
use crate::table::{self, Table};

/// `show` flags.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Model name
    pub name: String,
    /// Print the daemon's JSON answer
    #[arg(long)]
    pub json: bool,
    /// Print only the chat template
    #[arg(long, conflicts_with_all = ["modelfile", "parameters", "json"])]
    pub template: bool,
    /// Print only the Modelfile
    #[arg(long, conflicts_with_all = ["parameters", "json"])]
    pub modelfile: bool,
    /// Print only the parameters
    #[arg(long, conflicts_with = "json")]
    pub parameters: bool,
    /// Also list the tensors
    #[arg(long, short)]
    pub verbose: bool,
}

/// `list`: the store's models.
pub fn list(json: bool) -> Result<()> {
    let resp: ListResponse = Client::from_env()?.get("/api/tags")?;
    if json {
        return emit_json(&resp);
    }
    let now = chrono::Local::now().fixed_offset();
    let mut t = Table::new(&["NAME", "ID", "SIZE", "MODIFIED"]);
    for m in &resp.models {
        let age = (now - m.modified_at).to_std().unwrap_or_default();
        t.push(vec![m.name.clone(), short_id(&m.digest), table::bytes(m.size), table::ago(age)]);
    }
    emit(&t.render())
}

/// The first 12 hex digits of a digest, as Ollama shows IDs.
pub fn short_id(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

/// `show NAME`.
pub fn show(args: &ShowArgs) -> Result<()> {
    let req = ShowRequest { model: args.name.clone(), verbose: args.verbose, ..ShowRequest::default() };
    let resp: ShowResponse = Client::from_env()?.post("/api/show", &req)?;
    if args.json {
        return emit_json(&resp);
    }
    if args.template {
        return emit(&format!("{}\n", resp.template));
    }
    if args.modelfile {
        return emit(&resp.modelfile);
    }
    if args.parameters {
        return emit(&format!("{}\n", resp.parameters));
    }
    emit(&render_show(&resp))
}

/// The human form of `show`: model facts, capabilities, parameters, tensors when verbose.
pub fn render_show(r: &ShowResponse) -> String {
    let arch = r.model_info.get("general.architecture").and_then(Value::as_str).unwrap_or(&r.details.family);
    let info = |key: &str| r.model_info.get(&format!("{arch}.{key}")).map(ToString::to_string);
    let mut facts = vec![("architecture", arch.to_string()), ("parameters", r.details.parameter_size.clone())];
    if let Some(v) = info("context_length") {
        facts.push(("context length", v));
    }
    if let Some(v) = info("embedding_length") {
        facts.push(("embedding length", v));
    }
    facts.push(("quantization", r.details.quantization_level.clone()));
    let mut out = String::from("  Model\n");
    for (k, v) in facts {
        let _ = writeln!(out, "    {k:<20}{v}");
    }
    out.push_str("\n  Capabilities\n");
    for c in &r.capabilities {
        let _ = writeln!(out, "    {c}");
    }
    if !r.parameters.trim().is_empty() {
        out.push_str("\n  Parameters\n");
        for line in r.parameters.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(tensors) = &r.tensors {
        let mut t = Table::new(&["TENSOR", "TYPE", "SHAPE"]);
        for x in tensors {
            let shape = x.shape.iter().map(u64::to_string).collect::<Vec<_>>().join(" x ");
            t.push(vec![x.name.clone(), x.dtype.clone(), shape]);
        }
        out.push_str("\n  Tensors\n");
        for line in t.render().lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

/// `rm NAME...`: stops at the first failure so the exit code names it.
pub fn remove(names: &[String]) -> Result<()> {
    let client = Client::from_env()?;
    for name in names {
        let req = DeleteRequest { model: name.clone() };
        client.call(Method::DELETE, "/api/delete", &req).with_context(|| format!("removing {name}"))?;
        emit(&format!("deleted '{name}'\n"))?;
    }
    Ok(())
}

/// `cp SOURCE DESTINATION`.
pub fn copy(source: &str, destination: &str) -> Result<()> {
    let req = CopyRequest { source: source.to_string(), destination: destination.to_string() };
    Client::from_env()?.call(Method::POST, "/api/copy", &req).with_context(|| format!("copying {source}"))?;
    emit(&format!("copied '{source}' to '{destination}'\n"))
}
