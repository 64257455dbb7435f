//! Block decoding for each GGML type (layouts of llama.cpp's
//! ggml-common.h). `unpack_row` yields unsigned values plus per-32 scale and
//! bias such that value = scale * q + bias reproduces GGML's dequantization
//! exactly; the `dequant_*` functions compute GGML's values for the
//! 16-element-group types.

use half::f16;

use super::quant::GgmlType;

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Decodes one row of a 32-group type into `q` (values), `scales` and
/// `biases` (one per 32 values).
pub(crate) fn unpack_row(
    ty: GgmlType,
    src: &[u8],
    q: &mut [u8],
    scales: &mut [f32],
    biases: &mut [f32],
) {
    match ty {
        GgmlType::Q4_K | GgmlType::Q5_K => unpack_k(ty, src, q, scales, biases),
        _ => unpack_32(ty, src, q, scales, biases),
    }
}

/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: one 32-value block per group.
fn unpack_32(ty: GgmlType, src: &[u8], q: &mut [u8], scales: &mut [f32], biases: &mut [f32]) {
    let size = ty.block().map_or(1, |(_, b)| b as usize);
    for (g, b) in src.chunks_exact(size).enumerate() {
        let y = &mut q[g * 32..(g + 1) * 32];
        let d = f16_at(b, 0);
        let (scale, bias) = match ty {
            // x = d * (q - 8): low nibbles are values 0..16, high nibbles 16..32.
            GgmlType::Q4_0 => {
                nibbles(&b[2..18], y, 0);
                (d, -8.0 * d)
            }
            // x = d * q + m.
            GgmlType::Q4_1 => {
                nibbles(&b[4..20], y, 0);
                (d, f16_at(b, 2))
            }
            // x = d * (q - 16), the fifth bit of value j is bit j of qh.
            GgmlType::Q5_0 => {
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                nibbles(&b[6..22], y, qh);
                (d, -16.0 * d)
            }
            GgmlType::Q5_1 => {
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                nibbles(&b[8..24], y, qh);
                (d, f16_at(b, 2))
            }
            // x = d * q with q signed; shift to unsigned.
            _ => {
                for (v, &s) in y.iter_mut().zip(&b[2..34]) {
                    *v = (i16::from(s as i8) + 128) as u8;
                }
                (d, -128.0 * d)
            }
        };
        scales[g] = scale;
        biases[g] = bias;
    }
}

/// Low nibbles give values 0..16, high nibbles 16..32; bit j of `qh` adds 16
/// to value j (zero for the 4-bit types).
fn nibbles(qs: &[u8], y: &mut [u8], qh: u32) {
    for j in 0..16 {
        let hi0 = ((qh >> j) & 1) as u8;
        let hi1 = ((qh >> (j + 16)) & 1) as u8;
        y[j] = (qs[j] & 0x0F) | (hi0 << 4);
        y[j + 16] = (qs[j] >> 4) | (hi1 << 4);
    }
}

/// The 6-bit scale and min of sub-block `j` from the 12 packed bytes of
/// Q4_K / Q5_K: the first four sub-blocks use the low 6 bits of bytes 0..8,
/// the last four combine a nibble of bytes 8..12 with the top 2 bits of 0..8.
fn scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q4_K (144 bytes: d, dmin, scales[12], qs[128]) and Q5_K (176 bytes: d,
/// dmin, scales[12], qh[32], qs[128]): 8 sub-blocks of 32, x = d*sc*q - dmin*m.
/// Each 64-value chunk c takes low nibbles of qs[32c..32c+32] for
/// sub-block 2c and high nibbles for 2c+1; Q5_K's fifth bit of value l in
/// sub-block i is bit i of qh[l].
fn unpack_k(ty: GgmlType, src: &[u8], q: &mut [u8], scales: &mut [f32], biases: &mut [f32]) {
    let five = ty == GgmlType::Q5_K;
    let size = if five { 176 } else { 144 };
    for (blk, b) in src.chunks_exact(size).enumerate() {
        let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let sc = &b[4..16];
        let (qh, qs) = if five {
            (&b[16..48], &b[48..176])
        } else {
            (&b[0..0], &b[16..144])
        };
        for i in 0..8 {
            let (s, m) = scale_min(i, sc);
            scales[blk * 8 + i] = d * f32::from(s);
            biases[blk * 8 + i] = -(dmin * f32::from(m));
            let chunk = &qs[(i / 2) * 32..(i / 2) * 32 + 32];
            let y = &mut q[blk * 256 + i * 32..blk * 256 + (i + 1) * 32];
            for l in 0..32 {
                let nib = if i % 2 == 0 {
                    chunk[l] & 0x0F
                } else {
                    chunk[l] >> 4
                };
                let high = if five { ((qh[l] >> i) & 1) << 4 } else { 0 };
                y[l] = nib | high;
            }
        }
    }
}

/// Q6_K (210 bytes: ql[128], qh[64], scales[16] i8, d): 16 groups of 16,
/// x = d * sc * (q - 32) with q = 4 low bits from ql and 2 high bits from qh.
pub(crate) fn dequant_q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &b[half * 64..half * 64 + 64];
        let qh = &b[128 + half * 32..128 + half * 32 + 32];
        let sc = &b[192 + half * 8..192 + half * 8 + 8];
        let out = &mut y[half * 128..half * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            let s = |k: usize| f32::from(sc[is + k] as i8);
            out[l] = d * s(0) * q1 as f32;
            out[l + 32] = d * s(2) * q2 as f32;
            out[l + 64] = d * s(4) * q3 as f32;
            out[l + 96] = d * s(6) * q4 as f32;
        }
    }
}

/// Q2_K (84 bytes: scales[16], qs[64], d, dmin): 16 groups of 16 with 4-bit
/// scale and min, x = d*sc*q - dmin*m, q 2 bits.
pub(crate) fn dequant_q2_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    let scales = &b[0..16];
    let mut is = 0;
    for half in 0..2 {
        let q = &b[16 + half * 32..16 + half * 32 + 32];
        for j in 0..4 {
            let shift = 2 * j;
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * f32::from(sc & 0x0F), dmin * f32::from(sc >> 4));
                let base = half * 128 + j * 32 + part * 16;
                for l in 0..16 {
                    y[base + l] = dl * f32::from((q[part * 16 + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/// Q3_K (110 bytes: hmask[32], qs[64], scales[12], d): 16 groups of 16
/// with 6-bit signed scales, x = d*(sc-32)*(q - 4 when the hmask bit is clear).
pub(crate) fn dequant_q3_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 108);
    let (hm, s) = (&b[0..32], &b[96..108]);
    // 16 six-bit scales: low 4 bits from bytes 0..8 (nibbles), high 2 bits from bytes 8..12.
    let mut scales = [0i32; 16];
    for (i, sc) in scales.iter_mut().enumerate() {
        let low = if i < 8 { s[i] & 0x0F } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *sc = i32::from(low | (high << 4)) - 32;
    }
    let mut is = 0;
    let mut m = 1u8;
    for half in 0..2 {
        let q = &b[32 + half * 32..32 + half * 32 + 32];
        for j in 0..4 {
            let shift = 2 * j;
            for part in 0..2 {
                let dl = d * scales[is] as f32;
                is += 1;
                let base = half * 128 + j * 32 + part * 16;
                for l in 0..16 {
                    let idx = part * 16 + l;
                    let low = i32::from((q[idx] >> shift) & 3);
                    let sub = if hm[idx] & m != 0 { 0 } else { 4 };
                    y[base + l] = dl * (low - sub) as f32;
                }
            }
            m <<= 1;
        }
    }
}
