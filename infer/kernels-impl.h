// What the kernel files share with each other, and nobody else: CPU feature checks, the int8
// epilogue, and the int8 and block-sparse entry points gemm_packed_at dispatches to.
#pragma once

#include <cstddef>
#include <cstdint>

#include "infer/kernels.h"

namespace srnn::detail {

bool cpu_has(KernelLevel level);
// AVX-512 with BW and VNNI: the int8 kernels' avx512 level.
bool cpu_has_vnni();

// y[c] = acc[c] * (sx * scale[c]) (+ bias[c]) (+ y[c]) for the c < n_valid columns.
void int8_store(const std::int32_t* acc, float sx, const float* scale, const float* bias, float* y, bool accumulate,
                std::size_t n_valid);

// Fills p.data8, p.scale and p.col_offset from b (p.K, p.N) row-major.
void pack_int8(const float* b, PackedMatrix& p);
// gemm_packed_at for dense int8 matrices.
void gemm_int8(KernelLevel level, std::size_t M, const PackedMatrix& b, const float* x, std::size_t ldx,
               const float* bias, float* y, std::size_t ldy, bool accumulate, std::size_t stripe_begin,
               std::size_t stripe_end);

}  // namespace srnn::detail
