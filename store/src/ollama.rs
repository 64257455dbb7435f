//! Discovery of Ollama's own store (`~/.ollama/models`): manifests under
//! `manifests/<host>/<namespace>/<model>/<tag>` name a GGUF blob in
//! `blobs/sha256-<hex>`. Such models are listed read-only when their GGUF can
//! be converted, and converted into `<models>/.imports/ollama-<hex>/` on
//! first use.

use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

use crate::error::StoreError;
use crate::gguf::config::Hparams;
use crate::gguf::GgufFile;
use crate::layout::{check_model_dir, visible_entries, Found, ModelEntry};
use crate::manifest::Origin;
use crate::name::ModelName;
use crate::{Source, Store};

/// Media type of the GGUF weights layer.
const MODEL_LAYER: &str = "application/vnd.ollama.image.model";
/// Hidden folder of converted Ollama models.
const IMPORTS_DIR: &str = ".imports";

#[derive(Deserialize)]
struct OllamaManifest {
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

/// Every convertible model in Ollama's store.
pub(crate) fn scan(store: &Store, ollama_dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    let manifests = ollama_dir.join("manifests");
    for host in visible_entries(&manifests) {
        let host_name = host
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // Only hosts whose names map onto ours without collisions.
        if !matches!(
            host_name.as_str(),
            "registry.ollama.ai" | "hf.co" | "huggingface.co"
        ) {
            continue;
        }
        for ns in visible_entries(&host) {
            for model in visible_entries(&ns) {
                for tag in visible_entries(&model) {
                    if let Some(f) = entry(store, ollama_dir, &ns, &model, &tag) {
                        found.push(f);
                    }
                }
            }
        }
    }
    found
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

fn entry(store: &Store, ollama_dir: &Path, ns: &Path, model: &Path, tag: &Path) -> Option<Found> {
    let name = ModelName::from_parts(file_name(ns), file_name(model), file_name(tag)).ok()?;
    let meta = std::fs::metadata(tag)
        .ok()
        .filter(std::fs::Metadata::is_file)?;
    let text = std::fs::read(tag).ok()?;
    let manifest: OllamaManifest = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(path = %tag.display(), error = %e, "skipping corrupt Ollama manifest");
            return None;
        }
    };
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == MODEL_LAYER)?;
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let blob = ollama_dir.join("blobs").join(format!("sha256-{hex}"));
    if !convertible(store, &blob) {
        return None;
    }
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let entry = ModelEntry {
        name,
        path: store
            .models_dir()
            .join(IMPORTS_DIR)
            .join(format!("ollama-{hex}")),
        source: Source::Ollama,
        size: layer.size,
        digest: hex.to_string(),
        modified,
        read_only: true,
    };
    Some(Found {
        entry,
        signature: hex.to_string(),
    })
}

/// Whether a blob is a GGUF of a supported architecture (cached: blobs are
/// content-addressed and never change).
fn convertible(store: &Store, blob: &Path) -> bool {
    let mut cache = store
        .inner
        .ollama_checked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let verdict = cache.entry(blob.to_path_buf()).or_insert_with(|| {
        let result = GgufFile::open(blob).and_then(|g| Hparams::read(&g).map(|_| ())).map_err(|e| e.to_string());
        if let Err(reason) = &result {
            tracing::info!(blob = %blob.display(), %reason, "Ollama model cannot be served by MLX; skipped");
        }
        result
    });
    verdict.is_ok()
}

/// Converts an Ollama model on first use; later calls find the folder.
pub(crate) fn materialize(store: &Store, entry: ModelEntry) -> Result<ModelEntry, StoreError> {
    if check_model_dir(&entry.path).is_ok() {
        return Ok(entry);
    }
    let lock = store.busy_lock(&entry.name);
    let _guard = lock.try_lock().map_err(|_| StoreError::Busy {
        name: entry.name.to_string(),
    })?;
    let ollama_dir = store.config().ollama_dir.clone().unwrap_or_default();
    let blob = ollama_dir
        .join("blobs")
        .join(format!("sha256-{}", entry.digest));
    let origin = Origin::Gguf {
        file: blob.display().to_string(),
        size: entry.size,
    };
    crate::gguf::import::import_to(
        store.models_dir(),
        &blob,
        &entry.name,
        &entry.path,
        Some(origin),
        &mut |_| {},
    )?;
    Ok(entry)
}
