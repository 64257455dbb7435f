// ollmlx's C ABI over mlx::core.
//
// Every exported function returns 0 on success and -1 when MLX threw; the message is kept in a
// thread-local string that Rust reads with `ox_last_error`. No C++ exception ever crosses into
// Rust. Arrays travel as owning pointers to heap-allocated `mlx::core::array` (a refcounted
// handle), freed with `ox_array_free`.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mlx/mlx.h"
#include "mlx/backend/cuda/cuda.h"
#include "rows_matmul.h"

namespace mx = mlx::core;

#ifdef OLLMLX_OPENBLAS
extern "C" char* openblas_get_config(void);
// Runs at load time. Its reference to OpenBLAS survives the linker's section garbage collection
// (constructors are always kept), so `--as-needed` keeps libopenblas as a dependency of every
// binary and its BLAS symbols win over the reference BLAS bundled with the mlx-cpu wheel. A
// reference from an ordinary function is dropped when no caller uses that function.
__attribute__((constructor, used)) static void ollmlx_require_openblas() { (void)openblas_get_config(); }
#endif

using ox_array = mx::array*;

namespace {

thread_local std::string last_error;

void set_error(const char* what) { last_error = what ? what : "unknown error"; }

mx::Dtype to_dtype(int code) {
  switch (code) {
    case 0: return mx::bool_;
    case 1: return mx::uint8;
    case 2: return mx::uint16;
    case 3: return mx::uint32;
    case 4: return mx::uint64;
    case 5: return mx::int8;
    case 6: return mx::int16;
    case 7: return mx::int32;
    case 8: return mx::int64;
    case 9: return mx::float16;
    case 10: return mx::float32;
    case 11: return mx::bfloat16;
    case 12: return mx::complex64;
    case 13: return mx::float64;
    default: throw std::invalid_argument("unknown dtype code " + std::to_string(code));
  }
}

int from_dtype(mx::Dtype d) {
  switch (d.val()) {
    case mx::Dtype::Val::bool_: return 0;
    case mx::Dtype::Val::uint8: return 1;
    case mx::Dtype::Val::uint16: return 2;
    case mx::Dtype::Val::uint32: return 3;
    case mx::Dtype::Val::uint64: return 4;
    case mx::Dtype::Val::int8: return 5;
    case mx::Dtype::Val::int16: return 6;
    case mx::Dtype::Val::int32: return 7;
    case mx::Dtype::Val::int64: return 8;
    case mx::Dtype::Val::float16: return 9;
    case mx::Dtype::Val::float32: return 10;
    case mx::Dtype::Val::bfloat16: return 11;
    case mx::Dtype::Val::complex64: return 12;
    case mx::Dtype::Val::float64: return 13;
  }
  return -1;
}

mx::Shape to_shape(const int32_t* shape, int ndim) { return mx::Shape(shape, shape + ndim); }

std::vector<int> to_ints(const int32_t* v, int n) { return std::vector<int>(v, v + n); }

std::vector<mx::array> to_vec(const ox_array* arrs, int n) {
  std::vector<mx::array> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(*arrs[i]);
  return out;
}

std::optional<mx::array> opt(ox_array a) {
  if (a == nullptr) return std::nullopt;
  return *a;
}

void put(ox_array* out, mx::array&& a) { *out = new mx::array(std::move(a)); }

}  // namespace

#define OX_TRY(...)                           \
  try {                                       \
    __VA_ARGS__;                              \
    return 0;                                 \
  } catch (const std::exception& e) {         \
    set_error(e.what());                      \
    return -1;                                \
  } catch (...) {                             \
    set_error("unknown C++ exception in MLX"); \
    return -1;                                \
  }

extern "C" {

const char* ox_last_error(void) { return last_error.c_str(); }

const char* ox_mlx_version(void) { return mx::version(); }

const char* ox_blas_info(void) {
#ifdef OLLMLX_OPENBLAS
  return openblas_get_config();
#else
  return "bundled";
#endif
}

// ---- array lifetime and inspection ---------------------------------------------------------

void ox_array_free(ox_array a) { delete a; }

int ox_array_clone(ox_array a, ox_array* out) { OX_TRY(put(out, mx::array(*a))) }

int ox_array_from_data(const void* data, const int32_t* shape, int ndim, int dtype, ox_array* out) {
  OX_TRY({
    auto dt = to_dtype(dtype);
    auto sh = to_shape(shape, ndim);
    // Copies the bytes into an MLX-owned buffer.
    size_t n = 1;
    for (auto d : sh) n *= d;
    auto data_buf = mx::allocator::malloc(n * dt.size());
    if (n > 0) std::memcpy(data_buf.buffer().raw_ptr(), data, n * dt.size());
    put(out, mx::array(std::move(data_buf), sh, dt));
  })
}

typedef void (*ox_deleter)(void* ctx);

int ox_array_from_borrowed(void* data, const int32_t* shape, int ndim, int dtype, ox_deleter del,
                           void* ctx, ox_array* out) {
  OX_TRY({
    auto dt = to_dtype(dtype);
    auto sh = to_shape(shape, ndim);
    // MLX uses the memory without a copy where the backend allows it (CPU, Metal with unified
    // memory) and calls the deleter once it no longer needs the bytes.
    put(out, mx::array(data, sh, dt, [del, ctx](void*) { del(ctx); }));
  })
}

int ox_array_scalar_f32(float v, int dtype, ox_array* out) { OX_TRY(put(out, mx::array(v, to_dtype(dtype)))) }
int ox_array_scalar_i32(int32_t v, ox_array* out) { OX_TRY(put(out, mx::array(v, mx::int32))) }

int ox_array_ndim(ox_array a) { return static_cast<int>(a->ndim()); }
int ox_array_dim(ox_array a, int i) { return static_cast<int>(a->shape(i)); }
int ox_array_dtype(ox_array a) { return from_dtype(a->dtype()); }
size_t ox_array_size(ox_array a) { return a->size(); }
size_t ox_array_nbytes(ox_array a) { return a->nbytes(); }

int ox_eval(const ox_array* arrs, int n) { OX_TRY(mx::eval(to_vec(arrs, n))) }
int ox_async_eval(const ox_array* arrs, int n) { OX_TRY(mx::async_eval(to_vec(arrs, n))) }

// Evaluates `a` and copies its `nbytes` into `dst`. A row-contiguous array is read in place: adding
// a `contiguous` node would queue a copy behind whatever work was already queued (the pipelined
// next decode step) and make the read wait for all of it.
int ox_array_to_host(ox_array a, void* dst, size_t nbytes) {
  OX_TRY({
    a->eval();
    std::optional<mx::array> copy;
    const mx::array* src = a;
    if (!a->flags().row_contiguous) {
      copy = mx::contiguous(*a);
      copy->eval();
      src = &*copy;
    }
    if (src->nbytes() != nbytes) throw std::invalid_argument("to_host: destination size does not match the array");
    if (nbytes > 0) std::memcpy(dst, src->data<void>(), nbytes);
  })
}

// ---- element-wise ----------------------------------------------------------------------------

#define OX_UNARY(name, expr) \
  int ox_##name(ox_array a, ox_array* out) { OX_TRY(put(out, expr)) }
OX_UNARY(exp, mx::exp(*a))
OX_UNARY(log, mx::log(*a))
OX_UNARY(negative, mx::negative(*a))
OX_UNARY(sqrt, mx::sqrt(*a))
OX_UNARY(rsqrt, mx::rsqrt(*a))
OX_UNARY(tanh, mx::tanh(*a))
OX_UNARY(sigmoid, mx::sigmoid(*a))
OX_UNARY(abs, mx::abs(*a))
OX_UNARY(square, mx::square(*a))
OX_UNARY(erf, mx::erf(*a))
OX_UNARY(sin, mx::sin(*a))
OX_UNARY(cos, mx::cos(*a))
OX_UNARY(logical_not, mx::logical_not(*a))
OX_UNARY(contiguous, mx::contiguous(*a))

#define OX_BINARY(name, fn) \
  int ox_##name(ox_array a, ox_array b, ox_array* out) { OX_TRY(put(out, fn(*a, *b))) }
OX_BINARY(add, mx::add)
OX_BINARY(subtract, mx::subtract)
OX_BINARY(multiply, mx::multiply)
OX_BINARY(divide, mx::divide)
OX_BINARY(maximum, mx::maximum)
OX_BINARY(minimum, mx::minimum)
OX_BINARY(power, mx::power)
OX_BINARY(matmul, mx::matmul)
OX_BINARY(equal, mx::equal)
OX_BINARY(not_equal, mx::not_equal)
OX_BINARY(greater, mx::greater)
OX_BINARY(greater_equal, mx::greater_equal)
OX_BINARY(less, mx::less)
OX_BINARY(less_equal, mx::less_equal)
OX_BINARY(logical_and, mx::logical_and)
OX_BINARY(logical_or, mx::logical_or)

int ox_where(ox_array c, ox_array x, ox_array y, ox_array* out) { OX_TRY(put(out, mx::where(*c, *x, *y))) }
int ox_astype(ox_array a, int dtype, ox_array* out) { OX_TRY(put(out, mx::astype(*a, to_dtype(dtype)))) }
int ox_clip(ox_array a, ox_array lo, ox_array hi, ox_array* out) {
  OX_TRY(put(out, mx::clip(*a, opt(lo), opt(hi))))
}

// ---- shape -----------------------------------------------------------------------------------

int ox_reshape(ox_array a, const int32_t* shape, int ndim, ox_array* out) {
  OX_TRY(put(out, mx::reshape(*a, to_shape(shape, ndim))))
}
int ox_transpose(ox_array a, const int32_t* axes, int n, ox_array* out) {
  OX_TRY(put(out, mx::transpose(*a, to_ints(axes, n))))
}
int ox_swapaxes(ox_array a, int a1, int a2, ox_array* out) { OX_TRY(put(out, mx::swapaxes(*a, a1, a2))) }
int ox_expand_dims(ox_array a, int axis, ox_array* out) { OX_TRY(put(out, mx::expand_dims(*a, axis))) }
int ox_squeeze(ox_array a, int axis, ox_array* out) { OX_TRY(put(out, mx::squeeze(*a, axis))) }
int ox_broadcast_to(ox_array a, const int32_t* shape, int ndim, ox_array* out) {
  OX_TRY(put(out, mx::broadcast_to(*a, to_shape(shape, ndim))))
}
int ox_concatenate(const ox_array* arrs, int n, int axis, ox_array* out) {
  OX_TRY(put(out, mx::concatenate(to_vec(arrs, n), axis)))
}
int ox_stack(const ox_array* arrs, int n, int axis, ox_array* out) {
  OX_TRY(put(out, mx::stack(to_vec(arrs, n), axis)))
}
int ox_split_equal(ox_array a, int parts, int axis, ox_array* outs) {
  OX_TRY({
    auto v = mx::split(*a, parts, axis);
    for (size_t i = 0; i < v.size(); i++) outs[i] = new mx::array(std::move(v[i]));
  })
}
int ox_slice(ox_array a, const int32_t* start, const int32_t* stop, const int32_t* strides, int n, ox_array* out) {
  OX_TRY(put(out, mx::slice(*a, to_shape(start, n), to_shape(stop, n), to_shape(strides, n))))
}
int ox_slice_update(ox_array src, ox_array upd, const int32_t* start, const int32_t* stop, const int32_t* strides,
                    int n, ox_array* out) {
  OX_TRY(put(out, mx::slice_update(*src, *upd, to_shape(start, n), to_shape(stop, n), to_shape(strides, n))))
}
int ox_take(ox_array a, ox_array idx, int axis, ox_array* out) { OX_TRY(put(out, mx::take(*a, *idx, axis))) }
int ox_take_along_axis(ox_array a, ox_array idx, int axis, ox_array* out) {
  OX_TRY(put(out, mx::take_along_axis(*a, *idx, axis)))
}
int ox_put_along_axis(ox_array a, ox_array idx, ox_array vals, int axis, ox_array* out) {
  OX_TRY(put(out, mx::put_along_axis(*a, *idx, *vals, axis)))
}

// ---- construction ----------------------------------------------------------------------------

int ox_zeros(const int32_t* shape, int ndim, int dtype, ox_array* out) {
  OX_TRY(put(out, mx::zeros(to_shape(shape, ndim), to_dtype(dtype))))
}
int ox_full(const int32_t* shape, int ndim, float v, int dtype, ox_array* out) {
  OX_TRY(put(out, mx::full(to_shape(shape, ndim), mx::array(v), to_dtype(dtype))))
}
int ox_arange(double start, double stop, double step, int dtype, ox_array* out) {
  OX_TRY(put(out, mx::arange(start, stop, step, to_dtype(dtype))))
}
int ox_tri(int n, int m, int k, int dtype, ox_array* out) { OX_TRY(put(out, mx::tri(n, m, k, to_dtype(dtype)))) }

// ---- reductions and sorting ------------------------------------------------------------------

#define OX_REDUCE(name, fn) \
  int ox_##name(ox_array a, int axis, bool keepdims, ox_array* out) { OX_TRY(put(out, fn(*a, axis, keepdims))) }
OX_REDUCE(sum, mx::sum)
OX_REDUCE(mean, mx::mean)
OX_REDUCE(max, mx::max)
OX_REDUCE(min, mx::min)
OX_REDUCE(logsumexp, mx::logsumexp)
OX_REDUCE(argmax, mx::argmax)
OX_REDUCE(argmin, mx::argmin)

int ox_softmax(ox_array a, int axis, bool precise, ox_array* out) {
  OX_TRY(put(out, mx::softmax(*a, std::vector<int>{axis}, precise)))
}
int ox_argpartition(ox_array a, int kth, int axis, ox_array* out) { OX_TRY(put(out, mx::argpartition(*a, kth, axis))) }
int ox_argsort(ox_array a, int axis, ox_array* out) { OX_TRY(put(out, mx::argsort(*a, axis))) }
int ox_sort(ox_array a, int axis, ox_array* out) { OX_TRY(put(out, mx::sort(*a, axis))) }
int ox_cumsum(ox_array a, int axis, bool reverse, bool inclusive, ox_array* out) {
  OX_TRY(put(out, mx::cumsum(*a, axis, reverse, inclusive)))
}

// ---- quantization ----------------------------------------------------------------------------

int ox_quantized_matmul(ox_array x, ox_array w, ox_array scales, ox_array biases, bool transpose, int group_size,
                        int bits, ox_array* out) {
  OX_TRY(put(out, mx::quantized_matmul(*x, *w, *scales, opt(biases), transpose, group_size, bits)))
}
int ox_dequantize(ox_array w, ox_array scales, ox_array biases, int group_size, int bits, int dtype, ox_array* out) {
  OX_TRY({
    std::optional<mx::Dtype> dt;
    if (dtype >= 0) dt = to_dtype(dtype);
    put(out, mx::dequantize(*w, *scales, opt(biases), group_size, bits, "affine", std::nullopt, dt));
  })
}
int ox_quantize(ox_array w, int group_size, int bits, ox_array* wq, ox_array* scales, ox_array* biases) {
  OX_TRY({
    auto v = mx::quantize(*w, group_size, bits);
    *wq = new mx::array(v.at(0));
    *scales = new mx::array(v.at(1));
    *biases = new mx::array(v.at(2));
  })
}

// ---- fast kernels ----------------------------------------------------------------------------

// A custom kernel's name with a hash of its source. MLX keeps compiled kernels on disk (under
// its PTX cache folder, /tmp/mlx/<version>/ptx by default) keyed by name and template arguments
// only, so a kernel whose source changed in a new ollmlx would otherwise run its old PTX.
static std::string kernel_name(const char* base, const char* source) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a: stable across processes and builds
  for (const char* c = source; *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(base) + "_" + hex;
}

// The few-row 4-bit matmul of kernels/qmv_rows.cu (CUDA only; the caller checks). `x` is
// [..., K] with 2 to 16 rows in its leading axes and K a multiple of 64; the result keeps those
// axes. MLX compiles the kernel (NVRTC) on first use for each dtype and group size.
int ox_qmv_rows(ox_array x, ox_array w, ox_array scales, ox_array biases, int group_size, const char* source,
                ox_array* out) {
  OX_TRY({
    static const mx::fast::CustomKernelFunction kernel =
        mx::fast::cuda_kernel(kernel_name("ollmlx_qmv_rows", source), {"x", "w", "scales", "biases"}, {"y"}, source);
    if (x->ndim() < 2) throw std::invalid_argument("qmv_rows takes [..., K] with rows in the leading axes");
    const int k = x->shape().back();
    const int m = k > 0 ? static_cast<int>(x->size() / k) : 0;
    const int n = w->shape(0);
    if (m < 2 || m > 16) throw std::invalid_argument("qmv_rows takes 2 to 16 rows");
    auto shape = x->shape();
    shape.back() = n;
    // A block of 8 warps per 16 output columns (the kernel's WARPS).
    const int threads = 32 * 8;
    auto outs = kernel({*x, *w, *scales, *biases}, {shape}, {x->dtype()}, {threads, (n + 15) / 16, 1}, {threads, 1, 1},
                       {{"T", x->dtype()}, {"BF16", x->dtype() == mx::bfloat16}, {"G", group_size}}, std::nullopt, false,
                       {});
    put(out, std::move(outs.at(0)));
  })
}
// `scale` as a one-element array, made once per value: every layer of every decode step passes
// the model's softmax scale, and a fresh array each time would be an allocation and an upload.
static mx::array scale_array(float scale) {
  static std::mutex lock;
  // Never freed: MLX's allocator may be gone by the time statics are destroyed at exit.
  static auto* made = new std::unordered_map<uint32_t, mx::array>();
  uint32_t bits;
  std::memcpy(&bits, &scale, sizeof bits);
  std::lock_guard<std::mutex> guard(lock);
  auto it = made->find(bits);
  if (it == made->end()) it = made->emplace(bits, mx::array({scale})).first;
  return it->second;
}

// One new query per row of the shared decode batch over its own row of the key/value buffers
// (kernels/attend_rows.cu; CUDA only, the caller checks). q [R, H, 1, D], k and v
// [R, KVH, CAP, D], offsets int32 [R] (row r attends over positions 0..=offsets[r]); returns
// [1, R, H * D].
int ox_attend_rows(ox_array q, ox_array k, ox_array v, ox_array offsets, float scale, const char* source,
                   ox_array* out) {
  OX_TRY({
    static const mx::fast::CustomKernelFunction kernel = mx::fast::cuda_kernel(
        kernel_name("ollmlx_attend_rows", source), {"q", "k", "v", "offsets", "scale"}, {"o"}, source);
    if (q->ndim() != 4 || k->ndim() != 4 || v->shape() != k->shape() || q->shape(2) != 1 ||
        q->shape(0) != k->shape(0) || q->shape(3) != k->shape(3) || q->shape(1) % k->shape(1) != 0 ||
        offsets->size() != static_cast<size_t>(q->shape(0)))
      throw std::invalid_argument("attend_rows takes q [R, H, 1, D], k and v [R, KVH, CAP, D] and R offsets");
    const int rows = q->shape(0), heads = q->shape(1), dim = q->shape(3);
    // THREADS in the kernel.
    const int threads = 256;
    auto outs = kernel({*q, *k, *v, mx::astype(*offsets, mx::int32), scale_array(scale)}, {{1, rows, heads * dim}},
                       {q->dtype()}, {threads * heads, rows, 1}, {threads, 1, 1},
                       {{"T", q->dtype()}, {"D", dim}}, std::nullopt, false, {});
    put(out, std::move(outs.at(0)));
  })
}
// The few-row f32 matmul of rows_matmul.cpp (CPU only; the caller checks).
int ox_rows_matmul(ox_array x, ox_array w, ox_array* out) { OX_TRY(put(out, ollmlx::rows_matmul(*x, *w))) }
int ox_rows_matmul_supported(void) { return ollmlx::rows_matmul_supported() ? 1 : 0; }
int ox_rows_matmul_max(void) { return ollmlx::ROWS_MATMUL_MAX; }

int ox_cuda_available(void) {
  try {
    return mx::cu::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int ox_rms_norm(ox_array x, ox_array w, float eps, ox_array* out) {
  OX_TRY(put(out, mx::fast::rms_norm(*x, opt(w), eps)))
}
int ox_layer_norm(ox_array x, ox_array w, ox_array b, float eps, ox_array* out) {
  OX_TRY(put(out, mx::fast::layer_norm(*x, opt(w), opt(b), eps)))
}
// `base` <= 0 means "use `freqs`" (custom frequencies, e.g. llama3 rope scaling).
int ox_rope(ox_array x, int dims, bool traditional, float base, float scale, int offset, ox_array freqs,
            ox_array* out) {
  OX_TRY({
    std::optional<float> b;
    if (base > 0) b = base;
    put(out, mx::fast::rope(*x, dims, traditional, b, scale, offset, opt(freqs)));
  })
}
// Per-row positions: `offsets` is an int32 vector with one start position per batch row.
int ox_rope_rows(ox_array x, int dims, bool traditional, float base, float scale, ox_array offsets, ox_array freqs,
                 ox_array* out) {
  OX_TRY({
    std::optional<float> b;
    if (base > 0) b = base;
    put(out, mx::fast::rope(*x, dims, traditional, b, scale, *offsets, opt(freqs)));
  })
}
// mask_mode: "" (none or `mask` given), "causal".
int ox_sdpa(ox_array q, ox_array k, ox_array v, float scale, const char* mask_mode, ox_array mask, ox_array* out) {
  OX_TRY(put(out, mx::fast::scaled_dot_product_attention(*q, *k, *v, scale, mask_mode, opt(mask))))
}

// ---- random ----------------------------------------------------------------------------------

int ox_random_key(uint64_t seed, ox_array* out) { OX_TRY(put(out, mx::random::key(seed))) }
int ox_random_split(ox_array key, ox_array* a, ox_array* b) {
  OX_TRY({
    auto p = mx::random::split(*key);
    *a = new mx::array(p.first);
    *b = new mx::array(p.second);
  })
}
int ox_random_categorical(ox_array logits, int axis, ox_array key, ox_array* out) {
  OX_TRY(put(out, mx::random::categorical(*logits, axis, opt(key))))
}
int ox_random_uniform(const int32_t* shape, int ndim, ox_array key, ox_array* out) {
  OX_TRY(put(out, mx::random::uniform(to_shape(shape, ndim), mx::float32, opt(key))))
}
int ox_random_normal(const int32_t* shape, int ndim, int dtype, ox_array key, ox_array* out) {
  OX_TRY(put(out, mx::random::normal(to_shape(shape, ndim), to_dtype(dtype), opt(key))))
}

// ---- devices, streams, memory ------------------------------------------------------------------

// kind: 0 = cpu, 1 = gpu
int ox_device_available(int kind) {
  try {
    return mx::is_available(mx::Device(kind == 0 ? mx::Device::cpu : mx::Device::gpu)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}
int ox_set_default_device(int kind) {
  OX_TRY(mx::set_default_device(mx::Device(kind == 0 ? mx::Device::cpu : mx::Device::gpu)))
}
int ox_default_device(void) { return mx::default_device().type == mx::Device::cpu ? 0 : 1; }
int ox_synchronize(void) { OX_TRY(mx::synchronize()) }

// Streams are named by (device kind, index), which is all an mx::Stream is.
int ox_new_stream(int kind, int* index) {
  OX_TRY(*index = mx::new_stream(mx::Device(kind == 0 ? mx::Device::cpu : mx::Device::gpu)).index)
}
int ox_set_default_stream(int kind, int index) {
  OX_TRY(mx::set_default_stream(mx::Stream(index, mx::Device(kind == 0 ? mx::Device::cpu : mx::Device::gpu))))
}

// Writes the device name (truncated to `len`) and total memory in bytes (0 when unknown).
int ox_device_info(char* name, size_t len, uint64_t* total_memory) {
  OX_TRY({
    *total_memory = 0;
    std::string n = mx::default_device().type == mx::Device::cpu ? "cpu" : "gpu";
    auto info = mx::device_info();
    for (auto& [k, v] : info) {
      if (k == "device_name" || k == "architecture") {
        if (auto s = std::get_if<std::string>(&v)) n = *s;
      }
      if (k == "total_memory" || k == "memory_size") {
        if (auto s = std::get_if<size_t>(&v)) *total_memory = *s;
      }
    }
    if (len > 0) {
      std::strncpy(name, n.c_str(), len - 1);
      name[len - 1] = 0;
    }
  })
}

size_t ox_get_active_memory(void) { return mx::get_active_memory(); }
size_t ox_get_peak_memory(void) { return mx::get_peak_memory(); }
void ox_reset_peak_memory(void) { mx::reset_peak_memory(); }
size_t ox_get_cache_memory(void) { return mx::get_cache_memory(); }
size_t ox_set_memory_limit(size_t limit) { return mx::set_memory_limit(limit); }
size_t ox_get_memory_limit(void) { return mx::get_memory_limit(); }
size_t ox_set_cache_limit(size_t limit) { return mx::set_cache_limit(limit); }
void ox_clear_cache(void) { mx::clear_cache(); }

}  // extern "C"
