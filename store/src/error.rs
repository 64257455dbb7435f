//! The store's error type. Messages are lowercase, name the model or file,
//! and are fit to show to an API client.

use std::path::PathBuf;

use crate::gguf::GgufError;
use crate::layout::Source;
use crate::name::NameError;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The name does not parse (bad characters, `..`, too long...).
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// No complete model has this name (the daemon answers 404).
    #[error("model '{name}' not found")]
    NotFound {
        /// The name as requested.
        name: String,
    },
    /// A model of that name already exists and would be overwritten.
    #[error("model '{name}' already exists")]
    AlreadyExists {
        /// The name in the way.
        name: String,
    },
    /// Another pull or import of the same name is running.
    #[error("model '{name}' is being pulled or imported right now; try again when it finishes")]
    Busy {
        /// The model.
        name: String,
    },
    /// The model comes from a source the store does not own.
    #[error("model '{name}' is read-only ({kind:?} source at {path}); remove it with the tool that created it")]
    ReadOnly {
        /// The model.
        name: String,
        /// Where it comes from.
        kind: Source,
        /// Its folder.
        path: PathBuf,
    },
    /// A file system operation failed (the message names the file).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The disk filled up; whatever was being written was discarded.
    #[error("disk full while writing {path}")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// A folder is not a usable model.
    #[error("not a usable model folder {path}: {reason}")]
    BadModel {
        /// The folder.
        path: PathBuf,
        /// What is wrong or missing.
        reason: String,
    },
    /// A JSON file (manifest, config, alias) does not parse.
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// The hub has no such repository or revision (or it needs a token).
    #[error("pull model manifest: repository '{repo}' revision '{revision}' not found on {endpoint} (HTTP {status}; private or gated repos need HF_TOKEN)")]
    NoSuchRepo {
        /// Repo id.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// Hub endpoint used.
        endpoint: String,
        /// HTTP status the hub answered.
        status: u16,
    },
    /// The repository exists but holds no MLX/safetensors model.
    #[error("'{repo}' is not an MLX model: {reason}")]
    NotMlx {
        /// Repo id.
        repo: String,
        /// What is missing.
        reason: String,
    },
    /// Talking to the hub failed (connection cut, bad reply...).
    #[error("pull '{repo}': {message}")]
    Hub {
        /// Repo id.
        repo: String,
        /// What happened.
        message: String,
    },
    /// A downloaded file does not match the digest the hub lists for it.
    #[error("digest mismatch for {file}: expected sha256:{expected}, got sha256:{actual}; the file was discarded, pull again")]
    Checksum {
        /// File in the repo.
        file: String,
        /// Listed digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// A GGUF file could not be imported.
    #[error("import {path}: {source}")]
    Gguf {
        /// The GGUF file.
        path: PathBuf,
        /// Why.
        source: GgufError,
    },
    /// The file watcher could not be set up.
    #[error("watch {path}: {message}")]
    Watch {
        /// The folder.
        path: PathBuf,
        /// notify's message.
        message: String,
    },
}

impl StoreError {
    /// Maps an I/O error on `path`, recognising a full disk.
    pub(crate) fn io_at(path: impl Into<PathBuf>, err: std::io::Error) -> StoreError {
        if err.kind() == std::io::ErrorKind::StorageFull {
            StoreError::DiskFull { path: path.into() }
        } else {
            StoreError::Io(err)
        }
    }

    /// True when the daemon should answer 404.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. } | StoreError::NoSuchRepo { .. }
        )
    }

    /// True when the request itself was bad (the daemon answers 400).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidName(_)
                | StoreError::AlreadyExists { .. }
                | StoreError::ReadOnly { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_is_recognised() {
        let err = StoreError::io_at(
            "/m/x",
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert_eq!(err.to_string(), "disk full while writing /m/x");
        let err = StoreError::io_at("/m/x", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(err, StoreError::Io(_)));
    }
}
