//! GGML tensor types and their conversion to MLX. Types whose blocks are 32
//! elements with one scale and one offset (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and
//! the K-quants whose 32-element sub-blocks have a scale and a min (Q4_K,
//! Q5_K) map exactly onto MLX affine quantization with group size 32
//! (value = scale * q + bias, q unsigned). Q2_K, Q3_K and Q6_K use 16-element
//! groups, which MLX cannot hold, and are dequantized to f16.
//! Block layouts follow llama.cpp's ggml-common.h.

use half::f16;

/// MLX group size every mapping here uses.
pub const GROUP: usize = 32;

/// A GGML element type id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GgmlType(pub u32);

#[allow(missing_docs)]
impl GgmlType {
    pub const F32: GgmlType = GgmlType(0);
    pub const F16: GgmlType = GgmlType(1);
    pub const Q4_0: GgmlType = GgmlType(2);
    pub const Q4_1: GgmlType = GgmlType(3);
    pub const Q5_0: GgmlType = GgmlType(6);
    pub const Q5_1: GgmlType = GgmlType(7);
    pub const Q8_0: GgmlType = GgmlType(8);
    pub const Q2_K: GgmlType = GgmlType(10);
    pub const Q3_K: GgmlType = GgmlType(11);
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const BF16: GgmlType = GgmlType(30);
}

impl GgmlType {
    /// Human name (`Q4_K`, or `type 23` for types this crate does not know).
    pub fn name(self) -> String {
        let known = [
            (0, "F32"),
            (1, "F16"),
            (2, "Q4_0"),
            (3, "Q4_1"),
            (6, "Q5_0"),
            (7, "Q5_1"),
            (8, "Q8_0"),
            (9, "Q8_1"),
            (10, "Q2_K"),
            (11, "Q3_K"),
            (12, "Q4_K"),
            (13, "Q5_K"),
            (14, "Q6_K"),
            (15, "Q8_K"),
            (16, "IQ2_XXS"),
            (17, "IQ2_XS"),
            (18, "IQ3_XXS"),
            (19, "IQ1_S"),
            (20, "IQ4_NL"),
            (21, "IQ3_S"),
            (22, "IQ2_S"),
            (23, "IQ4_XS"),
            (24, "I8"),
            (25, "I16"),
            (26, "I32"),
            (27, "I64"),
            (28, "F64"),
            (29, "IQ1_M"),
            (30, "BF16"),
            (34, "TQ1_0"),
            (35, "TQ2_0"),
            (39, "MXFP4"),
        ];
        known
            .iter()
            .find(|(id, _)| *id == self.0)
            .map_or_else(|| format!("type {}", self.0), |(_, n)| (*n).to_string())
    }

    /// (elements, bytes) of one block, for the types this crate can read.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self.0 {
            0 => (1, 4),
            1 | 30 => (1, 2),
            2 => (32, 18),
            3 => (32, 20),
            6 => (32, 22),
            7 => (32, 24),
            8 => (32, 34),
            10 => (256, 84),
            11 => (256, 110),
            12 => (256, 144),
            13 => (256, 176),
            14 => (256, 210),
            _ => return None,
        })
    }

    /// Bytes of `elements` values, when the type is known and they fill whole blocks.
    pub fn nbytes(self, elements: u64) -> Option<u64> {
        let (n, bytes) = self.block()?;
        (elements % n == 0).then(|| elements / n * bytes)
    }

    /// Bits per value when the type maps onto MLX affine quantization.
    pub fn mlx_bits(self) -> Option<u32> {
        match self.0 {
            2 | 3 | 12 => Some(4),
            6 | 7 | 13 => Some(5),
            8 => Some(8),
            _ => None,
        }
    }
}

/// Element type of a dense output tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dense {
    /// float32.
    F32,
    /// float16.
    F16,
    /// bfloat16.
    BF16,
}

impl Dense {
    /// safetensors dtype string.
    pub fn safetensors(self) -> &'static str {
        match self {
            Dense::F32 => "F32",
            Dense::F16 => "F16",
            Dense::BF16 => "BF16",
        }
    }
    /// Bytes per element.
    pub fn size(self) -> u64 {
        if self == Dense::F32 {
            4
        } else {
            2
        }
    }
}

/// The MLX form of one tensor.
#[derive(Debug)]
pub enum Converted {
    /// `weight` u32 `[rows, cols*bits/32]`, `scales`/`biases` `[rows, cols/32]`.
    Quantized {
        /// Bits per value.
        bits: u32,
        /// Packed values.
        weight: Vec<u32>,
        /// Per-group scales (exact values; stored as `scale_dtype`).
        scales: Vec<f32>,
        /// Per-group biases.
        biases: Vec<f32>,
        /// F16 when every scale and bias is exact in f16, else F32.
        scale_dtype: Dense,
    },
    /// Plain little-endian values.
    Dense {
        /// Element type.
        dtype: Dense,
        /// Raw bytes, rows in output order.
        data: Vec<u8>,
    },
}

/// Why a tensor cannot be converted.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The type is not one this crate reads.
    #[error("unsupported tensor type {0}")]
    Unsupported(String),
    /// Row length does not fill whole blocks / groups.
    #[error("row length {cols} is not a multiple of the {block}-element block of {ty}")]
    BadShape {
        /// Row length.
        cols: usize,
        /// Block size.
        block: u64,
        /// Type name.
        ty: String,
    },
    /// The data is shorter than the shape needs.
    #[error("data is {have} bytes, shape needs {need}")]
    Short {
        /// Bytes given.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
}

/// Converts a `[rows, cols]` tensor; output row `r` comes from input row
/// `src_row(r)` (used to undo llama.cpp's Q/K permutation).
pub fn convert(
    ty: GgmlType,
    data: &[u8],
    rows: usize,
    cols: usize,
    src_row: &dyn Fn(usize) -> usize,
) -> Result<Converted, QuantError> {
    let (block_elems, block_bytes) = ty
        .block()
        .ok_or_else(|| QuantError::Unsupported(ty.name()))?;
    let (block_elems, block_bytes) = (to_usize(block_elems), to_usize(block_bytes));
    if cols % block_elems != 0 {
        return Err(QuantError::BadShape {
            cols,
            block: block_elems as u64,
            ty: ty.name(),
        });
    }
    let row_bytes = cols / block_elems * block_bytes;
    let need = row_bytes * rows;
    if data.len() < need {
        return Err(QuantError::Short {
            have: data.len(),
            need,
        });
    }
    let row = |r: usize| {
        let s = src_row(r);
        &data[s * row_bytes..(s + 1) * row_bytes]
    };
    if let Some(bits) = ty.mlx_bits() {
        return Ok(quantized(ty, bits, rows, cols, &row));
    }
    let (dtype, data) = match ty {
        GgmlType::F32 => (Dense::F32, copy_rows(rows, &row)),
        GgmlType::F16 => (Dense::F16, copy_rows(rows, &row)),
        GgmlType::BF16 => (Dense::BF16, copy_rows(rows, &row)),
        _ => {
            let mut out = Vec::with_capacity(rows * cols * 2);
            let mut values = vec![0f32; cols];
            for r in 0..rows {
                dequantize_row(ty, row(r), &mut values);
                out.extend(values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()));
            }
            (Dense::F16, out)
        }
    };
    Ok(Converted::Dense { dtype, data })
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn copy_rows<'a>(rows: usize, row: &dyn Fn(usize) -> &'a [u8]) -> Vec<u8> {
    (0..rows).flat_map(|r| row(r).iter().copied()).collect()
}

fn quantized<'a>(
    ty: GgmlType,
    bits: u32,
    rows: usize,
    cols: usize,
    row: &dyn Fn(usize) -> &'a [u8],
) -> Converted {
    let groups = cols / GROUP;
    let mut weight = Vec::with_capacity(rows * cols * bits as usize / 32);
    let (mut scales, mut biases) = (
        Vec::with_capacity(rows * groups),
        Vec::with_capacity(rows * groups),
    );
    let mut q = vec![0u8; cols];
    for r in 0..rows {
        let src = row(r);
        let (s, b) = (scales.len(), biases.len());
        scales.resize(s + groups, 0.0);
        biases.resize(b + groups, 0.0);
        super::kquant::unpack_row(ty, src, &mut q, &mut scales[s..], &mut biases[b..]);
        pack_row(&q, bits, &mut weight);
    }
    let exact_f16 = |v: &f32| f16::from_f32(*v).to_f32() == *v;
    let scale_dtype = if scales.iter().all(exact_f16) && biases.iter().all(exact_f16) {
        Dense::F16
    } else {
        Dense::F32
    };
    Converted::Quantized {
        bits,
        weight,
        scales,
        biases,
        scale_dtype,
    }
}

/// Packs unsigned `bits`-bit values little-endian: value `j` starts at bit
/// `j * bits` of the u32 stream (MLX's layout, also for 3/5/6 bits).
pub fn pack_row(q: &[u8], bits: u32, out: &mut Vec<u32>) {
    let mut acc: u64 = 0;
    let mut filled = 0u32;
    for &v in q {
        acc |= u64::from(v) << filled;
        filled += bits;
        if filled >= 32 {
            out.push((acc & 0xFFFF_FFFF) as u32);
            acc >>= 32;
            filled -= 32;
        }
    }
    if filled > 0 {
        out.push((acc & 0xFFFF_FFFF) as u32);
    }
}

/// Dequantizes one row of a 16-element-group K-quant into `out`.
fn dequantize_row(ty: GgmlType, src: &[u8], out: &mut [f32]) {
    let (_, block_bytes) = ty.block().unwrap_or((256, 1));
    for (block, y) in src
        .chunks_exact(to_usize(block_bytes))
        .zip(out.chunks_exact_mut(256))
    {
        match ty {
            GgmlType::Q6_K => super::kquant::dequant_q6_k(block, y),
            GgmlType::Q2_K => super::kquant::dequant_q2_k(block, y),
            GgmlType::Q3_K => super::kquant::dequant_q3_k(block, y),
            _ => y.fill(f32::NAN),
        }
    }
}
