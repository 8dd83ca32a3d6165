#include "infer/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "infer/kernels-impl.h"

namespace srnn {
namespace detail {

bool cpu_has(KernelLevel level) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (level == KernelLevel::kAvx512) return __builtin_cpu_supports("avx512f");
  if (level == KernelLevel::kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return level == KernelLevel::kScalar;
}

bool cpu_has_vnni() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace detail

namespace {

using detail::cpu_has;
#if defined(__x86_64__)
using detail::load16;
#endif

KernelLevel detect() {
  if (const char* env = std::getenv("SRNN_KERNELS")) {
    if (std::strcmp(env, "scalar") == 0) return KernelLevel::kScalar;
    if (std::strcmp(env, "avx2") == 0 && cpu_has(KernelLevel::kAvx2)) return KernelLevel::kAvx2;
    if (std::strcmp(env, "avx512") == 0 && cpu_has(KernelLevel::kAvx512)) return KernelLevel::kAvx512;
  }
  if (cpu_has(KernelLevel::kAvx512)) return KernelLevel::kAvx512;
  if (cpu_has(KernelLevel::kAvx2)) return KernelLevel::kAvx2;
  return KernelLevel::kScalar;
}

#if defined(__x86_64__)
// Rows of x are processed four at a time against a stripe of kCols columns of b, so each
// element of b is loaded once per four rows and the stripe stays in cache across the row
// groups. Columns left over at the end go through the scalar code.
template <int kRows>
__attribute__((target("avx512f"))) void stripe_avx512(std::size_t n0, std::size_t K, const float* x,
                                                      std::size_t ldx, const float* b, std::size_t ldb,
                                                      const float* bias, float* y, std::size_t ldy, bool accumulate) {
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) {
      __m512 init = bias ? _mm512_loadu_ps(bias + n0 + 16 * c) : _mm512_setzero_ps();
      if (accumulate) init = _mm512_add_ps(init, _mm512_loadu_ps(y + r * ldy + n0 + 16 * c));
      acc[r][c] = init;
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb + n0;
    const __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16), b2 = _mm512_loadu_ps(bk + 32),
                 b3 = _mm512_loadu_ps(bk + 48);
    for (int r = 0; r < kRows; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);
      acc[r][0] = _mm512_fmadd_ps(xv, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(xv, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(xv, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(xv, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(y + r * ldy + n0 + 16 * c, acc[r][c]);
  }
}

template <int kRows>
__attribute__((target("avx2,fma"))) void stripe_avx2(std::size_t n0, std::size_t K, const float* x, std::size_t ldx,
                                                     const float* b, std::size_t ldb, const float* bias, float* y,
                                                     std::size_t ldy, bool accumulate) {
  __m256 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) {
      __m256 init = bias ? _mm256_loadu_ps(bias + n0 + 8 * c) : _mm256_setzero_ps();
      if (accumulate) init = _mm256_add_ps(init, _mm256_loadu_ps(y + r * ldy + n0 + 8 * c));
      acc[r][c] = init;
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb + n0;
    const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8), b2 = _mm256_loadu_ps(bk + 16),
                 b3 = _mm256_loadu_ps(bk + 24);
    for (int r = 0; r < kRows; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * ldx + k);
      acc[r][0] = _mm256_fmadd_ps(xv, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xv, b1, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(xv, b2, acc[r][2]);
      acc[r][3] = _mm256_fmadd_ps(xv, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(y + r * ldy + n0 + 8 * c, acc[r][c]);
  }
}

using StripeFn = void (*)(std::size_t, std::size_t, const float*, std::size_t, const float*, std::size_t, const float*,
                          float*, std::size_t, bool);

void gemm_simd(StripeFn const* fns, std::size_t cols, std::size_t M, std::size_t N, std::size_t K, const float* x,
               std::size_t ldx, const float* b, std::size_t ldb, const float* bias, float* y, std::size_t ldy,
               bool accumulate) {
  const std::size_t n_full = N / cols * cols;
  for (std::size_t n0 = 0; n0 < n_full; n0 += cols) {
    std::size_t m = 0;
    for (; m + 4 <= M; m += 4) fns[3](n0, K, x + m * ldx, ldx, b, ldb, bias, y + m * ldy, ldy, accumulate);
    if (m < M) fns[M - m - 1](n0, K, x + m * ldx, ldx, b, ldb, bias, y + m * ldy, ldy, accumulate);
  }
  if (n_full < N) {
    gemm_small_scalar(M, N - n_full, K, x, ldx, b + n_full, ldb, bias ? bias + n_full : nullptr, y + n_full, ldy,
                      accumulate);
  }
}

constexpr StripeFn kAvx512[4] = {stripe_avx512<1>, stripe_avx512<2>, stripe_avx512<3>, stripe_avx512<4>};

// One packed stripe (K rows of 64 weights, float or bf16) against kRows rows of x;
// n_valid <= 64 columns are loaded and stored, through masks.
template <int kRows, typename W>
__attribute__((target("avx512f"))) void packed_avx512(const W* bs, std::size_t K, const float* x, std::size_t ldx,
                                                      const float* bias, float* y, std::size_t ldy, bool accumulate,
                                                      std::size_t n_valid) {
  __mmask16 mask[4];
  for (int c = 0; c < 4; ++c) {
    const long left = static_cast<long>(n_valid) - 16 * c;
    mask[c] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  }
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) {
      __m512 init = bias ? _mm512_maskz_loadu_ps(mask[c], bias + 16 * c) : _mm512_setzero_ps();
      if (accumulate) init = _mm512_add_ps(init, _mm512_maskz_loadu_ps(mask[c], y + r * ldy + 16 * c));
      acc[r][c] = init;
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    const W* bk = bs + k * 64;
    const __m512 b0 = load16(bk), b1 = load16(bk + 16), b2 = load16(bk + 32), b3 = load16(bk + 48);
    for (int r = 0; r < kRows; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);
      acc[r][0] = _mm512_fmadd_ps(xv, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(xv, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(xv, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(xv, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(y + r * ldy + 16 * c, mask[c], acc[r][c]);
  }
}

// All rows of x against one stripe, four rows at a time.
template <typename W>
void packed_rows_avx512(std::size_t M, const W* bs, std::size_t K, const float* x, std::size_t ldx, const float* bias,
                        float* y, std::size_t ldy, bool accumulate, std::size_t n_valid) {
  static constexpr void (*kFns[4])(const W*, std::size_t, const float*, std::size_t, const float*, float*, std::size_t,
                                   bool, std::size_t) = {packed_avx512<1, W>, packed_avx512<2, W>, packed_avx512<3, W>,
                                                         packed_avx512<4, W>};
  std::size_t m = 0;
  for (; m + 4 <= M; m += 4) kFns[3](bs, K, x + m * ldx, ldx, bias, y + m * ldy, ldy, accumulate, n_valid);
  if (m < M) kFns[M - m - 1](bs, K, x + m * ldx, ldx, bias, y + m * ldy, ldy, accumulate, n_valid);
}
constexpr StripeFn kAvx2[4] = {stripe_avx2<1>, stripe_avx2<2>, stripe_avx2<3>, stripe_avx2<4>};

// 8 weights as floats: loaded as they are (32-byte aligned), or widened from bfloat16.
__attribute__((target("avx2"))) inline __m256 load8(const float* p) { return _mm256_load_ps(p); }
__attribute__((target("avx2"))) inline __m256 load8(const std::uint16_t* p) {
  const __m128i h = _mm_load_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Lanes [0, n) of 8 floats on, for masked loads and stores.
__attribute__((target("avx2"))) inline __m256i lanes_below(long n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Columns [c0, c0 + 8 * kVecs) of one packed stripe (K rows of 64 weights, float or bf16)
// against kRows rows of x. AVX2 has 16 registers: one row takes the whole stripe in one pass
// (8 sums), so that the weights stream in order; two or three rows take half a stripe (4
// sums each, the 4 weight vectors shared). Padding columns past n_valid are computed (the
// stripe holds zeros there) but neither loaded from bias and y nor stored.
template <int kRows, int kVecs, typename W>
__attribute__((target("avx2,fma"))) void packed_avx2(const W* bs, std::size_t c0, std::size_t K, const float* x,
                                                     std::size_t ldx, const float* bias, float* y, std::size_t ldy,
                                                     bool accumulate, std::size_t n_valid) {
  __m256i mask[kVecs];
  for (int c = 0; c < kVecs; ++c) mask[c] = lanes_below(static_cast<long>(n_valid) - static_cast<long>(c0) - 8 * c);
  __m256 acc[kRows][kVecs];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kVecs; ++c) {
      __m256 init = bias ? _mm256_maskload_ps(bias + c0 + 8 * c, mask[c]) : _mm256_setzero_ps();
      if (accumulate) init = _mm256_add_ps(init, _mm256_maskload_ps(y + r * ldy + c0 + 8 * c, mask[c]));
      acc[r][c] = init;
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    const W* bk = bs + k * 64 + c0;
    __m256 xv[kRows];
    for (int r = 0; r < kRows; ++r) xv[r] = _mm256_broadcast_ss(x + r * ldx + k);
    for (int c = 0; c < kVecs; ++c) {
      const __m256 w = load8(bk + 8 * c);
      for (int r = 0; r < kRows; ++r) acc[r][c] = _mm256_fmadd_ps(xv[r], w, acc[r][c]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kVecs; ++c) _mm256_maskstore_ps(y + r * ldy + c0 + 8 * c, mask[c], acc[r][c]);
  }
}

// All rows of x against one stripe: three rows at a time by halves, a last row whole.
template <typename W>
void packed_rows_avx2(std::size_t M, const W* bs, std::size_t K, const float* x, std::size_t ldx, const float* bias,
                      float* y, std::size_t ldy, bool accumulate, std::size_t n_valid) {
  std::size_t m = 0;
  for (; m + 3 <= M; m += 3) {
    for (std::size_t c0 : {0, 32}) {
      packed_avx2<3, 4>(bs, c0, K, x + m * ldx, ldx, bias, y + m * ldy, ldy, accumulate, n_valid);
    }
  }
  if (M - m == 2) {
    for (std::size_t c0 : {0, 32}) {
      packed_avx2<2, 4>(bs, c0, K, x + m * ldx, ldx, bias, y + m * ldy, ldy, accumulate, n_valid);
    }
  } else if (M - m == 1) {
    packed_avx2<1, 8>(bs, 0, K, x + m * ldx, ldx, bias, y + m * ldy, ldy, accumulate, n_valid);
  }
}
#endif

}  // namespace

bool kernel_level_available(KernelLevel level) { return cpu_has(level); }

KernelLevel kernel_level() {
  static const KernelLevel level = detect();
  return level;
}

const char* kernel_level_name(KernelLevel level) {
  switch (level) {
    case KernelLevel::kScalar: return "scalar";
    case KernelLevel::kAvx2: return "avx2";
    case KernelLevel::kAvx512: return "avx512";
  }
  return "scalar";
}

void gemm_small_scalar(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                       std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate) {
  for (std::size_t m = 0; m < M; ++m) {
    float* ym = y + m * ldy;
    for (std::size_t n = 0; n < N; ++n) ym[n] = (accumulate ? ym[n] : 0.0f) + (bias ? bias[n] : 0.0f);
    for (std::size_t k = 0; k < K; ++k) {
      const float xv = x[m * ldx + k];
      const float* bk = b + k * ldb;
      for (std::size_t n = 0; n < N; ++n) ym[n] += xv * bk[n];
    }
  }
}

void gemm_small_at(KernelLevel level, std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx,
                   const float* b, std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate) {
#if defined(__x86_64__)
  if (level == KernelLevel::kAvx512 && cpu_has(level)) {
    return gemm_simd(kAvx512, 64, M, N, K, x, ldx, b, ldb, bias, y, ldy, accumulate);
  }
  if (level == KernelLevel::kAvx2 && cpu_has(level)) {
    return gemm_simd(kAvx2, 32, M, N, K, x, ldx, b, ldb, bias, y, ldy, accumulate);
  }
#endif
  gemm_small_scalar(M, N, K, x, ldx, b, ldb, bias, y, ldy, accumulate);
}

void gemm_small(std::size_t M, std::size_t N, std::size_t K, const float* x, std::size_t ldx, const float* b,
                std::size_t ldb, const float* bias, float* y, std::size_t ldy, bool accumulate) {
  gemm_small_at(kernel_level(), M, N, K, x, ldx, b, ldb, bias, y, ldy, accumulate);
}

bool int8_vnni_available() { return detail::cpu_has_vnni(); }

std::size_t PackedMatrix::bytes() const {
  return data.size() * sizeof(float) + data16.size() * sizeof(std::uint16_t) + data8.size() +
         scale.size() * sizeof(float) + col_offset.size() * sizeof(std::int32_t) +
         tile_k.size() * sizeof(std::uint32_t);
}

double zero_tile_fraction(const float* b, std::size_t K, std::size_t N) {
  const std::size_t rows = (K + PackedMatrix::kTileRows - 1) / PackedMatrix::kTileRows;
  const std::size_t cols = (N + PackedMatrix::kTileCols - 1) / PackedMatrix::kTileCols;
  if (rows * cols == 0) return 0.0;
  std::size_t zero = 0;
  for (std::size_t g = 0; g < cols; ++g) {
    for (std::size_t t = 0; t < rows; ++t) zero += detail::tile_is_zero(b, K, N, t, g);
  }
  return static_cast<double>(zero) / static_cast<double>(rows * cols);
}

PackedMatrix pack_matrix(const float* b, std::size_t K, std::size_t N, WeightFormat format, Layout layout) {
  PackedMatrix p;
  p.K = K;
  p.N = N;
  p.format = format;
  const std::size_t S = PackedMatrix::kStripe;
  if (K % PackedMatrix::kTileRows == 0 && K > 0 &&
      (layout == Layout::kSparse || (layout == Layout::kAuto && zero_tile_fraction(b, K, N) >= kSparseFrom))) {
    detail::pack_sparse(b, p);
    return p;
  }
  if (format == WeightFormat::kInt8) {
    detail::pack_int8(b, p);
    return p;
  }
  p.data.assign(p.n_stripes() * K * S, 0.0f);
  for (std::size_t s = 0; s < p.n_stripes(); ++s) {
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t c = 0; c < S && s * S + c < N; ++c) p.data[(s * K + k) * S + c] = b[k * N + s * S + c];
    }
  }
  if (format == WeightFormat::kBf16) {
    p.data16.resize(p.data.size());
    for (std::size_t i = 0; i < p.data.size(); ++i) p.data16[i] = f32_to_bf16(p.data[i]);
    p.data.clear();
    p.data.shrink_to_fit();
  }
  return p;
}

void gemm_packed_at(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
                    const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
                    std::size_t stripe_end) {
  const std::size_t S = PackedMatrix::kStripe, K = b.K;
  stripe_end = std::min(stripe_end, b.n_stripes());
  if (b.sparse) return detail::gemm_sparse(level, M, b, x, ldx, bias, y, ldy, accumulate, stripe_begin, stripe_end);
  if (b.format == WeightFormat::kInt8) {
    return detail::gemm_int8(level, M, b, x, ldx, bias, y, ldy, accumulate, stripe_begin, stripe_end);
  }
  thread_local std::vector<float> widened;  // the portable path for bf16 stripes; grows once
  for (std::size_t s = stripe_begin; s < stripe_end; ++s) {
    const std::size_t n0 = s * S, n_valid = std::min(S, b.N - n0);
    const float* bias_s = bias ? bias + n0 : nullptr;
    if (b.format == WeightFormat::kBf16) {
      const std::uint16_t* bs16 = b.data16.data() + s * K * S;
#if defined(__x86_64__)
      if (level == KernelLevel::kAvx512 && cpu_has(level)) {
        packed_rows_avx512(M, bs16, K, x, ldx, bias_s, y + n0, ldy, accumulate, n_valid);
        continue;
      }
      if (level == KernelLevel::kAvx2 && cpu_has(level)) {
        packed_rows_avx2(M, bs16, K, x, ldx, bias_s, y + n0, ldy, accumulate, n_valid);
        continue;
      }
#endif
      widened.resize(K * S);
      for (std::size_t i = 0; i < K * S; ++i) widened[i] = bf16_to_f32(bs16[i]);
      gemm_small_scalar(M, n_valid, K, x, ldx, widened.data(), S, bias_s, y + n0, ldy, accumulate);
      continue;
    }
    const float* bs = b.data.data() + s * K * S;
#if defined(__x86_64__)
    if (level == KernelLevel::kAvx512 && cpu_has(level)) {  // stripes are 64-byte aligned
      packed_rows_avx512(M, bs, K, x, ldx, bias_s, y + n0, ldy, accumulate, n_valid);
      continue;
    }
    if (level == KernelLevel::kAvx2 && cpu_has(level)) {
      packed_rows_avx2(M, bs, K, x, ldx, bias_s, y + n0, ldy, accumulate, n_valid);
      continue;
    }
#endif
    // Portable path: the packed stripe is an ordinary (K, 64) row-major block.
    gemm_small_scalar(M, n_valid, K, x, ldx, bs, S, bias_s, y + n0, ldy, accumulate);
  }
}

void gemm_packed(std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx, const float* bias, float* y,
                 std::size_t ldy, bool accumulate, std::size_t stripe_begin, std::size_t stripe_end) {
  gemm_packed_at(kernel_level(), M, b, x, ldx, bias, y, ldy, accumulate, stripe_begin, stripe_end);
}

}  // namespace srnn
