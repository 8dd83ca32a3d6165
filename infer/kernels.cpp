#include "infer/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

#include "core/safetensors.h"

namespace srnn {
namespace {

bool cpu_has(KernelLevel level) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (level == KernelLevel::kAvx512) return __builtin_cpu_supports("avx512f");
  if (level == KernelLevel::kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return level == KernelLevel::kScalar;
}

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

// 16 weights as floats: loaded as they are, or widened from bfloat16 by shifting the bits
// into the high half.
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_load_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const std::uint16_t* p) {
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

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
#endif

// int8 products. Every level computes the same int32 sums, exactly, and hands them to one
// scalar epilogue (int8_store), so the levels agree bit for bit.
//
// The int32 sums of one row against one stripe: acc[c] = sum_k xq[k] * w[k, c], c < 64.
void int8_sums_scalar(const std::int8_t* ws, std::size_t KG, const std::int8_t* xq, std::int32_t* acc) {
  for (std::size_t c = 0; c < 64; ++c) acc[c] = 0;
  for (std::size_t g = 0; g < KG; ++g) {
    const std::int8_t* wg = ws + g * 256;
    const std::int8_t* xg = xq + 4 * g;
    for (std::size_t c = 0; c < 64; ++c) {
      std::int32_t sum = 0;
      for (int i = 0; i < 4; ++i) sum += static_cast<std::int32_t>(xg[i]) * wg[4 * c + i];
      acc[c] += sum;
    }
  }
}

// y[c] = acc[c] * (sx * scale[c]) (+ bias[c]) (+ y[c]) for the c < n_valid columns.
void int8_store(const std::int32_t* acc, float sx, const float* scale, const float* bias, float* y, bool accumulate,
                std::size_t n_valid) {
  for (std::size_t c = 0; c < n_valid; ++c) {
    float v = static_cast<float>(acc[c]) * (sx * scale[c]);
    if (bias != nullptr) v += bias[c];
    if (accumulate) v += y[c];
    y[c] = v;
  }
}

#if defined(__x86_64__)
// AVX2 has no unsigned-by-signed dot product of four bytes, only of two (maddubs, which
// saturates at int16). With |x| and w carrying the sign of x, each pair sums to at most
// 2 * 127 * 127 < 32767, so nothing saturates; madd with ones then widens pairs to int32.
__attribute__((target("avx2,fma"))) void int8_sums_avx2(const std::int8_t* ws, std::size_t KG,
                                                        const std::int8_t* xq, std::int32_t* acc) {
  __m256i sum[8];
  for (auto& v : sum) v = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (std::size_t g = 0; g < KG; ++g) {
    std::int32_t four;
    std::memcpy(&four, xq + 4 * g, 4);
    const __m256i xv = _mm256_set1_epi32(four);
    const __m256i ax = _mm256_sign_epi8(xv, xv);
    const std::int8_t* wg = ws + g * 256;
    for (int c = 0; c < 8; ++c) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 32 * c));
      const __m256i pairs = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, xv));
      sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(pairs, ones));
    }
  }
  for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8 * c), sum[c]);
}

// VNNI multiplies unsigned by signed bytes: x + 128 as unsigned gives sum (x + 128) w, and
// 128 * sum_k w (col_offset) is taken off after. kRows rows of x share each load of the stripe.
template <int kRows>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8_sums_vnni(const std::int8_t* ws, std::size_t KG,
                                                                           const std::uint8_t* xu, std::size_t ldu,
                                                                           const std::int32_t* col_offset,
                                                                           std::int32_t* acc) {
  __m512i sum[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < 4; ++c) sum[r][c] = _mm512_setzero_si512();
  }
  for (std::size_t g = 0; g < KG; ++g) {
    const std::int8_t* wg = ws + g * 256;
    const __m512i w0 = _mm512_load_si512(wg), w1 = _mm512_load_si512(wg + 64), w2 = _mm512_load_si512(wg + 128),
                  w3 = _mm512_load_si512(wg + 192);
    for (int r = 0; r < kRows; ++r) {
      std::int32_t four;
      std::memcpy(&four, xu + r * ldu + 4 * g, 4);
      const __m512i xv = _mm512_set1_epi32(four);
      sum[r][0] = _mm512_dpbusd_epi32(sum[r][0], xv, w0);
      sum[r][1] = _mm512_dpbusd_epi32(sum[r][1], xv, w1);
      sum[r][2] = _mm512_dpbusd_epi32(sum[r][2], xv, w2);
      sum[r][3] = _mm512_dpbusd_epi32(sum[r][3], xv, w3);
    }
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i offset = _mm512_load_si512(col_offset + 16 * c);
    for (int r = 0; r < kRows; ++r) {
      _mm512_storeu_si512(acc + r * 64 + 16 * c, _mm512_sub_epi32(sum[r][c], offset));
    }
  }
}

using VnniFn = void (*)(const std::int8_t*, std::size_t, const std::uint8_t*, std::size_t, const std::int32_t*,
                        std::int32_t*);
constexpr VnniFn kVnni[4] = {int8_sums_vnni<1>, int8_sums_vnni<2>, int8_sums_vnni<3>, int8_sums_vnni<4>};
#endif

bool cpu_has_vnni() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

void gemm_int8(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
               const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
               std::size_t stripe_end) {
  const std::size_t S = PackedMatrix::kStripe, KG = b.k_groups(), ldq = 4 * KG;
  // Per thread, grown once: the quantised rows and their scales, and four rows of sums.
  thread_local std::vector<std::int8_t> xq;
  thread_local std::vector<float> sx;
  alignas(64) std::int32_t acc[4 * 64];
  xq.resize(M * ldq);
  sx.resize(M);
  quantize_rows(M, b.K, x, ldx, xq.data(), ldq, sx.data());
  static const bool vnni = cpu_has_vnni();
  const bool use_vnni = level == KernelLevel::kAvx512 && vnni;
  const bool use_avx2 = !use_vnni && level != KernelLevel::kScalar && cpu_has(KernelLevel::kAvx2);
  if (use_vnni) {
    for (auto& v : xq) v = static_cast<std::int8_t>(static_cast<std::uint8_t>(v) ^ 0x80);  // x + 128, unsigned
  }
  for (std::size_t s = stripe_begin; s < stripe_end; ++s) {
    const std::size_t n0 = s * S, n_valid = std::min(S, b.N - n0);
    const std::int8_t* ws = b.data8.data() + s * KG * 256;
    const float* bias_s = bias ? bias + n0 : nullptr;
    for (std::size_t m0 = 0; m0 < M; m0 += 4) {
      const std::size_t rows = std::min<std::size_t>(4, M - m0);
#if defined(__x86_64__)
      if (use_vnni) {
        kVnni[rows - 1](ws, KG, reinterpret_cast<const std::uint8_t*>(xq.data() + m0 * ldq), ldq,
                        b.col_offset.data() + n0, acc);
      } else {
        for (std::size_t r = 0; r < rows; ++r) {
          if (use_avx2) int8_sums_avx2(ws, KG, xq.data() + (m0 + r) * ldq, acc + r * 64);
          else int8_sums_scalar(ws, KG, xq.data() + (m0 + r) * ldq, acc + r * 64);
        }
      }
#else
      for (std::size_t r = 0; r < rows; ++r) int8_sums_scalar(ws, KG, xq.data() + (m0 + r) * ldq, acc + r * 64);
#endif
      for (std::size_t r = 0; r < rows; ++r) {
        int8_store(acc + r * 64, sx[m0 + r], b.scale.data() + n0, bias_s, y + (m0 + r) * ldy + n0, accumulate,
                   n_valid);
      }
    }
  }
}

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

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return "fp32";
    case WeightFormat::kBf16: return "bf16";
    case WeightFormat::kInt8: return "int8";
  }
  return "fp32";
}

WeightFormat parse_weight_format(const std::string& name) {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBf16, WeightFormat::kInt8}) {
    if (name == weight_format_name(f)) return f;
  }
  throw Error(ErrorKind::kUsage, "unknown weight format '" + name + "'", "use fp32, bf16 or int8");
}

bool int8_vnni_available() { return cpu_has_vnni(); }

std::size_t PackedMatrix::bytes() const {
  return data.size() * sizeof(float) + data16.size() * sizeof(std::uint16_t) + data8.size() +
         scale.size() * sizeof(float) + col_offset.size() * sizeof(std::int32_t);
}

void quantize_rows(std::size_t M, std::size_t K, const float* x, std::size_t ldx, std::int8_t* xq, std::size_t ldq,
                   float* sx) {
  for (std::size_t m = 0; m < M; ++m) {
    const float* xm = x + m * ldx;
    std::int8_t* qm = xq + m * ldq;
    float mx = 0.0f;
    for (std::size_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(xm[k]));
    if (!(mx > 0.0f) || !std::isfinite(mx)) {
      std::fill(qm, qm + ldq, std::int8_t{0});
      sx[m] = 0.0f;
      continue;
    }
    const float inv = 127.0f / mx;
    for (std::size_t k = 0; k < K; ++k) qm[k] = static_cast<std::int8_t>(std::lrintf(xm[k] * inv));
    std::fill(qm + K, qm + ldq, std::int8_t{0});
    sx[m] = mx / 127.0f;
  }
}

PackedMatrix pack_matrix(const float* b, std::size_t K, std::size_t N, WeightFormat format) {
  PackedMatrix p;
  p.K = K;
  p.N = N;
  p.format = format;
  const std::size_t S = PackedMatrix::kStripe;
  if (format == WeightFormat::kInt8) {
    const std::size_t KG = p.k_groups(), n_cols = p.n_stripes() * S;
    p.data8.assign(p.n_stripes() * KG * 4 * S, 0);
    p.scale.assign(n_cols, 0.0f);
    p.col_offset.assign(n_cols, 0);
    for (std::size_t n = 0; n < N; ++n) {
      float mx = 0.0f;
      for (std::size_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(b[k * N + n]));
      if (!(mx > 0.0f)) continue;  // a zero column stays zero
      const float inv = 127.0f / mx;
      p.scale[n] = mx / 127.0f;
      const std::size_t s = n / S, c = n % S;
      for (std::size_t k = 0; k < K; ++k) {
        const std::int8_t v = static_cast<std::int8_t>(std::lrintf(b[k * N + n] * inv));
        p.data8[((s * KG + k / 4) * S + c) * 4 + k % 4] = v;
        p.col_offset[n] += 128 * v;
      }
    }
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
  if (b.format == WeightFormat::kInt8) {
    return gemm_int8(level, M, b, x, ldx, bias, y, ldy, accumulate, stripe_begin, stripe_end);
  }
  thread_local std::vector<float> widened;  // portable path for bf16 stripes only; grows once
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
#endif
      widened.resize(K * S);
      for (std::size_t i = 0; i < K * S; ++i) widened[i] = bf16_to_f32(bs16[i]);
      gemm_small_at(level == KernelLevel::kAvx512 ? KernelLevel::kAvx2 : level, M, n_valid, K, x, ldx, widened.data(),
                    S, bias_s, y + n0, ldy, accumulate);
      continue;
    }
    const float* bs = b.data.data() + s * K * S;
#if defined(__x86_64__)
    if (level == KernelLevel::kAvx512 && cpu_has(level)) {  // stripes are 64-byte aligned
      packed_rows_avx512(M, bs, K, x, ldx, bias_s, y + n0, ldy, accumulate, n_valid);
      continue;
    }
#endif
    // Portable path (and AVX2, which gets no packed kernel of its own): the packed stripe
    // is an ordinary (K, 64) row-major block.
    gemm_small_at(level == KernelLevel::kAvx512 ? KernelLevel::kAvx2 : level, M, n_valid, K, x, ldx, bs, S, bias_s,
                  y + n0, ldy, accumulate);
  }
}

void gemm_packed(std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx, const float* bias, float* y,
                 std::size_t ldy, bool accumulate, std::size_t stripe_begin, std::size_t stripe_end) {
  gemm_packed_at(kernel_level(), M, b, x, ldx, bias, y, ldy, accumulate, stripe_begin, stripe_end);
}

}  // namespace srnn
