// y[..., N] = x[..., K] @ dequantize(w)[N, K]^T for a few rows (M <= 16, the product of x's
// leading axes) and 4-bit affine weights with groups of G along K. The body of an MLX
// `cuda_kernel`: MLX writes the signature (x, w, scales, biases, y and the *_shape and x_ndim
// arguments named here) and the template constants T (x's dtype), BF16 (whether T is bfloat16)
// and G. x keeps its leading axes (a decode step's [1, rows, K]) so that no reshape surrounds
// the call: a batched step is host-bound on small models, and every graph node costs host time.
//
// Why it exists: for 2-7 rows MLX's CUDA dispatch runs its one-row kernel once per row, and from
// 8 rows a tiled kernel whose few blocks (N / 128) cannot keep the memory busy on a decode
// step's narrow projections. Here each weight is read and dequantized once, and the tensor cores
// (mma m16n8k16) multiply it with every row: a warp's A tile is 16 weight rows x 16 k, its B tile
// 16 k x 8 input rows (two B tiles for 9-16 rows), accumulated in f32.
//
// Launch: grid (32 * WARPS, ceil(N / 16), 1) threads, threadgroup (32 * WARPS, 1, 1). A block
// owns 16 output columns; its warps split K and add their partial tiles in shared memory. Each
// warp reads its next 64-k chunk while it multiplies the current one: a decode step's matrices
// are a few chunks per warp, so the loads' latency, not the arithmetic, sets the time.
constexpr int WARPS = 8;
const int lane = threadIdx.x & 31;
const int warp = threadIdx.x >> 5;
const int g = lane >> 2;  // the fragment's row group
const int t = lane & 3;   // the thread within the group
const int K = x_shape[x_ndim - 1];
int M = 1;
for (int i = 0; i < x_ndim - 1; ++i) M *= x_shape[i];
const int N = w_shape[0];
const int n0 = blockIdx.y * 16;
const int words = K / 8;  // uint32 words per weight row
const int groups = K / G;
// This thread dequantizes weight rows n0 + g and n0 + g + 8 (rows past N read the last one and
// are never written).
const size_t row_a = static_cast<size_t>(min(n0 + g, N - 1));
const size_t row_b = static_cast<size_t>(min(n0 + g + 8, N - 1));
const uint4* wa = reinterpret_cast<const uint4*>(w + row_a * words);
const uint4* wb = reinterpret_cast<const uint4*>(w + row_b * words);
// ... and feeds input rows g and g + 8 (zeros past M).
const T* x0 = x + static_cast<size_t>(min(g, M - 1)) * K;
const T* x1 = x + static_cast<size_t>(min(g + 8, M - 1)) * K;
const bool has0 = g < M;
const bool has1 = g + 8 < M;
const bool two_tiles = M > 8;

// Two weights (k = 2t, 2t + 1 of a 16-k step, nibbles 2t and 2t + 1 of `word`) as a T pair.
auto dequant = [t](uint32_t word, float s, float b) -> uint32_t {
  const float v0 = fmaf(s, static_cast<float>((word >> (8 * t)) & 0xF), b);
  const float v1 = fmaf(s, static_cast<float>((word >> (8 * t + 4)) & 0xF), b);
  uint32_t packed;
  if constexpr (BF16) {
    __nv_bfloat162 h = __floats2bfloat162_rn(v0, v1);
    packed = *reinterpret_cast<uint32_t*>(&h);
  } else {
    __half2 h = __floats2half2_rn(v0, v1);
    packed = *reinterpret_cast<uint32_t*>(&h);
  }
  return packed;
};
auto mma = [](float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  if constexpr (BF16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// What one thread reads of a 64-k chunk: its two weight rows' 8 words, their scales and biases
// (SPC groups: one for G >= 64, two for G = 32), and its input rows' pairs for the four 16-k steps.
constexpr int SPC = G >= 64 ? 1 : 2;
struct Chunk {
  uint4 a_lo, a_hi, b_lo, b_hi;
  float sa[SPC], ba[SPC], sb[SPC], bb[SPC];
  uint32_t x0[8], x1[8];
};
auto load = [&](int k0, Chunk& c) {
  const int q = k0 / 32;  // in uint4 units
  c.a_lo = wa[q];
  c.a_hi = wa[q + 1];
  c.b_lo = wb[q];
  c.b_hi = wb[q + 1];
#pragma unroll
  for (int j = 0; j < SPC; ++j) {
    const size_t gi = (k0 + 32 * j) / G;
    c.sa[j] = static_cast<float>(scales[row_a * groups + gi]);
    c.ba[j] = static_cast<float>(biases[row_a * groups + gi]);
    c.sb[j] = static_cast<float>(scales[row_b * groups + gi]);
    c.bb[j] = static_cast<float>(biases[row_b * groups + gi]);
  }
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const int k = k0 + 16 * s;
    c.x0[2 * s] = has0 ? *reinterpret_cast<const uint32_t*>(x0 + k + 2 * t) : 0u;
    c.x0[2 * s + 1] = has0 ? *reinterpret_cast<const uint32_t*>(x0 + k + 8 + 2 * t) : 0u;
    c.x1[2 * s] = has1 ? *reinterpret_cast<const uint32_t*>(x1 + k + 2 * t) : 0u;
    c.x1[2 * s + 1] = has1 ? *reinterpret_cast<const uint32_t*>(x1 + k + 8 + 2 * t) : 0u;
  }
};

float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
// Each warp takes every WARPS-th 64-k chunk.
constexpr int STRIDE = 64 * WARPS;
Chunk cur;
Chunk next;
int k0 = warp * 64;
if (k0 < K) {
  load(k0, cur);
}
for (; k0 < K; k0 += STRIDE) {
  if (k0 + STRIDE < K) {
    load(k0 + STRIDE, next);
  }
  const uint32_t ra[8] = {cur.a_lo.x, cur.a_lo.y, cur.a_lo.z, cur.a_lo.w, cur.a_hi.x, cur.a_hi.y, cur.a_hi.z, cur.a_hi.w};
  const uint32_t rb[8] = {cur.b_lo.x, cur.b_lo.y, cur.b_lo.z, cur.b_lo.w, cur.b_hi.x, cur.b_hi.y, cur.b_hi.z, cur.b_hi.w};
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    // A fragment: (row g, k 2t..), (row g+8, k 2t..), (row g, k 2t+8..), (row g+8, k 2t+8..).
    const int j = s * SPC / 4;
    const uint32_t a[4] = {dequant(ra[2 * s], cur.sa[j], cur.ba[j]), dequant(rb[2 * s], cur.sb[j], cur.bb[j]),
                           dequant(ra[2 * s + 1], cur.sa[j], cur.ba[j]), dequant(rb[2 * s + 1], cur.sb[j], cur.bb[j])};
    // B fragment: input row g (or g + 8) at k 2t, 2t+1 and 2t+8, 2t+9.
    mma(acc[0], a, cur.x0[2 * s], cur.x0[2 * s + 1]);
    if (two_tiles) {
      mma(acc[1], a, cur.x1[2 * s], cur.x1[2 * s + 1]);
    }
  }
  cur = next;
}

// Add the warps' partial tiles; warp 0 writes. C fragment: (row g, col 2t), (row g, col 2t+1),
// (row g+8, col 2t), (row g+8, col 2t+1), rows being output columns and cols input rows.
__shared__ float partial[WARPS][32][8];
#pragma unroll
for (int i = 0; i < 8; ++i) {
  partial[warp][lane][i] = acc[i / 4][i % 4];
}
__syncthreads();
if (warp == 0) {
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    float v = 0.f;
#pragma unroll
    for (int j = 0; j < WARPS; ++j) {
      v += partial[j][lane][i];
    }
    const int m = (i / 4) * 8 + 2 * t + (i & 1);
    const int n = n0 + g + ((i % 4) >= 2 ? 8 : 0);
    if (m < M && n < N) {
      y[static_cast<size_t>(m) * N + n] = static_cast<T>(v);
    }
  }
}
