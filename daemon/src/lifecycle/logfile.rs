//! The daemon's own log file, rotated by size: when a write would pass the limit, `log` becomes
//! `log.1`, `log.1` becomes `log.2`, … and the oldest beyond `keep` is removed. Only used when
//! `OLLMLX_LOG_FILE` is set; otherwise logs go to stderr for the supervisor to keep.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Rotate past this many bytes.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept (`.1` … `.5`).
pub const DEFAULT_KEEP: usize = 5;

struct Inner {
    file: File,
    written: u64,
}

/// A size-rotated log file, shared by every writer tracing hands out.
#[derive(Clone)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    inner: Arc<Mutex<Inner>>,
}

impl RotatingFile {
    /// Opens (appends to) `path`, creating its folder.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_path_buf(), max_bytes: max_bytes.max(1), keep, inner: Arc::new(Mutex::new(Inner { file, written })) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic mid-write leaves a usable file: keep logging.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shifts `.N` files up by one and starts a fresh file.
    fn rotate(&self, inner: &mut Inner) -> io::Result<()> {
        inner.file.flush()?;
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                if numbered(n).exists() {
                    std::fs::rename(numbered(n), numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        inner.file = open_append(&self.path)?;
        inner.written = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.lock();
        // Rotate before a write that would overflow; a single record is never split.
        if inner.written > 0 && inner.written + buf.len() as u64 > self.max_bytes {
            self.rotate(&mut inner)?;
        }
        let n = inner.file.write(buf)?;
        inner.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().file.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/ollmlxd.log");
        let mut log = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            log.write_all(format!("{i}{}\n", "x".repeat(38)).as_bytes()).unwrap();
        }
        // 40-byte lines, 100-byte limit: two lines a file; 10 lines → 5 files, 3 kept.
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        let first = |s: String| s.chars().next().unwrap();
        assert_eq!(first(read(path.clone())), '8');
        assert_eq!(first(read(dir.path().join("logs/ollmlxd.log.1"))), '6');
        assert_eq!(first(read(dir.path().join("logs/ollmlxd.log.2"))), '4');
        assert!(!dir.path().join("logs/ollmlxd.log.3").exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
    }

    #[test]
    fn appends_to_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut log = RotatingFile::open(&path, 6, 1).unwrap();
        log.write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("d.log.1")).unwrap(), "old\n");
    }
}
