//! Finds MLX (the C++ library shipped in the `mlx-cpu` / `mlx-metal` / `mlx-cuda-13` wheels, or Homebrew),
//! compiles our C-ABI shim against it and links it, with an rpath so binaries find `libmlx` at run time.
//!
//! Lookup order: `MLX_DIR` (a folder with `include/` and `lib/`), else the `mlx` Python package of the
//! project's `.venv`, else of `$PYTHON` / `python3`. Dependent crates get the library folder as
//! `DEP_MLX_LIBDIR` (through `links = "mlx"`) to add the same rpath to their own binaries.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MLX_DIR");
    println!("cargo:rerun-if-env-changed=PYTHON");
    println!("cargo:rerun-if-env-changed=OLLMLX_NO_OPENBLAS");
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/rows_matmul.cpp");
    println!("cargo:rerun-if-changed=csrc/rows_matmul.h");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    println!("cargo:rerun-if-changed={}", root.join("MLX_VERSION").display());
    let mlx = find_mlx(&root).unwrap_or_else(|why| {
        panic!(
            "\n\nollmlx-engine: MLX not found ({why}).\n\
             Install it with `scripts/setup.sh` (puts the pinned `mlx[cpu]` wheel in .venv), or\n\
             `pip install mlx[cpu]==$(cat MLX_VERSION)` (Linux CPU), `pip install mlx-cuda-13` (Linux NVIDIA),\n\
             `pip install mlx` (macOS, Metal) or `brew install mlx`, or set MLX_DIR to a folder with\n\
             include/mlx/mlx.h and lib/libmlx.*\n\n"
        )
    });
    check_version(&root, &mlx);
    let include = mlx.join("include");
    let lib = mlx.join("lib");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++20")
        .file("csrc/shim.cpp")
        .file("csrc/rows_matmul.cpp")
        .include(&include)
        .include("csrc")
        .flag_if_supported("-Wno-unused-parameter")
        .opt_level(2);
    let openblas = openblas_path();
    if openblas.is_some() {
        build.define("OLLMLX_OPENBLAS", None);
    }
    build.compile("ollmlx_shim");

    // OpenBLAS goes first so that its sgemm/cblas symbols win over the reference BLAS bundled in the
    // mlx-cpu wheel (about 10x faster on x86). The shim calls `openblas_get_config`, which keeps the
    // library needed under `--as-needed` and lets us report which BLAS is live.
    if let Some(path) = openblas {
        println!("cargo:rustc-link-search=native={}", path.parent().unwrap().display());
        println!("cargo:rustc-link-lib=dylib:+verbatim={}", path.file_name().unwrap().to_string_lossy());
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    if cfg!(target_os = "macos") || std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-link-lib=dylib=c++");
    } else {
        println!("cargo:rustc-link-lib=dylib=stdc++");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:libdir={}", lib.display());
    println!("cargo:rustc-env=OLLMLX_MLX_LIBDIR={}", lib.display());
}

fn find_mlx(root: &Path) -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("MLX_DIR") {
        let dir = PathBuf::from(dir);
        return validate(&dir).map(|()| dir).map_err(|e| format!("MLX_DIR={e}"));
    }
    let mut pythons: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("PYTHON") {
        pythons.push(p.into());
    }
    pythons.push(root.join(".venv/bin/python"));
    pythons.push("python3".into());
    let mut tried = Vec::new();
    for py in pythons {
        let out = Command::new(&py)
            .args(["-c", "import mlx; print(list(mlx.__path__)[0])"])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                match validate(&dir) {
                    Ok(()) => return Ok(dir),
                    Err(e) => tried.push(format!("{}: {e}", py.display())),
                }
            }
            _ => tried.push(format!("{}: no `mlx` package", py.display())),
        }
    }
    Err(tried.join("; "))
}

fn validate(dir: &Path) -> Result<(), String> {
    if !dir.join("include/mlx/mlx.h").is_file() {
        return Err(format!("{} has no include/mlx/mlx.h (the mlx wheel without a backend: install mlx-cpu, mlx-metal or mlx-cuda-13)", dir.display()));
    }
    let has_lib = ["libmlx.so", "libmlx.dylib"].iter().any(|l| dir.join("lib").join(l).is_file());
    if !has_lib {
        return Err(format!("{} has no lib/libmlx.so or lib/libmlx.dylib", dir.display()));
    }
    Ok(())
}

/// The pinned version lives in the root `MLX_VERSION` file; a different installed MLX still builds
/// (the C++ API is stable across patch releases) but says so.
fn check_version(root: &Path, mlx: &Path) {
    let pinned = std::fs::read_to_string(root.join("MLX_VERSION")).unwrap_or_default();
    let header = std::fs::read_to_string(mlx.join("include/mlx/version.h")).unwrap_or_default();
    let part = |name: &str| {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define MLX_VERSION_{name} ")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let found = format!("{}.{}.{}", part("MAJOR"), part("MINOR"), part("PATCH"));
    if found != pinned.trim() {
        println!("cargo:warning=MLX {found} found at {}, pinned version is {}", mlx.display(), pinned.trim());
    }
}

fn openblas_path() -> Option<PathBuf> {
    if std::env::var_os("OLLMLX_NO_OPENBLAS").is_some() {
        return None;
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return None;
    }
    [
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
        "/usr/lib64/libopenblas.so.0",
        "/usr/lib/libopenblas.so.0",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}
