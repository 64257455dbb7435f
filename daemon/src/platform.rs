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
