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
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "core/model-spec.h"

namespace srnn {

enum class KernelLevel { kScalar, kAvx2, kAvx512 };

// The level gemm_small dispatches to (fixed at first use).
KernelLevel kernel_level();
const char* kernel_level_name(KernelLevel level);
// True when this CPU can run `level` (kScalar always).
bool kernel_level_available(KernelLevel level);

// y[m, n] = bias[n] + sum_k x[m, k] * b[k, n] for m < M, n < N. ldx, ldb, ldy are row
// strides in elements. bias may be null. y must not alias x or b.
// With accumulate, y += x . B instead (bias is then added too if given).
void gemm_small(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate = false);

// The same at an explicit level (for tests and benchmarks); falls back to scalar when the
// CPU lacks the level (tests check kernel_level_available first and report a skip).
void gemm_small_at(KernelLevel level, std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx,
                   const float* b, std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate);

// Plain loops, the reference for the SIMD versions.
void gemm_small_scalar(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                       std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate);

// Allocator giving 64-byte (cache-line) aligned storage.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT
  T* allocate(std::size_t n) {
    void* p = ::operator new(n * sizeof(T), std::align_val_t(64));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};

// How a packed matrix stores its weights: WeightFormat (core/model-spec.h). With kInt8 the
// scale is per output column (a row of the PyTorch weight), and each product quantises the
// rows of x to int8 on the fly with one scale per row (max |x| / 127), accumulates in int32,
// exactly, and scales back to float.

// A weight matrix (K, N) packed for gemm_packed: ceil(N / 64) stripes of 64 columns, each
// stored as K contiguous rows of 64 weights (zero-padded past N). The kernel then reads the
// weights strictly in sequence, which is what the prefetchers stream fastest; generation is
// bound by that bandwidth when it runs few sequences.
// int8 stripes hold groups of four rows instead, column by column (64 x 4 bytes per group,
// K padded to a multiple of 4): the order VNNI's dot product of four bytes reads.
struct PackedMatrix {
  static constexpr std::size_t kStripe = 64;
  std::size_t K = 0, N = 0;
  WeightFormat format = WeightFormat::kF32;
  std::vector<float, AlignedAllocator<float>> data;                   // (n_stripes, K, 64)
  std::vector<std::uint16_t, AlignedAllocator<std::uint16_t>> data16;  // the same, bf16
  std::vector<std::int8_t, AlignedAllocator<std::int8_t>> data8;      // int8: (n_stripes, K / 4, 64, 4)
  std::vector<float, AlignedAllocator<float>> scale;                  // int8: per column, (n_stripes * 64)
  std::vector<std::int32_t, AlignedAllocator<std::int32_t>> col_offset;  // int8: 128 * sum over k, per column
  // Block-sparse: each group of 16 columns keeps only its tiles of 4 rows that hold a nonzero
  // weight. tile_k[tile_start[g] .. tile_start[g + 1]) are group g's tiles (first row / 4),
  // and data, data16 or data8 hold the tiles in the same order, 64 weights each: 4 rows of
  // 16 (fp32, bf16) or 16 columns of 4 (int8, as VNNI reads them).
  static constexpr std::size_t kTileCols = 16, kTileRows = 4;
  bool sparse = false;
  std::vector<std::uint32_t> tile_start, tile_k;
  std::size_t n_tiles() const { return tile_k.size(); }
  std::size_t n_stripes() const { return (N + kStripe - 1) / kStripe; }
  std::size_t k_groups() const { return (K + 3) / 4; }
  // Bytes a product streams from memory.
  std::size_t bytes() const;
};

// Dense or block-sparse storage. kAuto packs sparse when at least kSparseFrom of the 16 x 4
// tiles are all zeros (a matrix pruned in training) and K is a multiple of 4.
enum class Layout { kAuto, kDense, kSparse };
constexpr double kSparseFrom = 1.0 / 3;

// b: (K, N) row-major. kSparse with K not a multiple of 4 packs dense.
PackedMatrix pack_matrix(const float* b, std::size_t K, std::size_t N, WeightFormat format = WeightFormat::kF32,
                         Layout layout = Layout::kAuto);
// The fraction of b's 16-column x 4-row tiles that are all zeros (0 for an empty b).
double zero_tile_fraction(const float* b, std::size_t K, std::size_t N);

// y (M, N) = x (M, K) . B (+ bias) (+ y when accumulate), computing only the columns of
// stripes [stripe_begin, stripe_end) (all by default), so threads can share one product.
// int8 at the avx512 level runs AVX-512 VNNI, or the AVX2 kernel on a CPU without VNNI.
void gemm_packed(std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx, const float* bias, float* y,
                 std::size_t ldy, bool accumulate = false, std::size_t stripe_begin = 0,
                 std::size_t stripe_end = static_cast<std::size_t>(-1));
void gemm_packed_at(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
                    const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
                    std::size_t stripe_end);

// The int8 product's first part, for tests: each row m of x (M, K) to int8 (xq, row stride
// ldq >= K rounded up to 4, zero padded): xq = round(x / sx[m]) with sx[m] = max |x[m, :]| /
// 127 (0 for a row of zeros or non-finite values, which then quantises to zeros). At the
// avx512 level (with AVX-512 BW) 16 at a time; scalar is the reference.
void quantize_rows_at(KernelLevel level, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                      std::int8_t* xq, std::size_t ldq, float* sx);
// True when this CPU has AVX-512 VNNI (the int8 kernel at the avx512 level).
bool int8_vnni_available();

}  // namespace srnn
