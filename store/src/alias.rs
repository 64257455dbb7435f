//! Aliases made by /api/copy: `<models>/<org>/<folder>.alias.json` holding
//! `{"target": "<canonical name>"}`. An alias is a name, not a copy of the
//! files; deleting the target moves its folder to an alias (see lib.rs).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::layout::{visible_entries, Found, Source};
use crate::manifest::{sibling_with_suffix, write_atomic};
use crate::name::ModelName;

/// Suffix of alias files.
pub const ALIAS_SUFFIX: &str = ".alias.json";

/// The alias document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AliasFile {
    /// Canonical name of the model the alias points at.
    pub target: String,
}

/// One alias on disk.
#[derive(Debug, Clone)]
pub(crate) struct Alias {
    pub name: ModelName,
    pub target: ModelName,
    pub file: PathBuf,
}

/// Path of the alias file for `name`.
pub(crate) fn alias_path(models_dir: &Path, name: &ModelName) -> PathBuf {
    sibling_with_suffix(&models_dir.join(name.relative_dir()), ALIAS_SUFFIX)
}

/// Writes (or replaces) an alias.
pub(crate) fn write_alias(
    models_dir: &Path,
    name: &ModelName,
    target: &ModelName,
) -> Result<PathBuf, StoreError> {
    let path = alias_path(models_dir, name);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|e| StoreError::io_at(parent, e))?;
    }
    let doc = AliasFile {
        target: target.to_string(),
    };
    let text = serde_json::to_string_pretty(&doc).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Every readable alias; corrupt ones are logged and skipped.
pub(crate) fn scan_aliases(models_dir: &Path) -> Vec<Alias> {
    let mut out = Vec::new();
    for org in visible_entries(models_dir) {
        let Some(org_name) = org.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        for file in visible_entries(&org) {
            let Some(stem) = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(ALIAS_SUFFIX))
            else {
                continue;
            };
            let Some(name) = ModelName::from_folder(&org_name, stem) else {
                continue;
            };
            match read_alias(&file) {
                Ok(target) => out.push(Alias { name, target, file }),
                Err(e) => tracing::warn!(error = %e, "skipping alias"),
            }
        }
    }
    out
}

fn read_alias(path: &Path) -> Result<ModelName, StoreError> {
    let text = fs_err::read_to_string(path)?;
    let doc: AliasFile = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    ModelName::parse(&doc.target).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Turns aliases into entries by looking their targets up among `models`
/// (aliases of missing targets are skipped).
pub(crate) fn resolve_aliases(aliases: &[Alias], models: &[Found]) -> Vec<Found> {
    aliases
        .iter()
        .filter_map(|alias| {
            let target = models
                .iter()
                .find(|f| f.entry.name.same_as(&alias.target))?;
            let mut found = target.clone();
            found.entry.name = alias.name.clone();
            found.entry.source = Source::Alias;
            found.entry.read_only = false;
            Some(found)
        })
        .collect()
}
