//! Tool calls parsed from the model's own syntax: Hermes/Qwen `<tool_call>{...}</tool_call>`,
//! Llama 3.1 JSON `{"name": .., "parameters": {..}}` (optionally after `<|python_tag|>`),
//! Mistral `[TOOL_CALLS][{..}]` and `[TOOL_CALLS]name[ARGS]{..}`. Only names of tools the
//! request offered are accepted.

use serde_json::{Map, Value};

/// A parsed call.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCall {
    /// Function name.
    pub name: String,
    /// Arguments object.
    pub arguments: Map<String, Value>,
}

/// Markers that start a tool call in the formats above.
const MARKERS: [&str; 4] = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{"];

/// True while `text` (so far) could still turn out to be a tool call, so content should be held.
pub fn could_be_call(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || MARKERS.iter().any(|m| m.starts_with(t) || t.starts_with(m))
}

/// The calls in `text`, or None when it is not (only) tool calls.
pub fn parse(text: &str, known: &[String]) -> Option<Vec<ParsedCall>> {
    let t = text.trim();
    let calls = if t.contains("<tool_call>") {
        let mut calls = Vec::new();
        for part in t.split("<tool_call>").skip(1) {
            let body = part.split("</tool_call>").next()?.trim();
            calls.extend(from_json(&serde_json::from_str(body).ok()?));
        }
        calls
    } else if let Some(rest) = t.strip_prefix("[TOOL_CALLS]") {
        let rest = rest.trim();
        match rest.split_once("[ARGS]") {
            Some((name, args)) => {
                let arguments = serde_json::from_str::<Value>(args.trim()).ok()?.as_object()?.clone();
                vec![ParsedCall { name: name.trim().to_string(), arguments }]
            }
            None => from_json(&serde_json::from_str(rest).ok()?),
        }
    } else {
        let body = t.strip_prefix("<|python_tag|>").unwrap_or(t).trim();
        from_json(&first_json(body)?)
    };
    let ok = !calls.is_empty() && calls.iter().all(|c| known.iter().any(|k| k == &c.name));
    ok.then_some(calls)
}

/// Calls from one JSON value: an object or an array of objects.
fn from_json(v: &Value) -> Vec<ParsedCall> {
    match v {
        Value::Array(items) => items.iter().flat_map(from_json).collect(),
        Value::Object(o) => {
            let f = o.get("function").and_then(Value::as_object).unwrap_or(o);
            let Some(name) = f.get("name").and_then(Value::as_str) else { return Vec::new() };
            let args = f.get("arguments").or_else(|| f.get("parameters"));
            let arguments = match args {
                Some(Value::Object(a)) => a.clone(),
                Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(a)) => a,
                    _ => return Vec::new(),
                },
                None => Map::new(),
                Some(_) => return Vec::new(),
            };
            vec![ParsedCall { name: name.to_string(), arguments }]
        }
        _ => Vec::new(),
    }
}

/// The whole text as one JSON value, or several `;`/newline-separated objects as an array.
fn first_json(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let parts: Option<Vec<Value>> = text
        .split([';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| serde_json::from_str(p).ok())
        .collect();
    parts.map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec!["get_weather".into(), "add".into()]
    }

    #[test]
    fn hermes_qwen() {
        let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Tokyo\"}}\n</tool_call>\n<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1}}</tool_call>";
        let calls = parse(text, &known()).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments["city"], "Tokyo");
    }

    #[test]
    fn llama_and_mistral() {
        let c = parse("<|python_tag|>{\"name\": \"add\", \"parameters\": {\"a\": 2}}", &known()).unwrap();
        assert_eq!(c[0].arguments["a"], 2);
        let c = parse("[TOOL_CALLS][{\"name\":\"add\",\"arguments\":{\"a\":3}}]", &known()).unwrap();
        assert_eq!(c[0].arguments["a"], 3);
        let c = parse("[TOOL_CALLS]add[ARGS]{\"a\":4}", &known()).unwrap();
        assert_eq!(c[0].arguments["a"], 4);
    }

    #[test]
    fn ordinary_text_and_unknown_tools_are_not_calls() {
        assert!(parse("The weather is nice.", &known()).is_none());
        assert!(parse("{\"name\":\"rm_rf\",\"arguments\":{}}", &known()).is_none());
        assert!(parse("{\"a\": 1}", &known()).is_none());
        assert!(could_be_call("  <tool_"));
        assert!(!could_be_call("Sure"));
    }
}
