// int8 products (kernels.h, WeightFormat::kInt8). Every level computes the same int32 sums,
// exactly, and hands them to one scalar epilogue (int8_store), so the levels agree bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "infer/kernels-impl.h"
#include "infer/kernels.h"

namespace srnn {
namespace detail {
namespace {

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

}  // namespace

void int8_store(const std::int32_t* acc, float sx, const float* scale, const float* bias, float* y, bool accumulate,
                std::size_t n_valid) {
  for (std::size_t c = 0; c < n_valid; ++c) {
    float v = static_cast<float>(acc[c]) * (sx * scale[c]);
    if (bias != nullptr) v += bias[c];
    if (accumulate) v += y[c];
    y[c] = v;
  }
}

void quantize_columns(const float* b, PackedMatrix& p, std::vector<std::int8_t>& q) {
  const std::size_t K = p.K, N = p.N, n_cols = p.n_stripes() * PackedMatrix::kStripe;
  q.assign(K * N, 0);
  p.scale.assign(n_cols, 0.0f);
  p.col_offset.assign(n_cols, 0);
  quantise_int8(b, N, K, /*out_stride=*/1, /*in_stride=*/N, q.data(), p.scale.data());
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t n = 0; n < N; ++n) p.col_offset[n] += 128 * q[k * N + n];
  }
}

void pack_int8(const float* b, PackedMatrix& p) {
  const std::size_t S = PackedMatrix::kStripe, K = p.K, N = p.N, KG = p.k_groups();
  std::vector<std::int8_t> q;
  quantize_columns(b, p, q);
  p.data8.assign(p.n_stripes() * KG * 4 * S, 0);
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t n = 0; n < N; ++n) p.data8[((n / S * KG + k / 4) * S + n % S) * 4 + k % 4] = q[k * N + n];
  }
}

Int8Rows quantize_for_int8(KernelLevel level, std::size_t M, std::size_t K, const float* x, std::size_t ldx) {
  thread_local std::vector<std::int8_t> q;  // grown once
  thread_local std::vector<float> scale;
  Int8Rows rows;
  rows.ld = (K + 3) / 4 * 4;
  q.resize(M * rows.ld);
  scale.resize(M);
  quantize_rows_at(level, M, K, x, ldx, q.data(), rows.ld, scale.data());
  static const bool vnni = cpu_has_vnni();
  if (level == KernelLevel::kAvx512 && vnni) rows.path = Int8Path::kVnni;
  else if (level != KernelLevel::kScalar && cpu_has(KernelLevel::kAvx2)) rows.path = Int8Path::kAvx2;
  if (rows.path == Int8Path::kVnni) {
    for (auto& v : q) v = static_cast<std::int8_t>(static_cast<std::uint8_t>(v) ^ 0x80);  // x + 128, unsigned
  }
  rows.q = q.data();
  rows.scale = scale.data();
  return rows;
}

void gemm_int8(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
               const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
               std::size_t stripe_end) {
  const std::size_t S = PackedMatrix::kStripe, KG = b.k_groups();
  const Int8Rows in = quantize_for_int8(level, M, b.K, x, ldx);
  const std::size_t ldq = in.ld;
  alignas(64) std::int32_t acc[4 * 64];
  for (std::size_t s = stripe_begin; s < stripe_end; ++s) {
    const std::size_t n0 = s * S, n_valid = std::min(S, b.N - n0);
    const std::int8_t* ws = b.data8.data() + s * KG * 256;
    const float* bias_s = bias ? bias + n0 : nullptr;
    for (std::size_t m0 = 0; m0 < M; m0 += 4) {
      const std::size_t rows = std::min<std::size_t>(4, M - m0);
#if defined(__x86_64__)
      if (in.path == Int8Path::kVnni) {
        kVnni[rows - 1](ws, KG, reinterpret_cast<const std::uint8_t*>(in.q + m0 * ldq), ldq, b.col_offset.data() + n0,
                        acc);
      } else {
        for (std::size_t r = 0; r < rows; ++r) {
          if (in.path == Int8Path::kAvx2) int8_sums_avx2(ws, KG, in.q + (m0 + r) * ldq, acc + r * 64);
          else int8_sums_scalar(ws, KG, in.q + (m0 + r) * ldq, acc + r * 64);
        }
      }
#else
      for (std::size_t r = 0; r < rows; ++r) int8_sums_scalar(ws, KG, in.q + (m0 + r) * ldq, acc + r * 64);
#endif
      for (std::size_t r = 0; r < rows; ++r) {
        int8_store(acc + r * 64, in.scale[m0 + r], b.scale.data() + n0, bias_s, y + (m0 + r) * ldy + n0, accumulate,
                   n_valid);
      }
    }
  }
}

}  // namespace detail

namespace {

// sx = max |x| / 127, or 0 for a row of zeros or with a NaN or an infinity (then all zeros).
void quantize_row_scalar(std::size_t K, const float* x, std::int8_t* q, std::size_t ldq, float* sx) {
  float mx = 0.0f;
  bool finite = true;
  for (std::size_t k = 0; k < K; ++k) {
    finite = finite && std::isfinite(x[k]);
    mx = std::max(mx, std::fabs(x[k]));
  }
  std::fill(q, q + ldq, std::int8_t{0});
  *sx = 0.0f;
  if (!finite || !(mx > 0.0f)) return;
  const float inv = 127.0f / mx;
  for (std::size_t k = 0; k < K; ++k) q[k] = static_cast<std::int8_t>(std::lrintf(x[k] * inv));
  *sx = mx / 127.0f;
}

#if defined(__x86_64__)
// The same, 16 at a time: cvtps2dq rounds as lrintf does (both to nearest even under the
// default MXCSR), and |x * inv| <= 127 fits the saturating narrowing exactly.
__attribute__((target("avx512f,avx512bw"))) void quantize_row_avx512(std::size_t K, const float* x, std::int8_t* q,
                                                                     std::size_t ldq, float* sx) {
  __m512 mx = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (std::size_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    const __m512 a = _mm512_abs_ps(v);
    bad |= _mm512_mask_cmp_ps_mask(m, a, _mm512_set1_ps(std::numeric_limits<float>::max()), _CMP_NLE_UQ);
    mx = _mm512_max_ps(mx, a);
  }
  std::memset(q, 0, ldq);
  *sx = 0.0f;
  const float top = _mm512_reduce_max_ps(mx);
  if (bad != 0 || !(top > 0.0f)) return;
  const float inv = 127.0f / top;
  const __m512 scale = _mm512_set1_ps(inv);
  for (std::size_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), scale));
    _mm512_mask_cvtsepi32_storeu_epi8(q + k, m, v);
  }
  *sx = top / 127.0f;
}
#endif

}  // namespace

void quantize_rows_at(KernelLevel level, std::size_t M, std::size_t K, const float* x, std::size_t ldx,
                      std::int8_t* xq, std::size_t ldq, float* sx) {
  for (std::size_t m = 0; m < M; ++m) {
#if defined(__x86_64__)
    static const bool bw = detail::cpu_has_vnni();  // AVX-512 BW comes with it
    if (level == KernelLevel::kAvx512 && bw) {
      quantize_row_avx512(K, x + m * ldx, xq + m * ldq, ldq, sx + m);
      continue;
    }
#endif
    quantize_row_scalar(K, x + m * ldx, xq + m * ldq, ldq, sx + m);
  }
}

}  // namespace srnn
