//! The few facts that differ per OS: physical memory and this process's resident set.

/// Physical memory in bytes (0 when it cannot be read).
pub fn total_memory() -> u64 {
    #[cfg(target_os = "linux")]
    {
        meminfo_kib("MemTotal:").map_or(0, |k| k * 1024)
    }
    #[cfg(target_os = "macos")]
    {
        std::process::Command::new("sysctl")
            .args(["-n", "hw.memsize"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        0
    }
}

/// This process's resident set in bytes (0 when it cannot be read).
pub fn process_rss() -> u64 {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| field_kib(&s, "VmRSS:"))
            .map_or(0, |k| k * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let pid = std::process::id().to_string();
        std::process::Command::new("ps")
            .args(["-o", "rss=", "-p", &pid])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(0, |k| k * 1024)
    }
}

#[cfg(target_os = "linux")]
fn meminfo_kib(key: &str) -> Option<u64> {
    field_kib(&std::fs::read_to_string("/proc/meminfo").ok()?, key)
}

#[cfg(target_os = "linux")]
fn field_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)).and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
}

/// True where the accelerator shares system memory (Apple silicon), so every resident byte
/// is also "VRAM" in /api/ps terms.
pub fn unified_memory() -> bool {
    cfg!(all(target_os = "macos", target_arch = "aarch64"))
}

/// Largest allocation glibc serves from its heaps; larger ones get their own mapping, which
/// `free` unmaps at once. 128 KiB is glibc's own starting value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
/// Free space at the top of a heap beyond which `free` hands it back. glibc's starting value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap and trim thresholds at their starting values (call once, before any
/// thread starts). Left alone, glibc raises both each time a mapped block is freed, up to
/// 32 MiB and 64 MiB: after the first model is freed, blocks of up to that size (MLX's CPU
/// buffers among them) come from the per-thread arenas, and the free space at the top of a
/// thread's arena stays resident until it passes 64 MiB. `malloc_trim` does not reach those
/// tops (it trims only the main arena's), so every model unload left 5-25 MiB of free memory
/// resident in the engine's and the request threads' arenas. A `GLIBC_TUNABLES` that sets any
/// `glibc.malloc.` tunable wins over this.
///
/// Cost, not yet settled: MLX's CPU buffers over 128 KiB are now mapped and faulted in afresh
/// each time. The engine's `generate` example (SmolLM2-135M, debug build, a shared 2-core
/// machine, noisy) ran prefill at 244-257 tok/s against 288-292 with the q4 model and decode
/// at 12.2-13.1 tok/s against 13.3-14.0; the f32 model's prefill did not move.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            return;
        }
        #[allow(unsafe_code)]
        // SAFETY: mallopt only sets glibc's allocator parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}

/// Hands freed heap memory back to the system. glibc keeps freed blocks in its arenas (and,
/// once a large block was freed, serves blocks up to that size from the heap instead of
/// mapping them), so without this the daemon's RSS stayed about one model above where it
/// started after every model was unloaded. Elsewhere the allocator returns memory itself.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
