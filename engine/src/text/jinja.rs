//! The minijinja environment chat templates run in, set up like transformers' Jinja2 sandbox:
//! `trim_blocks` and `lstrip_blocks` on, loop controls, Python string/dict methods, and the
//! `raise_exception`, `strftime_now` and `tojson` helpers with transformers' semantics.

use std::borrow::Cow;
use std::fmt;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use super::pyjson::{self, DumpOptions};

/// The message of a template's `raise_exception(...)`, carried as the error's source so the
/// caller can tell a refused conversation from a broken template.
#[derive(Debug)]
pub(crate) struct Raised(pub String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// A fresh environment with every helper HF chat templates use.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // Chat templates produce prompts, not HTML: nothing is ever escaped, whatever the name.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_formatter(|out, state, value| match pyjson::py_str(value) {
        Some(text) => out.write_str(&text).map_err(Error::from),
        None => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("tojson", tojson);
    env.add_filter("string", py_string);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env
}

/// transformers' `raise_exception(message)`: fails the render with the template's message.
fn raise_exception(message: &Value) -> Result<Value, Error> {
    let text = match message.as_str() {
        Some(s) => s.to_owned(),
        None => pyjson::py_str(message).unwrap_or_else(|| message.to_string()),
    };
    Err(Error::new(ErrorKind::InvalidOperation, text.clone()).with_source(Raised(text)))
}

/// transformers' `strftime_now(format)`: the local time with a strftime format.
fn strftime_now(format: &str) -> Result<String, Error> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    // chrono panics while printing an invalid format, so reject it up front.
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("unsupported strftime format {format:?}"),
        ));
    }
    Ok(chrono::Local::now()
        .format_with_items(items.into_iter())
        .to_string())
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`:
/// `json.dumps` without HTML escaping, keeping key order. Positional arguments bind in Python's
/// order, so `tojson(4)` sets `ensure_ascii`, not `indent`, exactly as it does in transformers.
fn tojson(value: &Value, positional: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if positional.len() > NAMES.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments",
        ));
    }
    let mut args: [Option<Value>; 4] = Default::default();
    for (slot, arg) in args.iter_mut().zip(positional.iter()) {
        *slot = Some(arg.clone());
    }
    for (slot, name) in args.iter_mut().zip(NAMES) {
        if let Some(named) = kwargs.get::<Option<Value>>(name)? {
            *slot = Some(named);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = args;
    let truthy = |v: Option<Value>| v.is_some_and(|v| v.is_true());
    let opts = DumpOptions::new(
        indent_string(indent)?,
        separator_pair(separators)?,
        truthy(sort_keys),
        truthy(ensure_ascii),
    );
    Ok(Value::from_safe_string(pyjson::dumps(value, &opts)?))
}

/// Python's `indent`: an int is that many spaces (negative = none), a string is used as is.
fn indent_string(indent: Option<Value>) -> Result<Option<String>, Error> {
    let Some(indent) = indent.filter(|v| !v.is_none() && !v.is_undefined()) else {
        return Ok(None);
    };
    if let Some(s) = indent.as_str() {
        return Ok(Some(s.to_owned()));
    }
    match indent.as_i64() {
        Some(n) => Ok(Some(" ".repeat(usize::try_from(n).unwrap_or(0)))),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson indent must be an integer or a string",
        )),
    }
}

/// Python's `separators=(item_separator, key_separator)`.
fn separator_pair(separators: Option<Value>) -> Result<Option<(String, String)>, Error> {
    let Some(pair) = separators.filter(|v| !v.is_none() && !v.is_undefined()) else {
        return Ok(None);
    };
    let parts: Vec<Value> = pair.try_iter()?.collect();
    match parts.as_slice() {
        [item, key] => match (item.as_str(), key.as_str()) {
            (Some(item), Some(key)) => Ok(Some((item.to_owned(), key.to_owned()))),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson separators must be strings",
            )),
        },
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson separators must be a pair",
        )),
    }
}

/// Jinja2's `string` filter is Python's `str()`: `None`, `True`, `1.0`, `['a']`.
fn py_string(value: &Value) -> Value {
    match pyjson::py_str(value) {
        Some(text) => Value::from(text),
        None if value.kind() == ValueKind::String => value.clone(),
        None if value.is_undefined() => Value::from(""),
        None => Value::from(value.to_string()),
    }
}

/// Turns transformers' `{% generation %}…{% endgeneration %}` (its assistant-mask extension,
/// which only marks text) into `{% if true %}…{% endif %}`: same output and, being block tags
/// too, the same `trim_blocks`/`lstrip_blocks` whitespace handling.
pub(crate) fn rewrite_generation_tags(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        let after_open = open + 2;
        let (keyword_at, keyword) = match generation_keyword(&rest[after_open..]) {
            Some((offset, keyword)) => (after_open + offset, keyword),
            None => {
                out.push_str(&rest[..after_open]);
                rest = &rest[after_open..];
                continue;
            }
        };
        out.push_str(&rest[..keyword_at]);
        out.push_str(if keyword == "generation" {
            "if true"
        } else {
            "endif"
        });
        rest = &rest[keyword_at + keyword.len()..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// After `{%`: optional `-`/`+`, spaces, then `generation` or `endgeneration` ending the tag.
fn generation_keyword(tag: &str) -> Option<(usize, &'static str)> {
    let trimmed = tag.strip_prefix(['-', '+']).unwrap_or(tag);
    let body = trimmed.trim_start();
    let offset = tag.len() - body.len();
    let keyword = ["endgeneration", "generation"]
        .into_iter()
        .find(|k| body.starts_with(k))?;
    let tail = body[keyword.len()..].trim_start();
    let tail = tail.strip_prefix(['-', '+']).unwrap_or(tail);
    tail.starts_with("%}").then_some((offset, keyword))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, ctx: Value) -> Result<String, Error> {
        let env = environment();
        env.render_str(source, ctx)
    }

    #[test]
    fn generation_tags_become_if_blocks() {
        let src = "a{%- generation -%}b{% endgeneration %}c{%generation%}d{%+ endgeneration +%}";
        assert_eq!(
            rewrite_generation_tags(src),
            "a{%- if true -%}b{% endif %}c{%if true%}d{%+ endif +%}"
        );
        assert_eq!(
            rewrite_generation_tags("{{ generation }}{% if x %}"),
            "{{ generation }}{% if x %}"
        );
    }

    #[test]
    fn python_printing_and_methods() {
        let ctx = Value::from_serialize(
            serde_json::json!({"n": null, "t": true, "f": 2.0, "l": ["a"], "s": "  Hi There "}),
        );
        let out = render(
            "{{ n }}|{{ t }}|{{ f }}|{{ l }}|{{ s.strip().lower() }}|{{ s.split() }}|{{ t|string }}",
            ctx,
        );
        assert_eq!(
            out.expect("render"),
            "None|True|2.0|['a']|hi there|['Hi', 'There']|True"
        );
    }

    #[test]
    fn tojson_keeps_order_and_does_not_escape_html() {
        let ctx = Value::from_serialize(serde_json::json!({"x": {"z": "<b>&", "a": [1, 2]}}));
        assert_eq!(
            render("{{ x|tojson }}", ctx.clone()).expect("render"),
            r#"{"z": "<b>&", "a": [1, 2]}"#
        );
        assert_eq!(
            render("{{ x|tojson(indent=2) }}", ctx.clone()).expect("render"),
            "{\n  \"z\": \"<b>&\",\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
        assert_eq!(
            render(
                "{{ x|tojson(sort_keys=true, separators=(',', ':')) }}",
                ctx.clone()
            )
            .expect("render"),
            r#"{"a":[1,2],"z":"<b>&"}"#
        );
        assert!(render("{{ x|tojson(bogus=1) }}", ctx).is_err());
    }

    #[test]
    fn loop_controls_and_builtin_filters() {
        let ctx =
            Value::from_serialize(serde_json::json!({"m": [{"role": "system"}, {"role": "user"}]}));
        let src = "{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}\
                   {% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}|\
                   {{ m | selectattr('role', 'equalto', 'user') | map(attribute='role') | join(',') }}|\
                   {{ m | rejectattr('role', 'equalto', 'user') | list | length }}";
        assert_eq!(render(src, ctx).expect("render"), "13|user|1");
    }

    #[test]
    fn raise_exception_carries_its_message() {
        let err = render(
            "{{ raise_exception('roles must alternate') }}",
            Value::UNDEFINED,
        )
        .expect_err("raises");
        let raised = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<Raised>());
        assert_eq!(raised.map(|r| r.0.as_str()), Some("roles must alternate"));
    }

    #[test]
    fn strftime_now_formats_and_rejects_bad_formats() {
        let year = render("{{ strftime_now('%Y') }}", Value::UNDEFINED).expect("render");
        assert_eq!(year.len(), 4);
        assert!(year.chars().all(|c| c.is_ascii_digit()));
        assert!(render("{{ strftime_now('%Q') }}", Value::UNDEFINED).is_err());
    }
}
