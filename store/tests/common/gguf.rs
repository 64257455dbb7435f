//! A small GGUF writer for tests: metadata and tensors with raw block bytes.

/// A metadata value.
pub enum Meta {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// A tensor: name, GGUF dims (fastest first), type id, raw data.
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// Serializes a GGUF v3 file.
pub fn write(meta: &[(&str, Meta)], tensors: &[Tensor]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((meta.len() as u64).to_le_bytes());
    for (key, value) in meta {
        string(&mut out, key);
        match value {
            Meta::U32(v) => {
                out.extend(4u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            Meta::F32(v) => {
                out.extend(6u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            Meta::Bool(v) => {
                out.extend(7u32.to_le_bytes());
                out.push(u8::from(*v));
            }
            Meta::Str(s) => {
                out.extend(8u32.to_le_bytes());
                string(&mut out, s);
            }
            Meta::Strs(items) => {
                out.extend(9u32.to_le_bytes());
                out.extend(8u32.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for s in items {
                    string(&mut out, s);
                }
            }
            Meta::I32s(items) => {
                out.extend(9u32.to_le_bytes());
                out.extend(5u32.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for v in items {
                    out.extend(v.to_le_bytes());
                }
            }
        }
    }
    let mut offset = 0u64;
    for t in tensors {
        string(&mut out, &t.name);
        out.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.ty.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (t.data.len() as u64).div_ceil(32) * 32;
    }
    while out.len() % 32 != 0 {
        out.push(0);
    }
    for t in tensors {
        out.extend(&t.data);
        while out.len() % 32 != 0 {
            out.push(0);
        }
    }
    out
}

/// (block elements, block bytes, offsets of f16 scale fields) per type.
pub fn block(ty: u32) -> (usize, usize, &'static [usize]) {
    match ty {
        0 => (1, 4, &[]),
        1 | 30 => (1, 2, &[]),
        2 => (32, 18, &[0]),
        3 => (32, 20, &[0, 2]),
        6 => (32, 22, &[0]),
        7 => (32, 24, &[0, 2]),
        8 => (32, 34, &[0]),
        10 => (256, 84, &[80, 82]),
        11 => (256, 110, &[108]),
        12 => (256, 144, &[0, 2]),
        13 => (256, 176, &[0, 2]),
        14 => (256, 210, &[208]),
        _ => panic!("type {ty}"),
    }
}

/// Deterministic pseudo-random bytes (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f32 {
        (self.next() % 10_000) as f32 / 10_000.0
    }
}

/// Random data of type `ty` for `rows x cols` values, with sane scales.
pub fn random_data(rng: &mut Rng, ty: u32, rows: usize, cols: usize) -> Vec<u8> {
    let (elems, bytes, scales) = block(ty);
    let n = rows * cols / elems;
    let mut data: Vec<u8> = (0..n * bytes).map(|_| rng.next() as u8).collect();
    let f16 = |v: f32| half::f16::from_f32(v).to_le_bytes();
    match ty {
        0 => {
            data = (0..rows * cols)
                .flat_map(|_| (rng.unit() - 0.5).to_le_bytes())
                .collect()
        }
        1 => {
            data = (0..rows * cols)
                .flat_map(|_| f16(rng.unit() - 0.5))
                .collect()
        }
        30 => {
            data = (0..rows * cols)
                .flat_map(|_| half::bf16::from_f32(rng.unit() - 0.5).to_le_bytes())
                .collect()
        }
        _ => {
            for b in 0..n {
                for &off in scales {
                    let v = f16(0.001 + 0.05 * rng.unit());
                    data[b * bytes + off..b * bytes + off + 2].copy_from_slice(&v);
                }
            }
        }
    }
    data
}
