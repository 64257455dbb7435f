//! A streaming safetensors writer: the header is computed from planned
//! tensor sizes, then each tensor's bytes are appended as they are
//! produced, so only one converted tensor is in memory at a time. The file
//! is hashed while it is written (for the manifest).

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

/// One planned output tensor.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Name in the file.
    pub name: String,
    /// safetensors dtype.
    pub dtype: &'static str,
    /// Shape.
    pub shape: Vec<u64>,
    /// Exact byte length.
    pub nbytes: u64,
}

/// Writer for one safetensors file.
pub struct SafetensorsWriter {
    out: BufWriter<fs_err::File>,
    hasher: Sha256,
    plan: Vec<Planned>,
    next: usize,
    written: u64,
}

impl SafetensorsWriter {
    /// Creates the file and writes its header for `plan` (tensors must then
    /// be written in plan order).
    pub fn create(path: &Path, plan: Vec<Planned>) -> std::io::Result<SafetensorsWriter> {
        let mut header = Map::new();
        header.insert("__metadata__".into(), json!({"format": "mlx"}));
        let mut offset = 0u64;
        for t in &plan {
            header.insert(t.name.clone(), json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.nbytes]}));
            offset += t.nbytes;
        }
        let mut bytes = serde_json::to_vec(&Json::Object(header)).map_err(std::io::Error::other)?;
        // Pad with spaces so tensor data starts 8-byte aligned.
        while bytes.len() % 8 != 0 {
            bytes.push(b' ');
        }
        let mut writer = SafetensorsWriter {
            out: BufWriter::with_capacity(1 << 20, fs_err::File::create(path)?),
            hasher: Sha256::new(),
            plan,
            next: 0,
            written: 0,
        };
        writer.put(&(bytes.len() as u64).to_le_bytes())?;
        writer.put(&bytes)?;
        Ok(writer)
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    /// Appends the next tensor's data; its length must match the plan.
    pub fn tensor(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let planned = self
            .plan
            .get(self.next)
            .ok_or_else(|| std::io::Error::other(format!("unplanned tensor {name}")))?;
        if planned.name != name || planned.nbytes != bytes.len() as u64 {
            return Err(std::io::Error::other(format!(
                "tensor {name}: {} bytes, planned {} for {}",
                bytes.len(),
                planned.nbytes,
                planned.name
            )));
        }
        self.next += 1;
        self.put(bytes)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns (size, sha256 hex); fails if tensors are missing.
    pub fn finish(mut self) -> std::io::Result<(u64, String)> {
        if self.next != self.plan.len() {
            return Err(std::io::Error::other(format!(
                "{} planned tensors were not written",
                self.plan.len() - self.next
            )));
        }
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok((self.written, hex::encode(self.hasher.finalize())))
    }
}
