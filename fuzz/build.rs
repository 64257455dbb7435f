//! Adds libmlx's folder (exported by ollmlx-engine's build script through `links = "mlx"`) to
//! the rpath of the fuzz binaries, so they run without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_MLX_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
