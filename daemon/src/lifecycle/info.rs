//! Facts fixed at start-up that `/ollmlx/status` reports: when the daemon started and which
//! device MLX computes on.

use std::time::{Duration, Instant};

/// Start time and device, taken once.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// Wall-clock start (RFC 3339).
    pub started_at: String,
    started: Instant,
    /// `cpu` or `gpu: <name>`; `None` when MLX could not say.
    pub device: Option<String>,
}

impl StartInfo {
    /// Records now and asks MLX for its default device. Call before the engine thread starts:
    /// the query runs on a short-lived thread of its own so no MLX call ever overlaps the
    /// engine thread's.
    pub fn detect() -> StartInfo {
        let device = std::thread::Builder::new()
            .name("ollmlx-device".into())
            .spawn(|| ollmlx_engine::mlx::device_info().map(describe))
            .ok()
            .and_then(|t| t.join().ok())
            .and_then(|r| r.map_err(|e| tracing::warn!(error = %e, "cannot read the MLX device")).ok());
        StartInfo { started_at: chrono::Local::now().to_rfc3339(), started: Instant::now(), device }
    }

    /// Time since the start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

fn describe(info: ollmlx_engine::mlx::DeviceInfo) -> String {
    match info.device {
        ollmlx_engine::mlx::Device::Cpu => "cpu".to_string(),
        ollmlx_engine::mlx::Device::Gpu if info.name.is_empty() => "gpu".to_string(),
        ollmlx_engine::mlx::Device::Gpu => format!("gpu: {}", info.name),
    }
}
