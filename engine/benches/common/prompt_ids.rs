//! Random prompt ids for the engine benches: a xorshift stream, the same on every run.

/// `n` ids below `vocab`, from the stream `seed` picks (seed 0: the decode bench's prompt).
pub fn prompt_ids(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab as u64) as u32
        })
        .collect()
}
