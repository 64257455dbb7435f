// A CPU matmul for the few rows of a batched decode step (rows_matmul.cpp).
#pragma once

#include "mlx/mlx.h"

namespace ollmlx {

// Whether this CPU runs the kernel (x86-64 with AVX2 and FMA).
bool rows_matmul_supported();

// `x @ w.T` on the CPU stream for f32 `x` [..., K] holding 2 to ROWS_MATMUL_MAX rows and f32
// `w` [N, K], K a multiple of 8; the result keeps x's leading axes.
mlx::core::array rows_matmul(const mlx::core::array& x, const mlx::core::array& w);

constexpr int ROWS_MATMUL_MAX = 12;

}  // namespace ollmlx
