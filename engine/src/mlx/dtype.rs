//! MLX element types, with the codes the shim uses.

/// An MLX dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Dtype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Float16,
    Float32,
    Bfloat16,
    Complex64,
    Float64,
}

const ALL: [Dtype; 14] = [
    Dtype::Bool,
    Dtype::Uint8,
    Dtype::Uint16,
    Dtype::Uint32,
    Dtype::Uint64,
    Dtype::Int8,
    Dtype::Int16,
    Dtype::Int32,
    Dtype::Int64,
    Dtype::Float16,
    Dtype::Float32,
    Dtype::Bfloat16,
    Dtype::Complex64,
    Dtype::Float64,
];

impl Dtype {
    pub(crate) fn code(self) -> i32 {
        ALL.iter().position(|d| *d == self).unwrap_or(0) as i32
    }

    pub(crate) fn from_code(code: i32) -> Dtype {
        usize::try_from(code).ok().and_then(|i| ALL.get(i).copied()).unwrap_or(Dtype::Float32)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::Uint8 | Dtype::Int8 => 1,
            Dtype::Uint16 | Dtype::Int16 | Dtype::Float16 | Dtype::Bfloat16 => 2,
            Dtype::Uint32 | Dtype::Int32 | Dtype::Float32 => 4,
            Dtype::Uint64 | Dtype::Int64 | Dtype::Complex64 | Dtype::Float64 => 8,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::Float16 | Dtype::Float32 | Dtype::Bfloat16 | Dtype::Float64)
    }

    /// The dtype named by a safetensors header (`F32`, `BF16`, `U32`, ...).
    pub fn from_safetensors(name: &str) -> Option<Dtype> {
        Some(match name {
            "BOOL" => Dtype::Bool,
            "U8" => Dtype::Uint8,
            "U16" => Dtype::Uint16,
            "U32" => Dtype::Uint32,
            "U64" => Dtype::Uint64,
            "I8" => Dtype::Int8,
            "I16" => Dtype::Int16,
            "I32" => Dtype::Int32,
            "I64" => Dtype::Int64,
            "F16" => Dtype::Float16,
            "F32" => Dtype::Float32,
            "BF16" => Dtype::Bfloat16,
            "F64" => Dtype::Float64,
            _ => return None,
        })
    }
}

/// Rust element types that map onto an MLX dtype, for host transfers.
pub trait Element: Copy + Default + 'static {
    /// The matching MLX dtype.
    const DTYPE: Dtype;
}
impl Element for f32 {
    const DTYPE: Dtype = Dtype::Float32;
}
impl Element for i32 {
    const DTYPE: Dtype = Dtype::Int32;
}
impl Element for u32 {
    const DTYPE: Dtype = Dtype::Uint32;
}
impl Element for u8 {
    const DTYPE: Dtype = Dtype::Uint8;
}
impl Element for i64 {
    const DTYPE: Dtype = Dtype::Int64;
}
impl Element for bool {
    const DTYPE: Dtype = Dtype::Bool;
}
impl Element for half::f16 {
    const DTYPE: Dtype = Dtype::Float16;
}
impl Element for half::bf16 {
    const DTYPE: Dtype = Dtype::Bfloat16;
}
