//! [`ChatTemplate`]: the model's own Jinja chat template, rendered as transformers'
//! `apply_chat_template` renders it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::config::{read_object, TokenizerConfig};
use super::jinja::{self, Raised};
use super::{TemplateFailure, TextError};

/// Variables the render sets itself; `extra` may not shadow them.
const RESERVED: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// Names a message's reasoning may be given under; transformers 5 copies the first one found to
/// `thinking` and `reasoning_content`, the names templates read.
const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

/// What to render: the conversation and the variables a template may read.
#[derive(Debug, Clone, Default)]
pub struct ChatRenderRequest<'a> {
    /// The messages, as JSON objects (`role`, `content`, `tool_calls`, `thinking`, …).
    pub messages: &'a [Value],
    /// Tool schemas (`{"type": "function", "function": {...}}`); `None` renders as `none`.
    pub tools: Option<&'a [Value]>,
    /// Documents for retrieval templates; `None` renders as `none`.
    pub documents: Option<&'a [Value]>,
    /// Whether to end with the assistant's turn header.
    pub add_generation_prompt: bool,
    /// Further template variables, e.g. `enable_thinking`; they override special tokens.
    pub extra: Map<String, Value>,
}

impl<'a> ChatRenderRequest<'a> {
    /// A request for `messages` that ends with the assistant header (the usual case).
    #[must_use]
    pub fn new(messages: &'a [Value]) -> Self {
        Self {
            messages,
            add_generation_prompt: true,
            ..Self::default()
        }
    }
}

/// One template of the model: its name (`default`, `tool_use`, …) and source.
struct Named {
    name: String,
    /// How errors name it: the file, plus the name for named templates.
    label: String,
    source: String,
}

/// A model's compiled chat template(s) plus the special tokens they may print.
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    templates: Vec<Named>,
    special: Vec<(String, String)>,
}

impl ChatTemplate {
    /// Finds the folder's chat template, as transformers 5 does: `chat_template.jinja` (with
    /// `additional_chat_templates/*.jinja` as named ones), else `chat_template.json`, else
    /// `tokenizer_config.json`'s `chat_template` (a string, or a list of `{name, template}`).
    /// `Ok(None)` when the model has none. Every template is compiled here, so a broken one
    /// fails at load with its file and line.
    ///
    /// # Errors
    /// [`TextError::Template`] (syntax) for a template that does not compile; `Io`, `Json` or
    /// `Field` for unreadable or malformed files.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, TextError> {
        let config = TokenizerConfig::read(dir)?;
        let special = config.special_tokens(dir)?;
        let special: Vec<(String, String)> = special
            .into_iter()
            .map(|(n, t)| (n.to_owned(), t))
            .collect();
        let mut templates = jinja_files(dir)?;
        if templates.is_empty() {
            let json_path = dir.join("chat_template.json");
            if let Some(value) =
                read_object(&json_path)?.and_then(|mut o| o.remove("chat_template"))
            {
                templates = template_field(&json_path, &value)?;
            } else if let Some(value) = config.fields.get("chat_template") {
                templates = template_field(&config.path, value)?;
            }
        }
        if templates.is_empty() {
            return Ok(None);
        }
        Self::build(templates, special).map(Some)
    }

    /// A template from source text (e.g. a GGUF's `tokenizer.chat_template`); `origin` names it
    /// in errors and `special_tokens` are `(name, text)` pairs such as `("bos_token", "<s>")`.
    ///
    /// # Errors
    /// [`TextError::Template`] when the source does not compile.
    pub fn from_source(
        origin: &str,
        source: &str,
        special_tokens: &[(&str, &str)],
    ) -> Result<Self, TextError> {
        let named = Named {
            name: "default".to_owned(),
            label: origin.to_owned(),
            source: source.to_owned(),
        };
        let special = special_tokens
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        Self::build(vec![named], special)
    }

    fn build(templates: Vec<Named>, special: Vec<(String, String)>) -> Result<Self, TextError> {
        let mut env = jinja::environment();
        for t in &templates {
            let source = jinja::rewrite_generation_tags(&t.source).into_owned();
            env.add_template_owned(t.name.clone(), source)
                .map_err(|e| template_error(&t.label, &e, TemplateFailure::Syntax))?;
        }
        Ok(Self {
            env,
            templates,
            special,
        })
    }

    /// The source of the template used without tools (`default`, or the only one).
    pub fn source(&self) -> &str {
        self.pick(false).map_or("", |t| t.source.as_str())
    }

    /// Whether the model has a separate template for requests with tools.
    pub fn has_tool_use_template(&self) -> bool {
        self.templates.iter().any(|t| t.name == "tool_use")
    }

    /// transformers' choice: `tool_use` when tools are given and it exists, else `default`.
    fn pick(&self, with_tools: bool) -> Option<&Named> {
        let find = |name: &str| self.templates.iter().find(|t| t.name == name);
        with_tools
            .then(|| find("tool_use"))
            .flatten()
            .or_else(|| find("default"))
    }

    /// Renders the prompt text for `req`.
    ///
    /// # Errors
    /// [`TextError::Template`] when rendering fails ([`TemplateFailure::Raised`] when the template
    /// refuses the conversation through `raise_exception`), [`TextError::BadRequest`] for a
    /// message that is not an object, an `extra` variable shadowing `messages`/`tools`/
    /// `documents`/`add_generation_prompt`, or tools-less input to a model without a default.
    pub fn render(&self, req: &ChatRenderRequest<'_>) -> Result<String, TextError> {
        let Some(named) = self.pick(req.tools.is_some()) else {
            let names: Vec<&str> = self.templates.iter().map(|t| t.name.as_str()).collect();
            return Err(TextError::BadRequest(format!(
                "the model has chat templates {names:?} but no \"default\""
            )));
        };
        let mut ctx: BTreeMap<String, minijinja::Value> = BTreeMap::new();
        for (name, text) in &self.special {
            ctx.insert(name.clone(), minijinja::Value::from(text.as_str()));
        }
        for (key, value) in &req.extra {
            if RESERVED.contains(&key.as_str()) {
                return Err(TextError::BadRequest(format!(
                    "extra variable `{key}` would replace the one the render sets"
                )));
            }
            ctx.insert(key.clone(), minijinja::Value::from_serialize(value));
        }
        let messages = req
            .messages
            .iter()
            .map(prepare_message)
            .collect::<Result<Vec<_>, _>>()?;
        ctx.insert(
            "messages".into(),
            minijinja::Value::from_serialize(&messages),
        );
        ctx.insert("tools".into(), minijinja::Value::from_serialize(req.tools));
        ctx.insert(
            "documents".into(),
            minijinja::Value::from_serialize(req.documents),
        );
        ctx.insert(
            "add_generation_prompt".into(),
            minijinja::Value::from(req.add_generation_prompt),
        );
        let template = self
            .env
            .get_template(&named.name)
            .map_err(|e| template_error(&named.label, &e, TemplateFailure::Render))?;
        template
            .render(ctx)
            .map_err(|e| template_error(&named.label, &e, TemplateFailure::Render))
    }
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self.templates.iter().map(|t| t.label.as_str()).collect();
        f.debug_struct("ChatTemplate")
            .field("templates", &labels)
            .field("special", &self.special)
            .finish_non_exhaustive()
    }
}

/// A message as transformers 5 hands it to the template: keys holding `null` dropped (many
/// templates test for a key, not for none), and reasoning copied to `thinking` and
/// `reasoning_content`.
fn prepare_message(message: &Value) -> Result<Value, TextError> {
    let Value::Object(fields) = message else {
        return Err(TextError::BadRequest(format!(
            "a message must be a JSON object, got {message}"
        )));
    };
    let fields: Map<String, Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reasoning = REASONING_FIELDS
        .iter()
        .find_map(|name| fields.get(*name))
        .cloned();
    let Some(reasoning) = reasoning else {
        return Ok(Value::Object(fields));
    };
    // Python: {"thinking": reasoning, **message, "reasoning_content": reasoning}
    let mut out = Map::new();
    out.insert("thinking".into(), reasoning.clone());
    out.extend(fields);
    out.insert("reasoning_content".into(), reasoning);
    Ok(Value::Object(out))
}

/// `chat_template.jinja` as `default` and `additional_chat_templates/<name>.jinja` by name.
fn jinja_files(dir: &Path) -> Result<Vec<Named>, TextError> {
    let mut out = Vec::new();
    let main = dir.join("chat_template.jinja");
    if let Some(source) = read_optional(&main)? {
        out.push(Named {
            name: "default".into(),
            label: "chat_template.jinja".into(),
            source,
        });
    }
    let extra_dir = dir.join("additional_chat_templates");
    let entries = match std::fs::read_dir(&extra_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(TextError::Io {
                path: extra_dir,
                source,
            });
        }
    };
    let mut extra = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| TextError::Io {
                path: extra_dir.clone(),
                source,
            })?
            .path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jinja"));
        if let (Some(name), Some(source)) = (name.map(str::to_owned), read_optional(&path)?) {
            extra.push(Named {
                label: format!("additional_chat_templates/{name}.jinja"),
                name,
                source,
            });
        }
    }
    extra.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(extra);
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, TextError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TextError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A `chat_template` field: a string, a list of `{"name", "template"}`, or null.
fn template_field(path: &Path, value: &Value) -> Result<Vec<Named>, TextError> {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("chat template")
        .to_owned();
    let bad = |message: &str| TextError::Field {
        path: path.to_owned(),
        field: "chat_template".into(),
        message: message.into(),
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(source) => Ok(vec![Named {
            name: "default".into(),
            label: file,
            source: source.clone(),
        }]),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                match (
                    item.get("name").and_then(Value::as_str),
                    item.get("template").and_then(Value::as_str),
                ) {
                    (Some(name), Some(source)) => Ok(Named {
                        name: name.to_owned(),
                        label: format!("{file} ({name})"),
                        source: source.to_owned(),
                    }),
                    _ => Err(bad("has a list entry without string `name` and `template`")),
                }
            })
            .collect(),
        _ => Err(bad("is neither a string nor a list of named templates")),
    }
}

/// A minijinja error as a [`TextError::Template`]; a `raise_exception` becomes
/// [`TemplateFailure::Raised`] with the template's own message.
fn template_error(label: &str, err: &minijinja::Error, failure: TemplateFailure) -> TextError {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(raised) = cause.downcast_ref::<Raised>() {
            return TextError::Template {
                template: label.to_owned(),
                line: err.line(),
                message: raised.0.clone(),
                failure: TemplateFailure::Raised,
            };
        }
        source = cause.source();
    }
    let message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    TextError::Template {
        template: label.to_owned(),
        line: err.line(),
        message,
        failure,
    }
}
