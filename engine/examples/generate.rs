//! Generates a chat answer from a model folder, streaming it to stdout.
//!
//! ```text
//! cargo run --release -p ollmlx-engine --example generate -- [--model DIR] [--max-tokens N]
//!     [--temperature T] [--seed S] [PROMPT]
//! ```
//! The default model is the SmolLM2-135M-Instruct folder that `scripts/setup.sh` builds.
use ollmlx_engine::text::ChatRenderRequest;
use ollmlx_engine::{Event, GenerateParams, LoadOptions, Model, SamplingParams};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

struct Args {
    model: PathBuf,
    prompt: String,
    max_tokens: usize,
    temperature: f32,
    seed: Option<u64>,
}

fn parse() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut a = Args {
        model: root.join(".cache/models/smollm2-135m-instruct-q4"),
        prompt: "Why is the sky blue?".into(),
        max_tokens: 256,
        temperature: 0.0,
        seed: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--model" => a.model = value("--model")?.into(),
            "--max-tokens" => a.max_tokens = value("--max-tokens")?.parse().map_err(|e| format!("--max-tokens: {e}"))?,
            "--temperature" => a.temperature = value("--temperature")?.parse().map_err(|e| format!("--temperature: {e}"))?,
            "--seed" => a.seed = Some(value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?),
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            s => a.prompt = s.to_string(),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let model = Model::load(&args.model, &LoadOptions::default())?;
    eprintln!(
        "loaded {} ({}, {:.1} MB) in {:.2?} on {:?}",
        args.model.display(),
        model.info().model_type,
        model.weight_bytes() as f64 / 1e6,
        model.load_duration(),
        ollmlx_engine::mlx::Device::default_device()
    );
    let messages = vec![serde_json::json!({"role": "user", "content": args.prompt})];
    let text = match model.chat_template() {
        Some(t) => t.render(&ChatRenderRequest { add_generation_prompt: true, ..ChatRenderRequest::new(&messages) })?,
        None => args.prompt.clone(),
    };
    let prompt = model.tokenizer().encode(&text, false)?;
    let params = GenerateParams {
        prompt,
        max_tokens: Some(args.max_tokens),
        sampling: SamplingParams { temperature: args.temperature, seed: args.seed, ..Default::default() },
        ..Default::default()
    };
    let mut out = std::io::stdout();
    let stats = model.generate(params, &mut |e| {
        match e {
            Event::Token { text, .. } | Event::Text(text) => {
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            Event::Done(_) => {}
        }
        ControlFlow::Continue(())
    })?;
    if let Some(s) = stats {
        eprintln!(
            "\nprompt: {} tokens, {:.1} tok/s | generation: {} tokens, {:.1} tok/s | {}",
            s.prompt_tokens,
            s.prompt_tokens as f64 / s.prompt_duration.as_secs_f64(),
            s.generated_tokens,
            (s.generated_tokens.saturating_sub(1)) as f64 / s.generation_duration.as_secs_f64().max(1e-9),
            s.done_reason.as_str()
        );
    }
    Ok(())
}
