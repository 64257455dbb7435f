//! Model names: Hugging Face repo ids with an optional `:tag`, and the one
//! canonical mapping from a name to a folder inside the store.
//!
//! Grammar: `[hf.co/]<org>/<name>[:<tag>]` or `<name>[:<tag>]` (an alias made by
//! /api/copy; its namespace is `library`, as in Ollama). Each part is 1..=96
//! characters of `[A-Za-z0-9_.-]`, starting with an alphanumeric or `_`; `..`
//! never appears, so no name can reach outside the store.

use std::fmt;
use std::path::PathBuf;

/// Namespace given to one-part names (`mymodel` is `library/mymodel`).
pub const DEFAULT_NAMESPACE: &str = "library";
/// Tag used when a name carries none; it selects the repo's `main` revision.
pub const DEFAULT_TAG: &str = "latest";
/// Longest accepted part (org, name); Hugging Face caps repo names at 96.
pub const MAX_PART_LEN: usize = 96;
/// Longest accepted tag (a branch name or a 40-hex commit).
pub const MAX_TAG_LEN: usize = 128;
/// Separator between a model folder and its tag on disk (`name@tag`); `@`
/// cannot occur in a part, so the mapping is one-to-one.
pub const TAG_SEPARATOR: char = '@';

/// A name that cannot be a model name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The whole name was empty or only whitespace.
    #[error("invalid model name: empty name")]
    Empty,
    /// One of the parts was empty (`org//name`, `name:`, `/name`).
    #[error("invalid model name {name:?}: empty {part}")]
    EmptyPart {
        /// The name as given.
        name: String,
        /// Which part: "namespace", "model" or "tag".
        part: &'static str,
    },
    /// A part was longer than allowed.
    #[error("invalid model name {name:?}: {part} is longer than {max} characters")]
    TooLong {
        /// The name as given.
        name: String,
        /// Which part.
        part: &'static str,
        /// The limit.
        max: usize,
    },
    /// A part held a character outside `[A-Za-z0-9_.-]` or started badly.
    #[error("invalid model name {name:?}: {part} contains {ch:?} (allowed: letters, digits, '_', '-', '.')")]
    BadChar {
        /// The name as given (NUL shown escaped).
        name: String,
        /// Which part.
        part: &'static str,
        /// The offending character.
        ch: char,
    },
    /// A part was `.`/`..`-like or started with a character that is not allowed first.
    #[error("invalid model name {name:?}: {part} must start with a letter, digit or '_' and must not contain \"..\"")]
    BadStart {
        /// The name as given.
        name: String,
        /// Which part.
        part: &'static str,
    },
    /// More than two path segments after the optional host.
    #[error("invalid model name {name:?}: expected <org>/<name>[:tag]")]
    TooManyParts {
        /// The name as given.
        name: String,
    },
}

/// A parsed, validated model name.
///
/// Equality and hashing are exact (case-sensitive); use [`ModelName::key`] for
/// the case-insensitive lookup key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName {
    namespace: String,
    model: String,
    tag: String,
}

impl ModelName {
    /// Parses a user-supplied name. Accepts an `hf.co/` (or `huggingface.co/`)
    /// prefix, and a `:tag` (default `latest`).
    pub fn parse(input: &str) -> Result<ModelName, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        let rest = strip_host(trimmed);
        let (path, tag) = match rest.rfind(':') {
            Some(i) if rest[i..].find('/').is_none() => (&rest[..i], &rest[i + 1..]),
            _ => (rest, DEFAULT_TAG),
        };
        let mut segments = path.split('/');
        let first = segments.next().unwrap_or_default();
        let (namespace, model) = match (segments.next(), segments.next()) {
            (None, _) => (DEFAULT_NAMESPACE, first),
            (Some(second), None) => (first, second),
            (Some(_), Some(_)) => return Err(NameError::TooManyParts { name: input.into() }),
        };
        check_part(input, "namespace", namespace, MAX_PART_LEN)?;
        check_part(input, "model", model, MAX_PART_LEN)?;
        check_part(input, "tag", tag, MAX_TAG_LEN)?;
        Ok(ModelName {
            namespace: namespace.into(),
            model: model.into(),
            tag: tag.into(),
        })
    }

    /// Builds a name from already separate parts, validating each.
    pub fn from_parts(namespace: &str, model: &str, tag: &str) -> Result<ModelName, NameError> {
        let shown = format!("{namespace}/{model}:{tag}");
        check_part(&shown, "namespace", namespace, MAX_PART_LEN)?;
        check_part(&shown, "model", model, MAX_PART_LEN)?;
        check_part(&shown, "tag", tag, MAX_TAG_LEN)?;
        Ok(ModelName {
            namespace: namespace.into(),
            model: model.into(),
            tag: tag.into(),
        })
    }

    /// The organisation / user (`library` for one-part names).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The repository / model part.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The tag (`latest` when none was given).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The Hugging Face repo id, `org/name`.
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.namespace, self.model)
    }

    /// The hub revision this tag selects: `main` for `latest`, else the tag.
    pub fn revision(&self) -> &str {
        if self.tag.eq_ignore_ascii_case(DEFAULT_TAG) {
            "main"
        } else {
            &self.tag
        }
    }

    /// Case-insensitive lookup key (`org/name:tag`, lower-cased).
    pub fn key(&self) -> String {
        format!("{}/{}:{}", self.namespace, self.model, self.tag).to_lowercase()
    }

    /// The folder of this model relative to the store root:
    /// `<org>/<name>` for `latest`, `<org>/<name>@<tag>` otherwise.
    pub fn relative_dir(&self) -> PathBuf {
        let mut dir = PathBuf::from(&self.namespace);
        dir.push(self.folder_name());
        dir
    }

    /// The last path component of [`ModelName::relative_dir`].
    pub fn folder_name(&self) -> String {
        if self.tag.eq_ignore_ascii_case(DEFAULT_TAG) {
            self.model.clone()
        } else {
            format!("{}{TAG_SEPARATOR}{}", self.model, self.tag)
        }
    }

    /// Inverse of [`ModelName::relative_dir`]: the name stored in
    /// `<namespace>/<folder>`, or `None` when the folder name is not one.
    pub fn from_folder(namespace: &str, folder: &str) -> Option<ModelName> {
        let (model, tag) = match folder.split_once(TAG_SEPARATOR) {
            Some((model, tag)) => (model, tag),
            None => (folder, DEFAULT_TAG),
        };
        ModelName::from_parts(namespace, model, tag).ok()
    }

    /// True when both names refer to the same model ignoring case.
    pub fn same_as(&self, other: &ModelName) -> bool {
        self.key() == other.key()
    }
}

impl fmt::Display for ModelName {
    /// Canonical form: `org/name:tag`, or `name:tag` in the `library` namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace == DEFAULT_NAMESPACE {
            write!(f, "{}:{}", self.model, self.tag)
        } else {
            write!(f, "{}/{}:{}", self.namespace, self.model, self.tag)
        }
    }
}

impl std::str::FromStr for ModelName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::parse(s)
    }
}

/// Drops an accepted host prefix (`hf.co/`, `huggingface.co/`, with or without
/// a scheme); anything else is left for the part checks to judge.
fn strip_host(name: &str) -> &str {
    let no_scheme = name
        .strip_prefix("https://")
        .or_else(|| name.strip_prefix("http://"))
        .unwrap_or(name);
    for host in ["hf.co/", "huggingface.co/", "www.huggingface.co/"] {
        // `get` rather than indexing: the input may split a multi-byte character here.
        if let (Some(head), Some(rest)) = (no_scheme.get(..host.len()), no_scheme.get(host.len()..))
        {
            if head.eq_ignore_ascii_case(host) && !rest.is_empty() {
                return rest;
            }
        }
    }
    no_scheme
}

fn check_part(name: &str, part: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    let shown = || name.escape_default().to_string();
    if value.is_empty() {
        return Err(NameError::EmptyPart {
            name: shown(),
            part,
        });
    }
    if value.chars().count() > max {
        return Err(NameError::TooLong {
            name: shown(),
            part,
            max,
        });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(NameError::BadChar {
            name: shown(),
            part,
            ch,
        });
    }
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || value.contains("..") {
        return Err(NameError::BadStart {
            name: shown(),
            part,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repo_ids_tags_and_hosts() {
        let n = ModelName::parse("hf.co/mlx-community/Llama-3.2-1B-Instruct-4bit").unwrap();
        assert_eq!(
            n.to_string(),
            "mlx-community/Llama-3.2-1B-Instruct-4bit:latest"
        );
        assert_eq!(n.revision(), "main");
        let n = ModelName::parse("org/name:v1.0").unwrap();
        assert_eq!((n.tag(), n.revision()), ("v1.0", "v1.0"));
        assert_eq!(n.relative_dir(), PathBuf::from("org/name@v1.0"));
        let n = ModelName::parse("alias").unwrap();
        assert_eq!(n.to_string(), "alias:latest");
        assert_eq!(n.relative_dir(), PathBuf::from("library/alias"));
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            "",
            "../x",
            "a/..",
            "/abs/x",
            "a/b/c",
            "a\0b/c",
            "a/b:",
            ":t",
            "a//b",
            ".hidden/x",
            "a/b c",
        ] {
            assert!(ModelName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ModelName::parse(&"a".repeat(97)).is_err());
    }
}
