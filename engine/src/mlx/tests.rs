use super::*;

#[test]
fn matmul_and_host_roundtrip() {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let b = Array::from_slice(&[1.0f32, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), vec![2, 2]);
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn cpp_exception_becomes_error() {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let b = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let err = a.add(&b).unwrap_err();
    assert_eq!(err.op, "ox_add");
    assert!(err.message.contains("broadcast"), "{}", err.message);
    // The thread-local message does not leak into the next successful call.
    assert!(a.add(&a).is_ok());
}

#[test]
fn wrong_element_count_is_an_error() {
    assert!(Array::from_slice(&[1.0f32, 2.0], &[3]).is_err());
}

#[test]
fn borrowed_bytes_are_released() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    struct Owner(Vec<u8>, Arc<AtomicBool>);
    impl Drop for Owner {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let bytes: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let owner = Arc::new(Owner(bytes, dropped.clone()));
    let slice: &[u8] = &owner.0;
    // SAFETY: `owner` keeps the bytes alive and unmodified.
    let a = unsafe { Array::from_borrowed(slice, &[2], Dtype::Float32, owner.clone()) }.unwrap();
    drop(owner);
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![1.5, -2.0]);
    drop(a);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn quantize_roundtrip_is_close() {
    let mut key = RandomKey::new(0).unwrap();
    let w = key.normal(&[64, 128], Dtype::Float32).unwrap();
    let (q, s, b) = quantize(&w, 64, 8).unwrap();
    let d = dequantize(&q, &s, Some(&b), 64, 8, None).unwrap();
    let err = d.subtract(&w).unwrap().abs().unwrap().max(0, false).unwrap().max(0, false).unwrap();
    assert!(err.item::<f32>().unwrap() < 0.05);
    let x = key.normal(&[3, 128], Dtype::Float32).unwrap();
    let y1 = quantized_matmul(&x, &q, &s, Some(&b), true, 64, 8).unwrap();
    let y2 = x.matmul(&d.transpose(&[1, 0]).unwrap()).unwrap();
    let diff = y1.subtract(&y2).unwrap().abs().unwrap().sum(0, false).unwrap().sum(0, false).unwrap();
    assert!(diff.item::<f32>().unwrap() < 1e-2);
}

#[test]
fn same_seed_same_samples() {
    let logits = Array::from_slice(&[0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], &[1, 8]).unwrap();
    let draw = |seed| {
        let mut k = RandomKey::new(seed).unwrap();
        (0..16).map(|_| k.categorical(&logits, -1).unwrap().item::<u32>().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
}

#[test]
fn fast_kernels_run() {
    let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[1, 1, 1, 4]).unwrap();
    let n = rms_norm(&x, None, 1e-5).unwrap().to_vec::<f32>().unwrap();
    let rms = ((1.0 + 4.0 + 9.0 + 16.0) / 4.0f32).sqrt();
    assert!((n[3] - 4.0 / rms).abs() < 1e-4);
    let r = rope(&x, 4, false, 10000.0, 1.0, 0, None).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    let o = scaled_dot_product_attention(&x, &x, &x, 0.5, AttentionMask::Causal).unwrap();
    assert_eq!(o.shape(), vec![1, 1, 1, 4]);
}

#[test]
fn memory_counters_see_allocations() {
    // Other tests run in parallel threads and share MLX's allocator, so only check lower bounds.
    let a = Array::from_slice(&vec![1.0f32; 1 << 20], &[1 << 20]).unwrap();
    a.eval().unwrap();
    assert!(memory::active() >= 4 << 20);
    assert!(memory::peak() >= 4 << 20);
}

#[test]
fn streams_run_work() {
    let s = Stream::new(Device::Cpu).unwrap();
    assert_eq!(s.device(), Device::Cpu);
    s.set_default().unwrap();
    let a = Array::from_slice(&[2.0f32], &[1]).unwrap();
    assert_eq!(a.multiply(&a).unwrap().item::<f32>().unwrap(), 4.0);
    synchronize().unwrap();
}

#[test]
#[cfg(target_os = "linux")]
fn openblas_is_loaded_ahead_of_the_bundled_blas() {
    // Only meaningful where build.rs found OpenBLAS (the setup script installs it on Debian).
    if !std::path::Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0").exists() {
        return;
    }
    // Read the process's mappings rather than calling blas_info(), which would itself create the
    // reference that keeps the library linked.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(maps.contains("libopenblas"), "libopenblas is not loaded: MLX would use the wheel's reference BLAS");
}

/// Our few-row CUDA matmul against MLX's `quantized_matmul` on the same weights. It runs where the
/// CUDA backend is the default device (the GPU machine: `cargo test -p ollmlx-engine qmv_rows`);
/// elsewhere there is no kernel to check, and the test says so.
#[test]
fn qmv_rows_matches_quantized_matmul() {
    if !qmv_rows_available() {
        eprintln!("qmv_rows_matches_quantized_matmul: no CUDA device, nothing to check");
        return;
    }
    let mut key = RandomKey::new(3).unwrap();
    // Each (dtype, group) is one NVRTC compile of the kernel.
    for (dtype, group) in [(Dtype::Bfloat16, 64), (Dtype::Bfloat16, 32), (Dtype::Float16, 128)] {
        // 203 columns: the last warp's columns run past N.
        for (n, k) in [(203, 256), (512, 2048)] {
            let w = key.normal(&[n, k], Dtype::Float32).unwrap().mul_scalar(0.02).unwrap().astype(dtype).unwrap();
            let (q, s, b) = quantize(&w, group, 4).unwrap();
            // Rows in one leading axis, and in two (a decode step's [1, rows, K]).
            for shape in [vec![2, k], vec![3, k], vec![5, k], vec![8, k], vec![9, k], vec![16, k], vec![1, 6, k]] {
                let x = key.normal(&shape, Dtype::Float32).unwrap().astype(dtype).unwrap();
                let want = quantized_matmul(&x, &q, &s, Some(&b), true, group, 4).unwrap().astype(Dtype::Float32).unwrap();
                let got = qmv_rows(&x, &q, &s, &b, group).unwrap();
                let m = shape[..shape.len() - 1].to_vec();
                assert_eq!(got.shape(), [m.as_slice(), &[n]].concat());
                let got = got.astype(Dtype::Float32).unwrap();
                let max_abs = |a: &Array| a.abs().unwrap().reshape(&[-1]).unwrap().max(0, false).unwrap().item::<f32>().unwrap();
                let err = max_abs(&got.subtract(&want).unwrap()) / max_abs(&want);
                assert!(err < 2e-2, "{dtype:?} group {group} {m:?}x{k} @ {n}x{k}: relative error {err}");
            }
        }
    }
}

/// Our batched decode attention against MLX's attention under the padding mask the engine uses
/// without it, on the same rows. Runs where the CUDA backend is the default device (`cargo test
/// -p ollmlx-engine attend_rows`); elsewhere there is no kernel to check, and the test says so.
#[test]
fn attend_rows_matches_masked_attention() {
    if !attend_rows_supported(64, Dtype::Bfloat16) {
        eprintln!("attend_rows_matches_masked_attention: no CUDA device, nothing to check");
        return;
    }
    let mut key = RandomKey::new(5).unwrap();
    for (dtype, heads, kv_heads, d) in [(Dtype::Bfloat16, 32, 8, 64), (Dtype::Float16, 8, 2, 128)] {
        // Rows of one position, of exactly one tile (1024) and of more than two tiles.
        let offsets = [0i32, 300, 1023, 2100];
        let (rows, cap) = (offsets.len(), 2304);
        let normal = |key: &mut RandomKey, shape: &[usize]| key.normal(shape, Dtype::Float32).unwrap().astype(dtype).unwrap();
        let q = normal(&mut key, &[rows, heads, 1, d]);
        let (k, v) = (normal(&mut key, &[rows, kv_heads, cap, d]), normal(&mut key, &[rows, kv_heads, cap, d]));
        let scale = (d as f32).powf(-0.5);
        let visible = 2101;
        let mask: Vec<bool> = offsets.iter().flat_map(|&o| (0..visible).map(move |p| p <= o as usize)).collect();
        let mask = Array::from_slice(&mask, &[rows, 1, 1, visible]).unwrap();
        let cut = |a: &Array| a.slice_axis(2, 0, visible).unwrap();
        let want = scaled_dot_product_attention(&q, &cut(&k), &cut(&v), scale, AttentionMask::Array(&mask))
            .unwrap()
            .transpose(&[0, 2, 1, 3])
            .unwrap()
            .reshape(&[1, rows as i32, -1])
            .unwrap()
            .astype(Dtype::Float32)
            .unwrap();
        let got = attend_rows(&q, &k, &v, &Array::from_slice(&offsets, &[rows]).unwrap(), scale).unwrap();
        assert_eq!(got.shape(), vec![1, rows, heads * d]);
        let got = got.astype(Dtype::Float32).unwrap();
        let max_abs = |a: &Array| a.abs().unwrap().max(-1, false).unwrap().max(-1, false).unwrap().max(-1, false).unwrap().item::<f32>().unwrap();
        let err = max_abs(&got.subtract(&want).unwrap()) / max_abs(&want);
        assert!(err < 2e-2, "{dtype:?} {heads}/{kv_heads} heads of {d}: relative error {err}");
    }
}

/// Our few-row CPU matmul against MLX's matmul (BLAS) on the same f32 arrays: every row count it
/// takes, column counts that leave a partial tile, a part per core and an odd last column, rows
/// in one leading axis and in two, and an x that is a transposed view (not contiguous). Runs
/// wherever the kernel does (x86-64 with AVX2 and FMA, as in CI); elsewhere it says so.
#[test]
fn rows_matmul_matches_matmul() {
    let mut key = RandomKey::new(7).unwrap();
    let probe = Array::from_slice(&[0.0f32; 16], &[2, 8]).unwrap();
    if !rows_matmul_takes(&probe, &Array::from_slice(&[0.0f32; 8], &[1, 8]).unwrap()) {
        eprintln!("rows_matmul_matches_matmul: the kernel does not run on this CPU, nothing to check");
        return;
    }
    for (n, k) in [(7, 8), (63, 64), (203, 576), (1536, 576), (576, 1536)] {
        let w = key.normal(&[n, k], Dtype::Float32).unwrap();
        let wt = w.transpose(&[1, 0]).unwrap();
        for rows in 2..=rows_matmul_max() {
            for x in [
                key.normal(&[rows, k], Dtype::Float32).unwrap(),
                key.normal(&[1, rows, k], Dtype::Float32).unwrap(),
                key.normal(&[k, rows], Dtype::Float32).unwrap().transpose(&[1, 0]).unwrap(),
            ] {
                assert!(rows_matmul_takes(&x, &w));
                let want = x.matmul(&wt).unwrap();
                let got = rows_matmul(&x, &w).unwrap();
                assert_eq!(got.shape(), want.shape());
                let max_abs = |a: &Array| a.abs().unwrap().reshape(&[-1]).unwrap().max(0, false).unwrap().item::<f32>().unwrap();
                let err = max_abs(&got.subtract(&want).unwrap()) / max_abs(&want);
                assert!(err < 1e-5, "{rows} rows x {k} @ {n}x{k}: relative error {err}");
            }
        }
    }
    // What it does not take, MLX's matmul serves; called anyway, it says what was wrong.
    let w = key.normal(&[16, 64], Dtype::Float32).unwrap();
    let one = key.normal(&[1, 64], Dtype::Float32).unwrap();
    assert!(!rows_matmul_takes(&one, &w));
    assert!(rows_matmul(&one, &w).unwrap_err().message.contains("2 to"));
    let many = key.normal(&[rows_matmul_max() + 1, 64], Dtype::Float32).unwrap();
    assert!(!rows_matmul_takes(&many, &w));
    let half = key.normal(&[4, 64], Dtype::Float16).unwrap();
    assert!(!rows_matmul_takes(&half, &w));
    assert!(rows_matmul(&half, &w).unwrap_err().message.contains("float32"));
}
