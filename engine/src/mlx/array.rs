//! [`Array`]: one owned `mlx::core::array` handle.
use super::{call_out, check, sys, Dtype, Element, Result};
use std::ffi::c_void;
use std::sync::Arc;

/// A lazily evaluated MLX array. Cloning is cheap (MLX arrays are refcounted handles).
pub struct Array {
    raw: sys::RawArray,
}

// SAFETY: an `mlx::core::array` is a shared_ptr to immutable graph data; MLX allows handing arrays
// between threads. We never expose interior mutation through `&Array`.
unsafe impl Send for Array {}
// SAFETY: see above; `&Array` only reads the handle.
unsafe impl Sync for Array {}

impl Drop for Array {
    fn drop(&mut self) {
        // SAFETY: `raw` is the owning pointer this value was created with, freed exactly once.
        unsafe { sys::ox_array_free(self.raw) }
    }
}

impl Clone for Array {
    fn clone(&self) -> Self {
        // Copying a shared_ptr cannot fail short of out-of-memory, which aborts in C++ anyway.
        call_out!(ox_array_clone(self.raw)).expect("copying an mlx array handle")
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Array({:?}, {:?})", self.shape(), self.dtype())
    }
}

/// Keeps the owner of borrowed bytes (e.g. a memory map) alive until MLX lets go of them.
struct Borrowed(#[allow(dead_code)] Arc<dyn Send + Sync>);

unsafe extern "C" fn drop_borrowed(ctx: *mut c_void) {
    // SAFETY: `ctx` came from `Box::into_raw(Box<Borrowed>)` in `from_borrowed`; MLX calls the deleter once.
    drop(unsafe { Box::from_raw(ctx.cast::<Borrowed>()) });
}

fn shape_i32(shape: &[usize]) -> Vec<i32> {
    shape.iter().map(|&d| d as i32).collect()
}

impl Array {
    /// Takes ownership of a handle returned by the shim.
    ///
    /// # Safety
    /// `raw` must be a non-null owning pointer produced by the shim and not owned elsewhere.
    pub(crate) unsafe fn from_raw(raw: sys::RawArray) -> Array {
        Array { raw }
    }

    pub(crate) fn raw(&self) -> sys::RawArray {
        self.raw
    }

    /// Copies host data into a new array of the given shape.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Array> {
        Self::from_bytes_typed(data.as_ptr().cast(), data.len(), shape, T::DTYPE)
    }

    /// Copies raw little-endian bytes of `dtype` into a new array.
    pub fn from_bytes(bytes: &[u8], shape: &[usize], dtype: Dtype) -> Result<Array> {
        Self::from_bytes_typed(bytes.as_ptr().cast(), bytes.len() / dtype.size().max(1), shape, dtype)
    }

    fn from_bytes_typed(ptr: *const c_void, len: usize, shape: &[usize], dtype: Dtype) -> Result<Array> {
        let n: usize = shape.iter().product();
        if n != len {
            return Err(super::MlxError {
                op: "from_slice",
                message: format!("{len} elements given for shape {shape:?}"),
            });
        }
        let sh = shape_i32(shape);
        call_out!(ox_array_from_data(ptr, sh.as_ptr(), sh.len() as i32, dtype.code()))
    }

    /// Wraps bytes owned by `owner` (e.g. a memory-mapped safetensors file) without copying where
    /// the backend allows; `owner` stays alive until MLX releases the bytes.
    ///
    /// # Safety
    /// `bytes` must point into memory kept alive and unmodified by `owner`, and hold
    /// `product(shape) * dtype.size()` bytes.
    pub unsafe fn from_borrowed(
        bytes: &[u8],
        shape: &[usize],
        dtype: Dtype,
        owner: Arc<dyn Send + Sync>,
    ) -> Result<Array> {
        let n: usize = shape.iter().product();
        if n * dtype.size() != bytes.len() {
            return Err(super::MlxError {
                op: "from_borrowed",
                message: format!("{} bytes given for shape {shape:?} of {dtype:?}", bytes.len()),
            });
        }
        let sh = shape_i32(shape);
        let ctx = Box::into_raw(Box::new(Borrowed(owner))).cast::<c_void>();
        let data = bytes.as_ptr().cast_mut().cast::<c_void>();
        let mut out: sys::RawArray = std::ptr::null_mut();
        // SAFETY: the caller guarantees the bytes outlive `owner`; the deleter frees `ctx` exactly once.
        let status = unsafe {
            sys::ox_array_from_borrowed(data, sh.as_ptr(), sh.len() as i32, dtype.code(), drop_borrowed, ctx, &mut out)
        };
        if status != 0 {
            // MLX may or may not have run the deleter before throwing; leaking `ctx` (one Arc) is the
            // only choice that can never free twice.
            return Err(super::last_error("ox_array_from_borrowed"));
        }
        // SAFETY: success means `out` is a fresh owning pointer.
        Ok(unsafe { Array::from_raw(out) })
    }

    /// A 0-d float array of the given dtype.
    pub fn scalar(v: f32, dtype: Dtype) -> Array {
        call_out!(ox_array_scalar_f32(v, dtype.code())).expect("creating a scalar")
    }

    /// A 0-d int32 array.
    pub fn scalar_i32(v: i32) -> Array {
        call_out!(ox_array_scalar_i32(v)).expect("creating a scalar")
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        // SAFETY: `raw` is a live handle.
        let n = unsafe { sys::ox_array_ndim(self.raw) };
        // SAFETY: `i < ndim`.
        (0..n).map(|i| unsafe { sys::ox_array_dim(self.raw, i) } as usize).collect()
    }

    /// One dimension; negative counts from the end.
    pub fn dim(&self, axis: i32) -> usize {
        let shape = self.shape();
        let i = if axis < 0 { shape.len() as i32 + axis } else { axis };
        shape[i as usize]
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { sys::ox_array_ndim(self.raw) as usize }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        // SAFETY: `raw` is a live handle.
        Dtype::from_code(unsafe { sys::ox_array_dtype(self.raw) })
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { sys::ox_array_size(self.raw) }
    }

    /// Bytes the array's data occupies.
    pub fn nbytes(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { sys::ox_array_nbytes(self.raw) }
    }

    /// Evaluates the array.
    pub fn eval(&self) -> Result<()> {
        eval(&[self])
    }

    /// Evaluates, then copies the elements to the host (row-major).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let a = if self.dtype() == T::DTYPE { self.clone() } else { self.astype(T::DTYPE)? };
        let mut out = vec![T::default(); a.size()];
        let nbytes = out.len() * std::mem::size_of::<T>();
        // SAFETY: `out` has exactly `nbytes` writable bytes; the shim checks the size again.
        let status = unsafe { sys::ox_array_to_host(a.raw, out.as_mut_ptr().cast(), nbytes) };
        check("ox_array_to_host", status)?;
        Ok(out)
    }

    /// Evaluates, then copies the raw element bytes to the host (row-major, native dtype).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.size() * self.dtype().size()];
        // SAFETY: `out` has exactly the array's byte size; the shim checks the size again.
        let status = unsafe { sys::ox_array_to_host(self.raw, out.as_mut_ptr().cast(), out.len()) };
        check("ox_array_to_host", status)?;
        Ok(out)
    }

    /// The single element of a one-element array.
    pub fn item<T: Element>(&self) -> Result<T> {
        let v = self.to_vec::<T>()?;
        v.first().copied().ok_or_else(|| super::MlxError { op: "item", message: "empty array".into() })
    }
}

/// Evaluates several arrays together.
pub fn eval(arrays: &[&Array]) -> Result<()> {
    let raws: Vec<sys::RawArray> = arrays.iter().map(|a| a.raw).collect();
    // SAFETY: all handles are live for the duration of the call.
    check("ox_eval", unsafe { sys::ox_eval(raws.as_ptr(), raws.len() as i32) })
}

/// Schedules evaluation and returns at once (the results are waited for on first read).
pub fn async_eval(arrays: &[&Array]) -> Result<()> {
    let raws: Vec<sys::RawArray> = arrays.iter().map(|a| a.raw).collect();
    // SAFETY: all handles are live for the duration of the call.
    check("ox_async_eval", unsafe { sys::ox_async_eval(raws.as_ptr(), raws.len() as i32) })
}
