// What the kernel files share with each other, and nobody else: CPU feature checks, the int8
// epilogue, and the int8 and block-sparse entry points gemm_packed_at dispatches to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "infer/kernels.h"

namespace srnn::detail {

bool cpu_has(KernelLevel level);
// AVX-512 with BW and VNNI: the int8 kernels' avx512 level.
bool cpu_has_vnni();

#if defined(__x86_64__)
// 16 weights as floats: loaded as they are (64-byte aligned), or widened from bfloat16 (32-byte
// aligned) by shifting the bits into the high half.
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_load_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const std::uint16_t* p) {
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
#endif

// y[c] = acc[c] * (sx * scale[c]) (+ bias[c]) (+ y[c]) for the c < n_valid columns.
void int8_store(const std::int32_t* acc, float sx, const float* scale, const float* bias, float* y, bool accumulate,
                std::size_t n_valid);

// The rows of x as an int8 product reads them: quantised with a scale per row (rows of ld
// bytes, K rounded up to 4, zero padded; offset by 128 for VNNI), and the kernel to read
// them with. The bytes live in a per-thread buffer, valid until the thread's next call.
enum class Int8Path { kScalar, kAvx2, kVnni };
struct Int8Rows {
  const std::int8_t* q = nullptr;
  std::size_t ld = 0;
  const float* scale = nullptr;
  Int8Path path = Int8Path::kScalar;
};
Int8Rows quantize_for_int8(KernelLevel level, std::size_t M, std::size_t K, const float* x, std::size_t ldx);

// b (p.K, p.N) row-major to int8 per column: q (K, N) row-major, p.scale and p.col_offset.
void quantize_columns(const float* b, PackedMatrix& p, std::vector<std::int8_t>& q);
// Fills p.data8, p.scale and p.col_offset from b (p.K, p.N) row-major.
void pack_int8(const float* b, PackedMatrix& p);
// gemm_packed_at for dense int8 matrices.
void gemm_int8(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
               const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
               std::size_t stripe_end);

// True when tile (t, g) of b (K, N) row-major, rows 4t.. and columns 16g.. as far as they
// exist, holds only zeros.
bool tile_is_zero(const float* b, std::size_t K, std::size_t N, std::size_t t, std::size_t g);
// Packs b into p (whose K, N and format are set) as block-sparse tiles.
void pack_sparse(const float* b, PackedMatrix& p);
// gemm_packed_at for block-sparse matrices of every format.
void gemm_sparse(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
                 const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
                 std::size_t stripe_end);

}  // namespace srnn::detail
