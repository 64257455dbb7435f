//! Seeded random keys: equal seeds give equal samples.
use super::{call_out, sys, Array, Result};

/// A splittable PRNG key (MLX's threefry keys).
pub struct RandomKey {
    key: Array,
}

impl RandomKey {
    /// A key from a seed.
    pub fn new(seed: u64) -> Result<RandomKey> {
        Ok(RandomKey { key: call_out!(ox_random_key(seed))? })
    }

    /// Returns a fresh subkey and advances this key.
    pub fn next(&mut self) -> Result<Array> {
        let (mut a, mut b) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `key` is live; on success both outputs are new owning pointers.
        let status = unsafe { sys::ox_random_split(self.key.raw(), &mut a, &mut b) };
        super::check("ox_random_split", status)?;
        // SAFETY: see above.
        let (a, b) = unsafe { (Array::from_raw(a), Array::from_raw(b)) };
        self.key = a;
        Ok(b)
    }

    /// Samples indices from unnormalised log-probabilities along `axis`.
    pub fn categorical(&mut self, logits: &Array, axis: i32) -> Result<Array> {
        let sub = self.next()?;
        call_out!(ox_random_categorical(logits.raw(), axis, sub.raw()))
    }

    /// Standard-normal samples of a shape and dtype.
    pub fn normal(&mut self, shape: &[usize], dtype: super::Dtype) -> Result<Array> {
        let sub = self.next()?;
        let sh: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        call_out!(ox_random_normal(sh.as_ptr(), sh.len() as i32, dtype.code(), sub.raw()))
    }

    /// Uniform `[0, 1)` float32 samples.
    pub fn uniform(&mut self, shape: &[usize]) -> Result<Array> {
        let sub = self.next()?;
        let sh: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        call_out!(ox_random_uniform(sh.as_ptr(), sh.len() as i32, sub.raw()))
    }
}
