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

/// Puts every thread's allocations in glibc's one main arena (call once, before any thread
/// starts), so that `malloc_trim` at an unload reaches all freed memory. With the default
/// per-thread arenas, the free space at the top of a thread's arena stays resident
/// (`malloc_trim` releases only the main arena's top), and after the soak's 300 requests the
/// daemon's RSS ended +1% to +92% above its start after unloading everything (43.9 -> 84.5 MiB
/// in one run); with one arena it ends +7% to +8% (34.6 -> 37.1 MiB), at no measurable cost:
/// 75.8 against 76.1 tok/s at 8 streams on the serving bench. Fixing glibc's mmap and trim
/// thresholds at 128 KiB instead ended +4% to +5% but cost 12-17% of the decode throughput
/// (every MLX buffer over 128 KiB was mapped and faulted in afresh), so it is not done. A
/// `GLIBC_TUNABLES` that sets any `glibc.malloc.` tunable wins over this.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            return;
        }
        #[allow(unsafe_code)]
        // SAFETY: mallopt only sets glibc's allocator parameters.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
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
