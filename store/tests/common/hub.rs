//! The shared loopback hub (`tests/hub`, with its fault injection) and the generated model
//! repos the store's pull tests serve from it.

pub use ollmlx_testhub::{Hub, HubFile};

/// A generated MLX model repo: configs, tokenizer, an LFS safetensors file
/// of about `weights` bytes, and files an MLX pull must skip.
pub fn model_repo(weights: usize, seed: u8) -> Vec<HubFile> {
    let n = weights / 4;
    let mut files: Vec<HubFile> = super::model_files(seed as usize)
        .into_iter()
        .filter(|(name, _)| name != "model.safetensors")
        .map(|(path, bytes)| HubFile::new(path, bytes, false))
        .collect();
    let mut st = super::safetensors_bytes("w", n);
    let tail = st.len() - 1;
    st[tail] = seed;
    files.push(HubFile::new("model.safetensors", st, true));
    files.push(HubFile::new("README.md", b"# test model".to_vec(), false));
    files.push(HubFile::new("model.gguf", vec![0u8; 1000], true));
    files.push(HubFile::new("onnx/model.onnx", vec![1u8; 100], true));
    files
}

pub fn sha_of(n: u8) -> String {
    format!("{:040x}", u128::from(n) * 0x1111_1111)
}
