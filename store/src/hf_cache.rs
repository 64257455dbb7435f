//! Read-only discovery of models in the Hugging Face cache
//! (`<cache>/models--<org>--<name>/{refs,snapshots,blobs}`), where mlx-lm,
//! huggingface-cli and LM Studio's HF downloads land. Each ref is a tag
//! (`main` is `latest`); the snapshot it names is served in place.

use std::path::{Path, PathBuf};

use crate::layout::{check_model_dir, visible_entries, Found, ModelEntry, Source};
use crate::name::{ModelName, DEFAULT_TAG};

/// Prefix of model repos in the cache.
const MODEL_PREFIX: &str = "models--";

/// Complete snapshots in every cache folder, first folder winning on duplicates.
pub(crate) fn scan_hf_caches(dirs: &[PathBuf]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for dir in dirs {
        for model in scan_cache(dir) {
            if !found
                .iter()
                .any(|f| f.entry.name.same_as(&model.entry.name))
            {
                found.push(model);
            }
        }
    }
    found
}

fn scan_cache(cache: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for repo_dir in visible_entries(cache) {
        let Some(folder) = repo_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((org, model)) = folder
            .strip_prefix(MODEL_PREFIX)
            .and_then(|r| r.split_once("--"))
        else {
            continue;
        };
        for (tag, snapshot) in refs(&repo_dir) {
            let Ok(name) = ModelName::from_parts(org, model, &tag) else {
                continue;
            };
            match check_model_dir(&snapshot) {
                Ok(info) => {
                    let signature = info.signature();
                    let entry = ModelEntry {
                        name,
                        path: snapshot,
                        source: Source::HfCache,
                        size: info.size(),
                        digest: signature.clone(),
                        modified: info.modified(),
                        read_only: true,
                    };
                    found.push(Found { entry, signature });
                }
                Err(reason) => {
                    tracing::debug!(path = %snapshot.display(), %reason, "skipping hf cache snapshot")
                }
            }
        }
    }
    found
}

/// The refs of one cached repo as (tag, snapshot folder). Ref names with a
/// `/` (`refs/pr/1`) cannot be tags and are skipped.
fn refs(repo_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for ref_file in visible_entries(&repo_dir.join("refs")) {
        if !ref_file.is_file() {
            continue;
        }
        let Some(ref_name) = ref_file
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let Ok(commit) = std::fs::read_to_string(&ref_file) else {
            continue;
        };
        let commit = commit.trim();
        if commit.is_empty()
            || commit.len() > 64
            || !commit.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            continue;
        }
        let tag = if ref_name == "main" {
            DEFAULT_TAG.to_string()
        } else {
            ref_name
        };
        out.push((tag, repo_dir.join("snapshots").join(commit)));
    }
    out
}
