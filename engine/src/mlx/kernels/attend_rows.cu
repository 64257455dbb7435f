// o[1, R, H * D]: one new query of each row r of the shared decode batch attends over the first
// offsets[r] + 1 positions of its own row of the key/value buffers (its cache and the token just
// written), head h reading key/value head h / (H / KVH). The body of an MLX `cuda_kernel`: MLX
// writes the signature (q, k, v, offsets, scale, o and the *_shape arguments named here) and the
// template constants T (the dtype of q, k and v) and D (the head width).
//
// Why it exists: rows of different lengths need a padding mask, and MLX's CUDA attention takes
// none for one query (its vector kernel refuses array masks), so a batched decode step ran the
// unfused attention (scale, matmul, mask, softmax, matmul, copies) in every layer: half a dozen
// kernel launches where a lone sequence has one, on a step whose time is launches. This is one
// launch, reading the buffers in place (no slice to the visible length, no mask array).
//
// Inputs: q [R, H, 1, D]; k, v [R, KVH, CAP, D], row-contiguous; offsets int32 [R]; scale
// float32 [1]. Launch: grid (THREADS * H, R, 1) threads, threadgroup (THREADS, 1, 1): a block per
// (head, row). Positions go in tiles of TILE: a thread per position scores it against the query
// (kept in shared memory, pre-scaled), the block takes the tile's max and the weights (an online
// softmax across tiles, in f32), then threads own two output dims each and sum weight x value
// over a share of the tile's positions; the shares are added at the end.
constexpr int THREADS = 256;
constexpr int WARPS = THREADS / 32;
constexpr int TILE = 1024;
constexpr int VEC = 16 / sizeof(T);     // elements of one 16-byte load
constexpr int PAIRS = D / 2;            // threads that cover one position's value row
constexpr int SHARES = THREADS / PAIRS; // positions summed side by side
constexpr float LOWEST = -3.402823466e38f;
static_assert(D % VEC == 0 && THREADS % PAIRS == 0, "head width must divide the block");

const int h = blockIdx.x;
const int r = blockIdx.y;
const int H = q_shape[1];
const int KVH = k_shape[1];
const int CAP = k_shape[2];
const int n = offsets[r] + 1;
const int tid = threadIdx.x;
const int lane = tid & 31;
const int warp = tid >> 5;
const size_t kv_head = static_cast<size_t>(r) * KVH + h / (H / KVH);
const T* keys = k + kv_head * CAP * D;
const T* values = v + kv_head * CAP * D;
T* out = o + (static_cast<size_t>(r) * H + h) * D;

__shared__ float query[D];
__shared__ float weights[TILE];
__shared__ float partial[WARPS];
__shared__ float shares[SHARES][D];

// Every thread gets the block's max (or sum) of `x`; `partial` is free again on return.
auto block_reduce = [&](float x, bool take_max) -> float {
  for (int m = 16; m > 0; m >>= 1) {
    const float y = __shfl_xor_sync(0xffffffff, x, m);
    x = take_max ? fmaxf(x, y) : x + y;
  }
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  float all = partial[0];
  for (int w = 1; w < WARPS; ++w) all = take_max ? fmaxf(all, partial[w]) : all + partial[w];
  __syncthreads();
  return all;
};

const T* qh = q + (static_cast<size_t>(r) * H + h) * D;
for (int d = tid; d < D; d += THREADS) query[d] = static_cast<float>(qh[d]) * scale[0];
__syncthreads();

const int share = tid / PAIRS;
const int pair = tid % PAIRS;
float running_max = LOWEST;
float total = 0.0f;
float acc0 = 0.0f, acc1 = 0.0f;
for (int t0 = 0; t0 < n; t0 += TILE) {
  const int tn = min(TILE, n - t0);
  float tile_max = LOWEST;
  for (int i = tid; i < tn; i += THREADS) {
    const T* key = keys + static_cast<size_t>(t0 + i) * D;
    float s = 0.0f;
#pragma unroll
    for (int d0 = 0; d0 < D; d0 += VEC) {
      const uint4 raw = *reinterpret_cast<const uint4*>(key + d0);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < VEC; ++j) s = fmaf(query[d0 + j], static_cast<float>(e[j]), s);
    }
    weights[i] = s;
    tile_max = fmaxf(tile_max, s);
  }
  const float new_max = fmaxf(running_max, block_reduce(tile_max, true));
  const float rescale = expf(running_max - new_max);
  float tile_sum = 0.0f;
  for (int i = tid; i < tn; i += THREADS) {
    const float w = expf(weights[i] - new_max);
    weights[i] = w;
    tile_sum += w;
  }
  total = total * rescale + block_reduce(tile_sum, false);  // its barrier publishes `weights`
  acc0 *= rescale;
  acc1 *= rescale;
  for (int i = share; i < tn; i += SHARES) {
    const T* value = values + static_cast<size_t>(t0 + i) * D + 2 * pair;
    const float w = weights[i];
    acc0 = fmaf(w, static_cast<float>(value[0]), acc0);
    acc1 = fmaf(w, static_cast<float>(value[1]), acc1);
  }
  running_max = new_max;
  __syncthreads();  // the next tile overwrites `weights`
}
shares[share][2 * pair] = acc0;
shares[share][2 * pair + 1] = acc1;
__syncthreads();
for (int d = tid; d < D; d += THREADS) {
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < SHARES; ++j) s += shares[j][d];
  out[d] = static_cast<T>(s / total);
}
