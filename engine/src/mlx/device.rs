//! Device choice and MLX's memory API.
use super::{check, sys, Result};
use std::ffi::CStr;

/// Where MLX computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// MLX's CPU backend.
    Cpu,
    /// Metal (macOS) or CUDA (Linux), whichever this libmlx was built with.
    Gpu,
}

impl Device {
    fn code(self) -> i32 {
        match self {
            Device::Cpu => 0,
            Device::Gpu => 1,
        }
    }

    /// Whether this libmlx can run on the device.
    pub fn is_available(self) -> bool {
        // SAFETY: plain query, cannot throw (the shim catches).
        unsafe { sys::ox_device_available(self.code()) == 1 }
    }

    /// Makes this the default device for new operations on every thread.
    pub fn set_default(self) -> Result<()> {
        // SAFETY: plain call; failure is reported through the status code.
        check("ox_set_default_device", unsafe { sys::ox_set_default_device(self.code()) })
    }

    /// The current default device.
    pub fn default_device() -> Device {
        // SAFETY: plain query.
        if unsafe { sys::ox_default_device() } == 0 {
            Device::Cpu
        } else {
            Device::Gpu
        }
    }

    /// The best device: the GPU when this libmlx has one, else the CPU.
    pub fn best() -> Device {
        if Device::Gpu.is_available() {
            Device::Gpu
        } else {
            Device::Cpu
        }
    }
}

/// An MLX stream: an ordered queue of work on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    device: Device,
    index: i32,
}

impl Stream {
    /// A new stream on `device`.
    pub fn new(device: Device) -> Result<Stream> {
        let mut index = 0;
        // SAFETY: `index` is a valid out-pointer.
        check("ox_new_stream", unsafe { sys::ox_new_stream(device.code(), &mut index) })?;
        Ok(Stream { device, index })
    }

    /// Makes this the default stream of its device for the calling thread's new operations.
    pub fn set_default(self) -> Result<()> {
        // SAFETY: plain call; failure is reported through the status code.
        check("ox_set_default_stream", unsafe { sys::ox_set_default_stream(self.device.code(), self.index) })
    }

    /// The stream's device.
    pub fn device(self) -> Device {
        self.device
    }
}

/// Waits until every queued MLX operation has finished.
pub fn synchronize() -> Result<()> {
    // SAFETY: plain call; failure is reported through the status code.
    check("ox_synchronize", unsafe { sys::ox_synchronize() })
}

/// A description of the default device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The device kind.
    pub device: Device,
    /// MLX's device or architecture name.
    pub name: String,
    /// Total memory in bytes when MLX reports it (GPU), else 0.
    pub total_memory: u64,
}

/// Describes the current default device.
pub fn device_info() -> Result<DeviceInfo> {
    let mut buf = [0 as std::ffi::c_char; 256];
    let mut total = 0u64;
    // SAFETY: `buf` has 256 writable bytes; the shim NUL-terminates within `len`.
    check("ox_device_info", unsafe { sys::ox_device_info(buf.as_mut_ptr(), buf.len(), &mut total) })?;
    // SAFETY: NUL-terminated by the shim.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    Ok(DeviceInfo { device: Device::default_device(), name, total_memory: total })
}

/// The linked MLX version, e.g. "0.32.4".
pub fn mlx_version() -> String {
    // SAFETY: MLX returns a static string.
    unsafe { CStr::from_ptr(sys::ox_mlx_version()) }.to_string_lossy().into_owned()
}

/// The BLAS that MLX's CPU matmuls resolve to ("bundled" or OpenBLAS's config string).
pub fn blas_info() -> String {
    // SAFETY: static string from OpenBLAS or the shim.
    unsafe { CStr::from_ptr(sys::ox_blas_info()) }.to_string_lossy().into_owned()
}

/// MLX's allocator: what it holds and its limits.
pub mod memory {
    use super::sys;

    /// Bytes held by live arrays.
    pub fn active() -> usize {
        // SAFETY: plain query.
        unsafe { sys::ox_get_active_memory() }
    }
    /// The high-water mark of `active` since the last reset.
    pub fn peak() -> usize {
        // SAFETY: plain query.
        unsafe { sys::ox_get_peak_memory() }
    }
    /// Resets the peak to the current active bytes.
    pub fn reset_peak() {
        // SAFETY: plain call.
        unsafe { sys::ox_reset_peak_memory() }
    }
    /// Bytes freed by arrays but kept by MLX's buffer cache for reuse.
    pub fn cache() -> usize {
        // SAFETY: plain query.
        unsafe { sys::ox_get_cache_memory() }
    }
    /// Sets the allocation limit; returns the previous one.
    pub fn set_limit(bytes: usize) -> usize {
        // SAFETY: plain call.
        unsafe { sys::ox_set_memory_limit(bytes) }
    }
    /// The allocation limit.
    pub fn limit() -> usize {
        // SAFETY: plain query.
        unsafe { sys::ox_get_memory_limit() }
    }
    /// Sets the buffer-cache limit; returns the previous one.
    pub fn set_cache_limit(bytes: usize) -> usize {
        // SAFETY: plain call.
        unsafe { sys::ox_set_cache_limit(bytes) }
    }
    /// Returns the buffer cache to the system.
    pub fn clear_cache() {
        // SAFETY: plain call.
        unsafe { sys::ox_clear_cache() }
    }
}
