// Dense kernels for small batches: y = x . B (+ bias), where x has few rows (the batch of
// sequences) and B is a large weight matrix that is streamed from memory once per call.
// Used per time step by the GRU in training and by the generation engine.
//
// Each kernel has a scalar reference (gemm_small_scalar) that the tests compare the SIMD
// versions against. The SIMD level is picked at run time from the CPU (AVX-512F, AVX2+FMA,
// or portable C++); SRNN_KERNELS=scalar|avx2|avx512 overrides it for testing.
//
//   // y (M, N) = x (M, K) . B (K, N), all row-major, optional bias (N)
//   srnn::gemm_small(M, N, K, x, K, B, N, bias, y, N);
#pragma once

#include <cstddef>

namespace srnn {

enum class KernelLevel { kScalar, kAvx2, kAvx512 };

// The level gemm_small dispatches to (fixed at first use).
KernelLevel kernel_level();
const char* kernel_level_name(KernelLevel level);

// y[m, n] = bias[n] + sum_k x[m, k] * b[k, n] for m < M, n < N. ldx, ldb, ldy are row
// strides in elements. bias may be null. y must not alias x or b.
// With accumulate, y += x . B instead (bias is then added too if given).
void gemm_small(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate = false);

// The same at an explicit level (for tests and benchmarks); falls back to scalar when the
// CPU lacks the level.
void gemm_small_at(KernelLevel level, std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx,
                   const float* b, std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate);

// Plain loops, the reference for the SIMD versions.
void gemm_small_scalar(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                       std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate);

}  // namespace srnn
