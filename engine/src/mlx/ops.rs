//! Array operations: thin, checked wrappers over `mlx::core` ops.
use super::{call_out, sys, Array, Dtype, Result};

fn null() -> sys::RawArray {
    std::ptr::null_mut()
}

fn i32s(v: &[usize]) -> Vec<i32> {
    v.iter().map(|&x| x as i32).collect()
}

macro_rules! unary {
    ($($name:ident => $f:ident),* $(,)?) => {
        impl Array { $(
            #[doc = concat!("Element-wise `", stringify!($name), "`.")]
            pub fn $name(&self) -> Result<Array> { call_out!($f(self.raw())) }
        )* }
    };
}
unary!(exp => ox_exp, log => ox_log, negative => ox_negative, sqrt => ox_sqrt, rsqrt => ox_rsqrt,
       tanh => ox_tanh, sigmoid => ox_sigmoid, abs => ox_abs, square => ox_square, erf => ox_erf,
       sin => ox_sin, cos => ox_cos, logical_not => ox_logical_not, contiguous => ox_contiguous);

macro_rules! binary {
    ($($name:ident => $f:ident),* $(,)?) => {
        impl Array { $(
            #[doc = concat!("Broadcasting `", stringify!($name), "`.")]
            pub fn $name(&self, other: &Array) -> Result<Array> { call_out!($f(self.raw(), other.raw())) }
        )* }
    };
}
binary!(add => ox_add, subtract => ox_subtract, multiply => ox_multiply, divide => ox_divide,
        maximum => ox_maximum, minimum => ox_minimum, power => ox_power, matmul => ox_matmul,
        equal => ox_equal, not_equal => ox_not_equal, greater => ox_greater,
        greater_equal => ox_greater_equal, less => ox_less, less_equal => ox_less_equal,
        logical_and => ox_logical_and, logical_or => ox_logical_or);

macro_rules! reduce {
    ($($name:ident => $f:ident),* $(,)?) => {
        impl Array { $(
            #[doc = concat!("`", stringify!($name), "` over one axis.")]
            pub fn $name(&self, axis: i32, keepdims: bool) -> Result<Array> {
                call_out!($f(self.raw(), axis, keepdims))
            }
        )* }
    };
}
reduce!(sum => ox_sum, mean => ox_mean, max => ox_max, min => ox_min, logsumexp => ox_logsumexp,
        argmax => ox_argmax, argmin => ox_argmin);

impl Array {
    /// Multiplies by a float scalar (kept in this array's dtype).
    pub fn mul_scalar(&self, v: f32) -> Result<Array> {
        self.multiply(&Array::scalar(v, self.dtype()))
    }

    /// Adds a float scalar (kept in this array's dtype).
    pub fn add_scalar(&self, v: f32) -> Result<Array> {
        self.add(&Array::scalar(v, self.dtype()))
    }

    /// Converts the element type.
    pub fn astype(&self, dtype: Dtype) -> Result<Array> {
        call_out!(ox_astype(self.raw(), dtype.code()))
    }

    /// Clips to `[lo, hi]`; `None` leaves that side open.
    pub fn clip(&self, lo: Option<&Array>, hi: Option<&Array>) -> Result<Array> {
        call_out!(ox_clip(self.raw(), lo.map_or(null(), Array::raw), hi.map_or(null(), Array::raw)))
    }

    /// Reshapes; one dimension may be `-1`.
    pub fn reshape(&self, shape: &[i32]) -> Result<Array> {
        call_out!(ox_reshape(self.raw(), shape.as_ptr(), shape.len() as i32))
    }

    /// Permutes axes.
    pub fn transpose(&self, axes: &[i32]) -> Result<Array> {
        call_out!(ox_transpose(self.raw(), axes.as_ptr(), axes.len() as i32))
    }

    /// Swaps two axes.
    pub fn swapaxes(&self, a: i32, b: i32) -> Result<Array> {
        call_out!(ox_swapaxes(self.raw(), a, b))
    }

    /// Inserts a length-1 axis.
    pub fn expand_dims(&self, axis: i32) -> Result<Array> {
        call_out!(ox_expand_dims(self.raw(), axis))
    }

    /// Removes a length-1 axis.
    pub fn squeeze(&self, axis: i32) -> Result<Array> {
        call_out!(ox_squeeze(self.raw(), axis))
    }

    /// Broadcasts to a shape.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Array> {
        let sh = i32s(shape);
        call_out!(ox_broadcast_to(self.raw(), sh.as_ptr(), sh.len() as i32))
    }

    /// Strided slice `[start, stop)` on every axis.
    pub fn slice(&self, start: &[i32], stop: &[i32], strides: &[i32]) -> Result<Array> {
        call_out!(ox_slice(self.raw(), start.as_ptr(), stop.as_ptr(), strides.as_ptr(), start.len() as i32))
    }

    /// Slices `[start, stop)` along one axis, everything on the others.
    pub fn slice_axis(&self, axis: i32, start: usize, stop: usize) -> Result<Array> {
        let shape = self.shape();
        let ax = if axis < 0 { shape.len() as i32 + axis } else { axis } as usize;
        let mut lo = vec![0i32; shape.len()];
        let mut hi: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        lo[ax] = start as i32;
        hi[ax] = stop as i32;
        self.slice(&lo, &hi, &vec![1; shape.len()])
    }

    /// Returns a copy with `update` written into the region `[start, stop)`.
    pub fn slice_update(&self, update: &Array, start: &[i32], stop: &[i32]) -> Result<Array> {
        let strides = vec![1i32; start.len()];
        call_out!(ox_slice_update(
            self.raw(),
            update.raw(),
            start.as_ptr(),
            stop.as_ptr(),
            strides.as_ptr(),
            start.len() as i32
        ))
    }

    /// Gathers along an axis.
    pub fn take(&self, indices: &Array, axis: i32) -> Result<Array> {
        call_out!(ox_take(self.raw(), indices.raw(), axis))
    }

    /// Gathers with indices shaped like the array.
    pub fn take_along_axis(&self, indices: &Array, axis: i32) -> Result<Array> {
        call_out!(ox_take_along_axis(self.raw(), indices.raw(), axis))
    }

    /// Scatters `values` at `indices` along an axis.
    pub fn put_along_axis(&self, indices: &Array, values: &Array, axis: i32) -> Result<Array> {
        call_out!(ox_put_along_axis(self.raw(), indices.raw(), values.raw(), axis))
    }

    /// Softmax over one axis (`precise` computes in f32 for half inputs).
    pub fn softmax(&self, axis: i32, precise: bool) -> Result<Array> {
        call_out!(ox_softmax(self.raw(), axis, precise))
    }

    /// Indices that partition the axis around its `kth` element.
    pub fn argpartition(&self, kth: i32, axis: i32) -> Result<Array> {
        call_out!(ox_argpartition(self.raw(), kth, axis))
    }

    /// Indices that sort the axis ascending.
    pub fn argsort(&self, axis: i32) -> Result<Array> {
        call_out!(ox_argsort(self.raw(), axis))
    }

    /// Sorted copy along the axis, ascending.
    pub fn sort(&self, axis: i32) -> Result<Array> {
        call_out!(ox_sort(self.raw(), axis))
    }

    /// Cumulative sum.
    pub fn cumsum(&self, axis: i32, reverse: bool, inclusive: bool) -> Result<Array> {
        call_out!(ox_cumsum(self.raw(), axis, reverse, inclusive))
    }

    /// Splits into `parts` equal pieces along an axis.
    pub fn split(&self, parts: usize, axis: i32) -> Result<Vec<Array>> {
        let mut outs: Vec<sys::RawArray> = vec![std::ptr::null_mut(); parts];
        // SAFETY: `outs` has room for `parts` handles; on success each is a new owning pointer.
        let status = unsafe { sys::ox_split_equal(self.raw(), parts as i32, axis, outs.as_mut_ptr()) };
        super::check("ox_split_equal", status)?;
        // SAFETY: see above.
        Ok(outs.into_iter().map(|r| unsafe { Array::from_raw(r) }).collect())
    }
}

/// `cond ? x : y`, broadcasting.
pub fn select(cond: &Array, x: &Array, y: &Array) -> Result<Array> {
    call_out!(ox_where(cond.raw(), x.raw(), y.raw()))
}

/// Joins arrays along an existing axis.
pub fn concatenate(arrays: &[&Array], axis: i32) -> Result<Array> {
    let raws: Vec<sys::RawArray> = arrays.iter().map(|a| a.raw()).collect();
    call_out!(ox_concatenate(raws.as_ptr(), raws.len() as i32, axis))
}

/// Joins arrays along a new axis.
pub fn stack(arrays: &[&Array], axis: i32) -> Result<Array> {
    let raws: Vec<sys::RawArray> = arrays.iter().map(|a| a.raw()).collect();
    call_out!(ox_stack(raws.as_ptr(), raws.len() as i32, axis))
}

/// An array of zeros.
pub fn zeros(shape: &[usize], dtype: Dtype) -> Result<Array> {
    let sh = i32s(shape);
    call_out!(ox_zeros(sh.as_ptr(), sh.len() as i32, dtype.code()))
}

/// An array filled with one value.
pub fn full(shape: &[usize], value: f32, dtype: Dtype) -> Result<Array> {
    let sh = i32s(shape);
    call_out!(ox_full(sh.as_ptr(), sh.len() as i32, value, dtype.code()))
}

/// `[start, stop)` in steps.
pub fn arange(start: f64, stop: f64, step: f64, dtype: Dtype) -> Result<Array> {
    call_out!(ox_arange(start, stop, step, dtype.code()))
}

/// Lower-triangular ones of shape `[n, m]` with diagonal offset `k`.
pub fn tri(n: usize, m: usize, k: i32, dtype: Dtype) -> Result<Array> {
    call_out!(ox_tri(n as i32, m as i32, k, dtype.code()))
}

/// `x @ w.T` (when `transpose`) with `w` in MLX's affine-quantized layout.
pub fn quantized_matmul(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    transpose: bool,
    group_size: i32,
    bits: i32,
) -> Result<Array> {
    call_out!(ox_quantized_matmul(
        x.raw(),
        w.raw(),
        scales.raw(),
        biases.map_or(null(), Array::raw),
        transpose,
        group_size,
        bits
    ))
}

/// Expands an affine-quantized matrix; `dtype` None keeps the scales' dtype.
pub fn dequantize(
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    group_size: i32,
    bits: i32,
    dtype: Option<Dtype>,
) -> Result<Array> {
    call_out!(ox_dequantize(
        w.raw(),
        scales.raw(),
        biases.map_or(null(), Array::raw),
        group_size,
        bits,
        dtype.map_or(-1, Dtype::code)
    ))
}

/// Quantizes a matrix along its last axis: (weights, scales, biases).
pub fn quantize(w: &Array, group_size: i32, bits: i32) -> Result<(Array, Array, Array)> {
    let (mut q, mut s, mut b) = (null(), null(), null());
    // SAFETY: `w` is live; on success the three outputs are new owning pointers.
    let status = unsafe { sys::ox_quantize(w.raw(), group_size, bits, &mut q, &mut s, &mut b) };
    super::check("ox_quantize", status)?;
    // SAFETY: see above.
    Ok(unsafe { (Array::from_raw(q), Array::from_raw(s), Array::from_raw(b)) })
}
