// `x @ w.T` for the 2 to 12 rows of a batched decode step on the CPU, as an MLX primitive.
//
// Why not MLX's matmul: on the CPU it calls BLAS sgemm, and OpenBLAS packs every weight matrix
// into panels before multiplying. With a few rows that copy is most of the work: a step of
// SmolLM2-135M at 8 rows spent about a third of its time in `sgemm_incopy`. Here each weight row
// is read once, straight from the checkpoint's layout, and multiplied into every row of x while
// it sits in L1; the output columns are split over the cores. On the 2-core EPYC of our CI, the
// matmuls of one 8-row step (538 MB of f32 weights) take 41 ms here against 84 ms in OpenBLAS.
// From about 16 rows OpenBLAS's packed kernels catch up, and a lone row stays with MLX so that
// a single sequence keeps exactly mlx-lm's arithmetic.
#include "rows_matmul.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mx = mlx::core;

namespace ollmlx {
namespace {

// Output columns (weight rows) per tile: the tile stays in L1 while every group of x rows
// passes over it.
constexpr int TILE = 16;

#if defined(__x86_64__)

#define OLLMLX_AVX2 __attribute__((target("avx2,fma")))
// The accumulators must live in registers, which needs the loops over rows unrolled: the shim
// builds at -O2, where GCC keeps them on the stack (twice as slow).
#define UNROLL _Pragma("GCC unroll 16")

OLLMLX_AVX2 inline float sum_lanes(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// Columns [n0, n1) of y for the ROWS rows of x from `m0`, two weight rows at a time: 2 x ROWS
// accumulators, and each load of x feeds two multiply-adds.
template <int ROWS>
OLLMLX_AVX2 void tile_rows(const float* x, const float* w, float* y, int n_total, int k, int m0, int n0, int n1) {
  int n = n0;
  for (; n + 1 < n1; n += 2) {
    const float* w0 = w + static_cast<size_t>(n) * k;
    const float* w1 = w0 + k;
    __m256 a0[ROWS], a1[ROWS];
    UNROLL for (int m = 0; m < ROWS; m++) a0[m] = a1[m] = _mm256_setzero_ps();
    for (int i = 0; i < k; i += 8) {
      const __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i);
      UNROLL for (int m = 0; m < ROWS; m++) {
        const __m256 xv = _mm256_loadu_ps(x + static_cast<size_t>(m0 + m) * k + i);
        a0[m] = _mm256_fmadd_ps(v0, xv, a0[m]);
        a1[m] = _mm256_fmadd_ps(v1, xv, a1[m]);
      }
    }
    UNROLL for (int m = 0; m < ROWS; m++) {
      y[static_cast<size_t>(m0 + m) * n_total + n] = sum_lanes(a0[m]);
      y[static_cast<size_t>(m0 + m) * n_total + n + 1] = sum_lanes(a1[m]);
    }
  }
  if (n < n1) {
    const float* w0 = w + static_cast<size_t>(n) * k;
    __m256 a0[ROWS];
    UNROLL for (int m = 0; m < ROWS; m++) a0[m] = _mm256_setzero_ps();
    for (int i = 0; i < k; i += 8) {
      const __m256 v0 = _mm256_loadu_ps(w0 + i);
      UNROLL for (int m = 0; m < ROWS; m++)
        a0[m] = _mm256_fmadd_ps(v0, _mm256_loadu_ps(x + static_cast<size_t>(m0 + m) * k + i), a0[m]);
    }
    UNROLL for (int m = 0; m < ROWS; m++) y[static_cast<size_t>(m0 + m) * n_total + n] = sum_lanes(a0[m]);
  }
}

// Columns [n0, n1) of y = x w^T for all `m` rows of x, tile by tile, four rows of x at a time.
OLLMLX_AVX2 void columns(const float* x, const float* w, float* y, int m, int n, int k, int n0, int n1) {
  for (int t = n0; t < n1; t += TILE) {
    const int te = std::min(n1, t + TILE);
    int r = 0;
    for (; r + 4 <= m; r += 4) tile_rows<4>(x, w, y, n, k, r, t, te);
    switch (m - r) {
      case 1: tile_rows<1>(x, w, y, n, k, r, t, te); break;
      case 2: tile_rows<2>(x, w, y, n, k, r, t, te); break;
      case 3: tile_rows<3>(x, w, y, n, k, r, t, te); break;
      default: break;
    }
  }
}

inline void relax() { _mm_pause(); }

#else

void columns(const float*, const float*, float*, int, int, int, int, int) {
  throw std::runtime_error("rows_matmul has no kernel for this CPU");
}

inline void relax() { std::this_thread::yield(); }

#endif

// Helper threads that share one matmul's column chunks with the thread that runs it. Chunks are
// claimed one at a time, so a helper that wakes late takes only what is left, and the caller never
// waits for a helper that has not started. Helpers spin for a moment after each matmul, since the
// next one of a step follows within microseconds, then sleep until the next one arrives.
class Workers {
 public:
  explicit Workers(int helpers) : helpers_(helpers) {
    for (int i = 0; i < helpers_; i++) std::thread([this] { serve(); }).detach();
  }

  int threads() const { return helpers_ + 1; }

  // Runs chunk(0..chunks), on this thread and the helpers; returns when all are done.
  void run(int chunks, const std::function<void(int)>& chunk) {
    std::lock_guard<std::mutex> one_at_a_time(busy_);
    chunk_ = &chunk;
    const uint64_t generation = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    // Publishing the state publishes `chunk_` with it (a claim reads the state first).
    state_.store(generation << 32 | static_cast<uint64_t>(chunks) << 16, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> guard(lock_);
      wake_.notify_all();
    }
    take_chunks();
    while (in_flight_.load(std::memory_order_seq_cst) != 0) relax();
  }

 private:
  // Claims and runs chunks of the current matmul until none is left. Taking part holds
  // `in_flight_` from before the state is read, so the caller cannot return (and then publish
  // the next matmul over `chunk_`) while a helper may still claim a chunk of this one.
  void take_chunks() {
    in_flight_.fetch_add(1, std::memory_order_seq_cst);
    uint64_t s = state_.load(std::memory_order_seq_cst);
    while (next_chunk(s) < chunk_count(s)) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_seq_cst)) {
        (*chunk_)(next_chunk(s));
        s = state_.load(std::memory_order_seq_cst);
      }
    }
    in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  }

  static int next_chunk(uint64_t state) { return static_cast<int>(state & 0xffff); }
  static int chunk_count(uint64_t state) { return static_cast<int>(state >> 16 & 0xffff); }

  void serve() {
    uint64_t seen = 0;
    for (;;) {
      const auto until = std::chrono::steady_clock::now() + SPIN;
      while ((state_.load(std::memory_order_acquire) >> 32) == seen && std::chrono::steady_clock::now() < until)
        for (int i = 0; i < 16; i++) relax();
      if ((state_.load(std::memory_order_acquire) >> 32) == seen) {
        std::unique_lock<std::mutex> guard(lock_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(guard, [&] { return (state_.load(std::memory_order_seq_cst) >> 32) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = state_.load(std::memory_order_acquire) >> 32;
      take_chunks();
    }
  }

  // Longer than the gap between a step's matmuls, short enough that an idle daemon's helpers
  // sleep.
  static constexpr std::chrono::microseconds SPIN{300};

  const int helpers_;
  std::mutex busy_;
  std::mutex lock_;
  std::condition_variable wake_;
  // The matmul's generation (bits 32-63), its number of chunks (16-31) and its next unclaimed
  // chunk (0-15), in one word so a claim is one compare-and-swap of all three.
  std::atomic<uint64_t> state_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> sleepers_{0};
  const std::function<void(int)>* chunk_ = nullptr;
};

Workers& workers() {
  // Never destroyed: a condition variable destroyed under a sleeping helper blocks exit.
  static Workers* made = new Workers(static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u)) - 1);
  return *made;
}

void multiply(const float* x, const float* w, float* y, int m, int n, int k) {
  const int tiles = (n + TILE - 1) / TILE;
  // A few chunks per thread, so a helper that joins late still finds work; below four tiles
  // a matmul is too small to be worth waking one.
  const int chunks = tiles < 4 ? 1 : std::min(tiles, 4 * workers().threads());
  if (chunks == 1) return columns(x, w, y, m, n, k, 0, n);
  workers().run(chunks, [&](int c) {
    const int t0 = static_cast<int>(static_cast<int64_t>(c) * tiles / chunks);
    const int t1 = static_cast<int>(static_cast<int64_t>(c + 1) * tiles / chunks);
    columns(x, w, y, m, n, k, t0 * TILE, std::min(n, t1 * TILE));
  });
}

class RowsMatmul : public mx::UnaryPrimitive {
 public:
  explicit RowsMatmul(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const mx::array& x = inputs[0];
    const mx::array& w = inputs[1];
    if (!x.flags().row_contiguous || !w.flags().row_contiguous)
      throw std::runtime_error("rows_matmul needs row-contiguous inputs");
    out.set_data(mx::allocator::malloc(out.nbytes()));
    const int k = x.shape().back();
    const int m = static_cast<int>(x.size() / k);
    const int n = w.shape(0);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_input_array(w);
    encoder.set_output_array(out);
    encoder.dispatch([xp = x.data<float>(), wp = w.data<float>(), yp = out.data<float>(), m, n, k] {
      multiply(xp, wp, yp, m, n, k);
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("rows_matmul runs on the CPU only");
  }

  const char* name() const override { return "OllmlxRowsMatmul"; }

  bool is_equivalent(const mx::Primitive&) const override { return true; }
};

}  // namespace

bool rows_matmul_supported() {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2;
#else
  return false;
#endif
}

mx::array rows_matmul(const mx::array& x_in, const mx::array& w_in) {
  if (!rows_matmul_supported()) throw std::runtime_error("rows_matmul needs a CPU with AVX2 and FMA");
  if (x_in.dtype() != mx::float32 || w_in.dtype() != mx::float32)
    throw std::invalid_argument("rows_matmul takes float32 x and w");
  if (x_in.ndim() < 1 || w_in.ndim() != 2) throw std::invalid_argument("rows_matmul takes x [..., K] and w [N, K]");
  const int k = x_in.shape().back();
  if (k == 0 || k % 8 != 0 || w_in.shape(1) != k)
    throw std::invalid_argument("rows_matmul needs K a multiple of 8 shared by x and w, got x " +
                                std::to_string(k) + " and w " + std::to_string(w_in.shape(1)));
  const auto rows = x_in.size() / k;
  if (rows < 2 || rows > ROWS_MATMUL_MAX)
    throw std::invalid_argument("rows_matmul takes 2 to " + std::to_string(ROWS_MATMUL_MAX) + " rows, got " +
                                std::to_string(rows));
  const mx::Stream cpu = mx::default_stream(mx::Device::cpu);
  // No copy when already contiguous (MLX shares the buffer).
  mx::array x = mx::contiguous(x_in, false, cpu);
  mx::array w = mx::contiguous(w_in, false, cpu);
  auto shape = x.shape();
  shape.back() = w.shape(0);
  return mx::array(std::move(shape), mx::float32, std::make_shared<RowsMatmul>(cpu), {std::move(x), std::move(w)});
}

}  // namespace ollmlx
