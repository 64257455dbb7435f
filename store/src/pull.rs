//! Pulls from a Hugging Face compatible hub through hf-hub: list the repo
//! (with LFS sha256), download what an MLX model needs into a hidden
//! staging folder (hf-hub resumes partial files chunk by chunk), verify,
//! and publish with one rename. A failed pull leaves only the hidden
//! staging folder, which the next pull of the same revision resumes.

use std::path::{Path, PathBuf};

use hf_hub::api::tokio::{ApiError, ApiRepo};
use hf_hub::{Repo, RepoType};

use crate::error::StoreError;
use crate::hub::{
    build_api, list_repo, select_files, HubConfig, PullProgress, Wanted, PARTIAL_DIR,
};
use crate::layout::check_model_dir;
use crate::manifest::{manifest_path, sha256_file, Manifest, ManifestFile, Origin};
use crate::name::ModelName;
use crate::Store;

/// Runs one pull of `name` into the store.
pub(crate) async fn pull(
    store: &Store,
    hub: &HubConfig,
    name: &ModelName,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<(), StoreError> {
    progress(PullProgress::status("pulling manifest"));
    let partial = store.models_dir().join(PARTIAL_DIR);
    let api = build_api(hub, &partial.join("hub"), name)?;
    let repo = api.repo(Repo::with_revision(
        name.repo_id(),
        RepoType::Model,
        name.revision().to_string(),
    ));
    let listing = list_repo(&repo, hub, name).await?;
    let files = select_files(name, &listing)?;
    let target = target_dir(store, name);
    if up_to_date(&target, &listing.sha) {
        progress(PullProgress::status("success"));
        return Ok(());
    }
    let staging = partial.join(format!(
        "{}--{}--{}",
        name.namespace(),
        name.folder_name(),
        listing.sha
    ));
    fs_err::create_dir_all(&staging).map_err(|e| StoreError::io_at(&staging, e))?;
    for file in &files {
        fetch_file(&repo, name, file, &staging, hub.stall_timeout, progress).await?;
    }
    progress(PullProgress::status("verifying sha256 digest"));
    let manifest_files = verify(&staging, &files)?;
    if let Err(reason) = check_model_dir(&staging) {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(StoreError::NotMlx {
            repo: name.repo_id(),
            reason,
        });
    }
    progress(PullProgress::status("writing manifest"));
    let origin = Origin::Huggingface {
        endpoint: hub.endpoint.clone(),
        repo: name.repo_id(),
        revision: listing.sha.clone(),
    };
    publish(
        store.models_dir(),
        &staging,
        &target,
        &Manifest::new(name.to_string(), origin, manifest_files),
    )?;
    let _ = fs_err::remove_dir_all(partial.join("hub").join(format!(
        "models--{}--{}",
        name.namespace(),
        name.model()
    )));
    progress(PullProgress::status("success"));
    tracing::info!(model = %name, revision = %listing.sha, "pulled");
    Ok(())
}

/// Where the model will live: an existing folder of the same name (any
/// case) is replaced in place, else the canonical folder.
fn target_dir(store: &Store, name: &ModelName) -> PathBuf {
    crate::layout::candidate_dirs(store.models_dir())
        .into_iter()
        .find(|(n, _)| n.same_as(name))
        .map_or_else(
            || store.models_dir().join(name.relative_dir()),
            |(_, dir)| dir,
        )
}

fn up_to_date(target: &Path, sha: &str) -> bool {
    let Ok(manifest) = Manifest::read(&manifest_path(target)) else {
        return false;
    };
    matches!(&manifest.source, Origin::Huggingface { revision, .. } if revision == sha)
        && manifest.matches_dir(target)
        && check_model_dir(target).is_ok()
}

/// hf-hub progress forwarded over a channel, so the caller's callback (not
/// `Clone`, not `'static`) is driven from the pulling task.
#[derive(Clone)]
struct ChannelProgress(tokio::sync::mpsc::UnboundedSender<u64>);

impl hf_hub::api::tokio::Progress for ChannelProgress {
    async fn init(&mut self, _size: usize, _filename: &str) {}
    async fn update(&mut self, size: usize) {
        let _ = self.0.send(size as u64);
    }
    async fn finish(&mut self) {}
}

/// Downloads one file into `staging` unless a previous attempt finished it.
async fn fetch_file(
    repo: &ApiRepo,
    name: &ModelName,
    file: &Wanted,
    staging: &Path,
    stall_timeout: std::time::Duration,
    progress: &mut (dyn FnMut(PullProgress) + Send),
) -> Result<(), StoreError> {
    let dest = staging.join(&file.path);
    let line = |completed: u64| PullProgress {
        status: format!("pulling {}", file.path),
        digest: file.sha256.as_ref().map(|s| format!("sha256:{s}")),
        total: file.size,
        completed: Some(completed),
    };
    if let (Ok(meta), Some(size)) = (std::fs::metadata(&dest), file.size) {
        if meta.len() == size {
            progress(line(size));
            return Ok(());
        }
    }
    progress(PullProgress {
        completed: None,
        ..line(0)
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let download = repo.download_with_progress(&file.path, ChannelProgress(tx));
    tokio::pin!(download);
    let step = file.size.map_or(1 << 20, |s| (s / 100).max(64 << 10));
    let (mut done, mut shown) = (0u64, 0u64);
    let mut last_data = tokio::time::Instant::now();
    let result = loop {
        tokio::select! {
            result = &mut download => break result,
            Some(n) = rx.recv() => {
                done += n;
                last_data = tokio::time::Instant::now();
                if done >= shown + step {
                    shown = done;
                    progress(line(done));
                }
            }
            () = tokio::time::sleep_until(last_data + stall_timeout) => {
                return Err(StoreError::Hub {
                    repo: name.repo_id(),
                    message: format!(
                        "download of {} stalled: no data for {:.0}s; run the pull again to resume",
                        file.path,
                        stall_timeout.as_secs_f64()
                    ),
                });
            }
        }
    };
    let pointer = result.map_err(|e| api_error(name, &dest, e))?;
    let blob = fs_err::canonicalize(&pointer)?;
    if let Some(parent) = dest.parent() {
        fs_err::create_dir_all(parent).map_err(|e| StoreError::io_at(parent, e))?;
    }
    fs_err::rename(&blob, &dest).map_err(|e| StoreError::io_at(&dest, e))?;
    let _ = std::fs::remove_file(&pointer);
    progress(line(file.size.unwrap_or(done)));
    Ok(())
}

/// Hashes every file; a mismatch deletes that file so the next pull fetches
/// it again.
fn verify(staging: &Path, files: &[Wanted]) -> Result<Vec<ManifestFile>, StoreError> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let path = staging.join(&file.path);
        let size = fs_err::metadata(&path)?.len();
        let sha256 = sha256_file(&path)?;
        let size_ok = file.size.is_none_or(|s| s == size);
        if let Some(expected) = &file.sha256 {
            if *expected != sha256 || !size_ok {
                let _ = fs_err::remove_file(&path);
                return Err(StoreError::Checksum {
                    file: file.path.clone(),
                    expected: expected.clone(),
                    actual: sha256,
                });
            }
        } else if !size_ok {
            let _ = fs_err::remove_file(&path);
            return Err(StoreError::Checksum {
                file: file.path.clone(),
                expected: format!("{} bytes", file.size.unwrap_or(0)),
                actual: format!("{size} bytes"),
            });
        }
        out.push(ManifestFile {
            path: file.path.clone(),
            size,
            sha256,
        });
    }
    Ok(out)
}

/// Moves the finished folder into place (replacing an older version) and
/// writes its manifest.
pub(crate) fn publish(
    models_dir: &Path,
    staging: &Path,
    target: &Path,
    manifest: &Manifest,
) -> Result<(), StoreError> {
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent).map_err(|e| StoreError::io_at(parent, e))?;
    }
    let old = if target.exists() {
        let trash = models_dir.join(".trash").join(crate::unique_suffix());
        fs_err::create_dir_all(models_dir.join(".trash"))?;
        fs_err::rename(target, &trash)?;
        Some(trash)
    } else {
        None
    };
    if let Err(e) = fs_err::rename(staging, target) {
        // Put the previous version back rather than lose it.
        if let Some(old) = &old {
            let _ = fs_err::rename(old, target);
        }
        return Err(StoreError::io_at(target, e));
    }
    manifest.write(&manifest_path(target))?;
    if let Some(old) = old {
        let _ = fs_err::remove_dir_all(old);
    }
    Ok(())
}

/// Turns hf-hub's error into ours, recognising a full disk and cut connections.
pub(crate) fn api_error(name: &ModelName, path: &Path, err: ApiError) -> StoreError {
    match err {
        ApiError::IoError(e) => StoreError::io_at(path, e),
        ApiError::RequestError(e) if e.status().is_some_and(|s| s.as_u16() == 404) => {
            StoreError::Hub {
                repo: name.repo_id(),
                message: format!("file listed by the hub is missing: {e}"),
            }
        }
        other => StoreError::Hub {
            repo: name.repo_id(),
            message: format!("download interrupted ({other}); run the pull again to resume"),
        },
    }
}
