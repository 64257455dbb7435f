//! GGUF (v2/v3, little-endian) header, metadata and tensor-table reader.
//! Everything read from the file is bounds-checked against its length, so a
//! truncated or foreign file gives an error, never a panic or a huge
//! allocation. Tensor data is read on demand with positioned reads.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::quant::GgmlType;
use super::GgufError;

/// `GGUF` read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// Longest metadata string accepted (chat templates are a few KiB).
const MAX_STRING: u64 = 16 << 20;
/// Most tensors / metadata entries / dimensions accepted.
const MAX_COUNT: u64 = 1 << 20;
const MAX_DIMS: u32 = 4;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    U64(u64),
    /// Any signed integer type.
    I64(i64),
    /// f32 or f64.
    F64(f64),
    /// bool.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Array of values.
    Array(Vec<Value>),
}

impl Value {
    /// Integer view (signed values must be non-negative).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    /// Float view of any number.
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::U64(v) => Some(*v as f64),
            Value::I64(v) => Some(*v as f64),
            _ => None,
        }
    }
    /// String view.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// Array view.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's entry in the table.
#[derive(Clone, Debug)]
pub struct TensorDesc {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` varies fastest.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Absolute file offset of the data.
    pub offset: u64,
    /// Bytes of data.
    pub nbytes: u64,
}

impl TensorDesc {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Shape in row-major (numpy/MLX) order.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// An open GGUF file.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata key/value pairs.
    pub metadata: HashMap<String, Value>,
    /// Tensor table in file order.
    pub tensors: Vec<TensorDesc>,
}

impl GgufFile {
    /// Reads the header, metadata and tensor table of `path`.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let file = std::fs::File::open(path).map_err(|e| GgufError::Io(e.to_string()))?;
        let len = file
            .metadata()
            .map_err(|e| GgufError::Io(e.to_string()))?
            .len();
        let mut r = Cursor {
            inner: BufReader::new(file),
            pos: 0,
            len,
        };
        let magic = r.u32()?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic {
                found: magic.to_le_bytes(),
            });
        }
        let version = r.u32()?;
        if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            return Err(GgufError::UnsupportedVersion {
                version,
                detail: "big-endian GGUF files are not supported",
            });
        }
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion {
                version,
                detail: "only GGUF versions 2 and 3 are supported",
            });
        }
        let n_tensors = r.count("tensor count")?;
        let n_kv = r.count("metadata count")?;
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            let value = r.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(usize::try_from(n_tensors.min(4096)).unwrap_or(0));
        for _ in 0..n_tensors {
            tensors.push(r.tensor_info()?);
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(32);
        if alignment == 0 || !alignment.is_power_of_two() || alignment > 1 << 20 {
            return Err(GgufError::Corrupt(format!(
                "bad general.alignment {alignment}"
            )));
        }
        let data_start = r.pos.div_ceil(alignment) * alignment;
        for t in &mut tensors {
            t.offset = t
                .offset
                .checked_add(data_start)
                .ok_or_else(|| GgufError::Corrupt(format!("{}: offset overflow", t.name)))?;
            if let Some(nbytes) = t.ggml_type.nbytes(t.elements()) {
                t.nbytes = nbytes;
                if t.offset.checked_add(nbytes).is_none_or(|end| end > len) {
                    return Err(GgufError::Truncated(format!(
                        "data of tensor {} runs past the end of the file",
                        t.name
                    )));
                }
            }
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
        })
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required string value.
    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        self.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    /// A required unsigned integer value.
    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    /// Looks a tensor up by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorDesc> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads a tensor's raw bytes.
    pub fn read_data(&self, tensor: &TensorDesc) -> Result<Vec<u8>, GgufError> {
        if tensor.ggml_type.nbytes(tensor.elements()).is_none() {
            return Err(GgufError::UnsupportedType {
                tensor: tensor.name.clone(),
                ggml_type: tensor.ggml_type.name(),
            });
        }
        let mut file = std::fs::File::open(&self.path).map_err(|e| GgufError::Io(e.to_string()))?;
        file.seek(SeekFrom::Start(tensor.offset))
            .map_err(|e| GgufError::Io(e.to_string()))?;
        let mut buf = vec![
            0u8;
            usize::try_from(tensor.nbytes)
                .map_err(|_| GgufError::Corrupt("tensor too large".into()))?
        ];
        file.read_exact(&mut buf)
            .map_err(|e| GgufError::Truncated(format!("tensor {}: {e}", tensor.name)))?;
        Ok(buf)
    }
}

/// A reader that knows its position and the file length.
struct Cursor {
    inner: BufReader<std::fs::File>,
    pos: u64,
    len: u64,
}

impl Cursor {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf).map_err(|_| {
            GgufError::Truncated(format!("file ends at byte {} inside the header", self.pos))
        })?;
        self.pos += N as u64;
        Ok(buf)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    /// A count that must be plausible for the bytes left in the file.
    fn count(&mut self, what: &str) -> Result<u64, GgufError> {
        let n = self.u64()?;
        if n > MAX_COUNT || n > self.len.saturating_sub(self.pos) {
            return Err(GgufError::Corrupt(format!("implausible {what} {n}")));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.u64()?;
        if n > MAX_STRING || n > self.len.saturating_sub(self.pos) {
            return Err(GgufError::Corrupt(format!(
                "string of {n} bytes at byte {}",
                self.pos
            )));
        }
        let mut buf = vec![0u8; usize::try_from(n).unwrap_or(0)];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| GgufError::Truncated("file ends inside a string".into()))?;
        self.pos += n;
        // Some vocabularies hold invalid UTF-8 pieces; keep them lossy rather than refuse the file.
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U64(u64::from(self.bytes::<1>()?[0])),
            1 => Value::I64(i64::from(i8::from_le_bytes(self.bytes()?))),
            2 => Value::U64(u64::from(u16::from_le_bytes(self.bytes()?))),
            3 => Value::I64(i64::from(i16::from_le_bytes(self.bytes()?))),
            4 => Value::U64(u64::from(self.u32()?)),
            5 => Value::I64(i64::from(i32::from_le_bytes(self.bytes()?))),
            6 => Value::F64(f64::from(f32::from_le_bytes(self.bytes()?))),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 if depth == 0 => {
                let item_ty = self.u32()?;
                let n = self.u64()?;
                if n > self.len.saturating_sub(self.pos) {
                    return Err(GgufError::Corrupt(format!(
                        "array of {n} items at byte {}",
                        self.pos
                    )));
                }
                let mut items = Vec::with_capacity(usize::try_from(n.min(1 << 16)).unwrap_or(0));
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            other => {
                return Err(GgufError::Corrupt(format!(
                    "unknown metadata value type {other} at byte {}",
                    self.pos
                )))
            }
        })
    }
    fn tensor_info(&mut self) -> Result<TensorDesc, GgufError> {
        let name = self.string()?;
        let n_dims = self.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(GgufError::Corrupt(format!(
                "tensor {name} has {n_dims} dimensions"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64()?);
        }
        if dims
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(*d))
            .is_none_or(|n| n == 0)
        {
            return Err(GgufError::Corrupt(format!(
                "tensor {name} has bad dimensions {dims:?}"
            )));
        }
        let ggml_type = GgmlType(self.u32()?);
        let offset = self.u64()?;
        Ok(TensorDesc {
            name,
            dims,
            ggml_type,
            offset,
            nbytes: 0,
        })
    }
}
