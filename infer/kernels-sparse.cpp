// Block-sparse products (kernels.h, PackedMatrix::sparse): only the 16-column x 4-row tiles
// that hold a nonzero weight are stored and streamed, each with the index of its rows. A
// matrix pruned to 90% of its tiles streams a tenth of the bytes.
//
// Every format has a scalar twin here that the tests compare the SIMD versions against; int8
// shares the dense int8 epilogue, so its levels agree bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/safetensors.h"
#include "infer/kernels-impl.h"
#include "infer/kernels.h"

namespace srnn::detail {
namespace {

constexpr std::size_t TC = PackedMatrix::kTileCols, TR = PackedMatrix::kTileRows, kTile = TC * TR;

float widen(float v) { return v; }
float widen(std::uint16_t v) { return bf16_to_f32(v); }

// One group of 16 columns (n_valid of them real) for every row of x, in float.
template <typename W>
void group_scalar(std::size_t M, const W* tiles, const std::uint32_t* tk, std::size_t n_tiles, const float* x,
                  std::size_t ldx, const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t n_valid) {
  for (std::size_t m = 0; m < M; ++m) {
    float acc[TC];
    for (std::size_t c = 0; c < TC; ++c) {
      acc[c] = (bias != nullptr && c < n_valid ? bias[c] : 0.0f) + (accumulate && c < n_valid ? y[m * ldy + c] : 0.0f);
    }
    for (std::size_t t = 0; t < n_tiles; ++t) {
      const float* xk = x + m * ldx + TR * tk[t];
      for (std::size_t i = 0; i < TR; ++i) {
        for (std::size_t c = 0; c < TC; ++c) acc[c] += xk[i] * widen(tiles[t * kTile + i * TC + c]);
      }
    }
    for (std::size_t c = 0; c < n_valid; ++c) y[m * ldy + c] = acc[c];
  }
}

// One group's int32 sums for one row: acc[c] = sum over its tiles of xq . w.
void group_int8_scalar(const std::int8_t* tiles, const std::uint32_t* tk, std::size_t n_tiles, const std::int8_t* xq,
                       std::int32_t* acc) {
  for (std::size_t c = 0; c < TC; ++c) acc[c] = 0;
  for (std::size_t t = 0; t < n_tiles; ++t) {
    const std::int8_t* xk = xq + TR * tk[t];
    for (std::size_t c = 0; c < TC; ++c) {
      for (std::size_t i = 0; i < TR; ++i) acc[c] += static_cast<std::int32_t>(xk[i]) * tiles[t * kTile + c * TR + i];
    }
  }
}

#if defined(__x86_64__)

// One accumulator per row of the tile, summed at the end: each FMA waits on the one four
// tiles back, not on the one before, so the loop streams instead of waiting on latency.
template <int kRows, typename W>
__attribute__((target("avx512f"))) void group_avx512(const W* tiles, const std::uint32_t* tk, std::size_t n_tiles,
                                                     const float* x, std::size_t ldx, const float* bias, float* y,
                                                     std::size_t ldy, bool accumulate, std::size_t n_valid) {
  const __mmask16 mask = n_valid >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n_valid) - 1);
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
    if (accumulate) acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(mask, y + r * ldy));
    acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
  }
  for (std::size_t t = 0; t < n_tiles; ++t) {
    const W* w = tiles + t * kTile;
    const __m512 w0 = load16(w), w1 = load16(w + 16), w2 = load16(w + 32), w3 = load16(w + 48);
    const std::size_t k0 = TR * tk[t];
    for (int r = 0; r < kRows; ++r) {
      const float* xk = x + r * ldx + k0;
      acc[r][0] = _mm512_fmadd_ps(_mm512_set1_ps(xk[0]), w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_set1_ps(xk[1]), w1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(_mm512_set1_ps(xk[2]), w2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(_mm512_set1_ps(xk[3]), w3, acc[r][3]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]), _mm512_add_ps(acc[r][2], acc[r][3]));
    _mm512_mask_storeu_ps(y + r * ldy, mask, sum);
  }
}

// AVX2: 16 columns are two vectors of 8.
__attribute__((target("avx2,fma"))) inline void load8x2(const float* p, __m256& lo, __m256& hi) {
  lo = _mm256_load_ps(p);
  hi = _mm256_load_ps(p + 8);
}
__attribute__((target("avx2,fma"))) inline void load8x2(const std::uint16_t* p, __m256& lo, __m256& hi) {
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)), 16));
  hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 16));
}

template <typename W>
__attribute__((target("avx2,fma"))) void group_avx2(std::size_t M, const W* tiles, const std::uint32_t* tk,
                                                    std::size_t n_tiles, const float* x, std::size_t ldx,
                                                    const float* bias, float* y, std::size_t ldy, bool accumulate,
                                                    std::size_t n_valid) {
  alignas(32) float out[TC];
  for (std::size_t m = 0; m < M; ++m) {
    __m256 lo[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, hi[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (std::size_t t = 0; t < n_tiles; ++t) {
      const W* w = tiles + t * kTile;
      const float* xk = x + m * ldx + TR * tk[t];
      for (std::size_t i = 0; i < TR; ++i) {
        __m256 wl, wh;
        load8x2(w + i * TC, wl, wh);
        const __m256 xv = _mm256_broadcast_ss(xk + i);
        lo[i % 2] = _mm256_fmadd_ps(xv, wl, lo[i % 2]);
        hi[i % 2] = _mm256_fmadd_ps(xv, wh, hi[i % 2]);
      }
    }
    _mm256_store_ps(out, _mm256_add_ps(lo[0], lo[1]));
    _mm256_store_ps(out + 8, _mm256_add_ps(hi[0], hi[1]));
    for (std::size_t c = 0; c < n_valid; ++c) {
      y[m * ldy + c] = (bias ? bias[c] : 0.0f) + (accumulate ? y[m * ldy + c] : 0.0f) + out[c];
    }
  }
}

__attribute__((target("avx2,fma"))) void group_int8_avx2(const std::int8_t* tiles, const std::uint32_t* tk,
                                                         std::size_t n_tiles, const std::int8_t* xq,
                                                         std::int32_t* acc) {
  // The sign trick of the dense AVX2 kernel (kernels-int8.cpp): no int16 sum can saturate.
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  for (std::size_t t = 0; t < n_tiles; ++t) {
    std::int32_t four;
    std::memcpy(&four, xq + TR * tk[t], 4);
    const __m256i xv = _mm256_set1_epi32(four), ax = _mm256_sign_epi8(xv, xv);
    const std::int8_t* w = tiles + t * kTile;
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32));
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xv)), ones));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xv)), ones));
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8), hi);
}

// kRows rows of x + 128 (unsigned) against one group; col_offset is taken off after.
template <int kRows>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void group_int8_vnni(const std::int8_t* tiles,
                                                                            const std::uint32_t* tk,
                                                                            std::size_t n_tiles,
                                                                            const std::uint8_t* xu, std::size_t ldu,
                                                                            const std::int32_t* col_offset,
                                                                            std::int32_t* acc, std::size_t ld_acc) {
  // Two sums per row, alternating tiles, halve the wait on dpbusd's latency; integer sums
  // are exact in any order.
  __m512i sum[kRows][2];
  for (int r = 0; r < kRows; ++r) sum[r][0] = sum[r][1] = _mm512_setzero_si512();
  for (std::size_t t = 0; t < n_tiles; ++t) {
    const __m512i w = _mm512_load_si512(tiles + t * kTile);
    for (int r = 0; r < kRows; ++r) {
      std::int32_t four;
      std::memcpy(&four, xu + r * ldu + TR * tk[t], 4);
      sum[r][t % 2] = _mm512_dpbusd_epi32(sum[r][t % 2], _mm512_set1_epi32(four), w);
    }
  }
  const __m512i offset = _mm512_loadu_si512(col_offset);
  for (int r = 0; r < kRows; ++r) {
    _mm512_storeu_si512(acc + r * ld_acc, _mm512_sub_epi32(_mm512_add_epi32(sum[r][0], sum[r][1]), offset));
  }
}
#endif

template <typename W>
void gemm_sparse_float(KernelLevel level, std::size_t M, const PackedMatrix& b, const W* data, const float* x,
                       std::size_t ldx, const float* bias, float* y, std::size_t ldy, bool accumulate,
                       std::size_t g_begin, std::size_t g_end) {
  for (std::size_t g = g_begin; g < g_end; ++g) {
    const std::size_t n0 = g * TC;
    if (n0 >= b.N) break;
    const std::size_t n_valid = std::min(TC, b.N - n0), t0 = b.tile_start[g], nt = b.tile_start[g + 1] - t0;
    const W* tiles = data + t0 * kTile;
    const std::uint32_t* tk = b.tile_k.data() + t0;
    const float* bias_g = bias ? bias + n0 : nullptr;
#if defined(__x86_64__)
    if (level == KernelLevel::kAvx512 && cpu_has(level)) {
      std::size_t m = 0;
      for (; m + 4 <= M; m += 4) group_avx512<4>(tiles, tk, nt, x + m * ldx, ldx, bias_g, y + m * ldy + n0, ldy, accumulate, n_valid);
      const std::size_t left = M - m;
      if (left == 3) group_avx512<3>(tiles, tk, nt, x + m * ldx, ldx, bias_g, y + m * ldy + n0, ldy, accumulate, n_valid);
      if (left == 2) group_avx512<2>(tiles, tk, nt, x + m * ldx, ldx, bias_g, y + m * ldy + n0, ldy, accumulate, n_valid);
      if (left == 1) group_avx512<1>(tiles, tk, nt, x + m * ldx, ldx, bias_g, y + m * ldy + n0, ldy, accumulate, n_valid);
      continue;
    }
    if (level != KernelLevel::kScalar && cpu_has(KernelLevel::kAvx2)) {
      group_avx2(M, tiles, tk, nt, x, ldx, bias_g, y + n0, ldy, accumulate, n_valid);
      continue;
    }
#endif
    group_scalar(M, tiles, tk, nt, x, ldx, bias_g, y + n0, ldy, accumulate, n_valid);
  }
}

void gemm_sparse_int8(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
                      const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t g_begin,
                      std::size_t g_end) {
  const Int8Rows in = quantize_for_int8(level, M, b.K, x, ldx);  // K is a multiple of 4: ld = K
  const std::size_t ldq = in.ld;
  alignas(64) std::int32_t acc[4 * TC];
  for (std::size_t g = g_begin; g < g_end; ++g) {
    const std::size_t n0 = g * TC;
    if (n0 >= b.N) break;
    const std::size_t n_valid = std::min(TC, b.N - n0), t0 = b.tile_start[g], nt = b.tile_start[g + 1] - t0;
    const std::int8_t* tiles = b.data8.data() + t0 * kTile;
    const std::uint32_t* tk = b.tile_k.data() + t0;
    for (std::size_t m0 = 0; m0 < M; m0 += 4) {
      const std::size_t rows = std::min<std::size_t>(4, M - m0);
#if defined(__x86_64__)
      if (in.path == Int8Path::kVnni) {
        using Fn = void (*)(const std::int8_t*, const std::uint32_t*, std::size_t, const std::uint8_t*, std::size_t,
                            const std::int32_t*, std::int32_t*, std::size_t);
        static constexpr Fn kFns[4] = {group_int8_vnni<1>, group_int8_vnni<2>, group_int8_vnni<3>, group_int8_vnni<4>};
        kFns[rows - 1](tiles, tk, nt, reinterpret_cast<const std::uint8_t*>(in.q + m0 * ldq), ldq,
                       b.col_offset.data() + n0, acc, TC);
      } else {
        for (std::size_t r = 0; r < rows; ++r) {
          if (in.path == Int8Path::kAvx2) group_int8_avx2(tiles, tk, nt, in.q + (m0 + r) * ldq, acc + r * TC);
          else group_int8_scalar(tiles, tk, nt, in.q + (m0 + r) * ldq, acc + r * TC);
        }
      }
#else
      for (std::size_t r = 0; r < rows; ++r) group_int8_scalar(tiles, tk, nt, in.q + (m0 + r) * ldq, acc + r * TC);
#endif
      for (std::size_t r = 0; r < rows; ++r) {
        int8_store(acc + r * TC, in.scale[m0 + r], b.scale.data() + n0, bias ? bias + n0 : nullptr, y + (m0 + r) * ldy + n0,
                   accumulate, n_valid);
      }
    }
  }
}

}  // namespace

bool tile_is_zero(const float* b, std::size_t K, std::size_t N, std::size_t t, std::size_t g) {
  for (std::size_t k = t * TR; k < std::min(K, (t + 1) * TR); ++k) {
    for (std::size_t n = g * TC; n < std::min(N, (g + 1) * TC); ++n) {
      if (b[k * N + n] != 0.0f) return false;
    }
  }
  return true;
}

void pack_sparse(const float* b, PackedMatrix& p) {
  const std::size_t K = p.K, N = p.N, n_groups = p.n_stripes() * (PackedMatrix::kStripe / TC);
  p.sparse = true;
  std::vector<std::int8_t> q;
  if (p.format == WeightFormat::kInt8) quantize_columns(b, p, q);
  p.tile_start.assign(1, 0);
  for (std::size_t g = 0; g < n_groups; ++g) {
    for (std::size_t t = 0; t < K / TR; ++t) {
      if (tile_is_zero(b, K, N, t, g)) continue;
      p.tile_k.push_back(static_cast<std::uint32_t>(t));
      if (p.format == WeightFormat::kInt8) {
        for (std::size_t n = g * TC; n < (g + 1) * TC; ++n) {  // 16 columns of 4, as VNNI reads them
          for (std::size_t k = t * TR; k < (t + 1) * TR; ++k) p.data8.push_back(n < N ? q[k * N + n] : std::int8_t{0});
        }
        continue;
      }
      for (std::size_t k = t * TR; k < (t + 1) * TR; ++k) {  // 4 rows of 16
        for (std::size_t n = g * TC; n < (g + 1) * TC; ++n) {
          const float v = n < N ? b[k * N + n] : 0.0f;
          if (p.format == WeightFormat::kF32) p.data.push_back(v);
          else p.data16.push_back(f32_to_bf16(v));
        }
      }
    }
    p.tile_start.push_back(static_cast<std::uint32_t>(p.tile_k.size()));
  }
}

void gemm_sparse(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
                 const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
                 std::size_t stripe_end) {
  const std::size_t per = PackedMatrix::kStripe / TC, g0 = stripe_begin * per, g1 = stripe_end * per;
  switch (b.format) {
    case WeightFormat::kF32:
      return gemm_sparse_float(level, M, b, b.data.data(), x, ldx, bias, y, ldy, accumulate, g0, g1);
    case WeightFormat::kBf16:
      return gemm_sparse_float(level, M, b, b.data16.data(), x, ldx, bias, y, ldy, accumulate, g0, g1);
    case WeightFormat::kInt8:
      return gemm_sparse_int8(level, M, b, x, ldx, bias, y, ldy, accumulate, g0, g1);
  }
}

}  // namespace srnn::detail
