// OpenBLAS chooses its kernels from the CPU model. Inside virtual machines it often cannot
// identify the model and falls back to generic SSE3 kernels ("Prescott"), which run GEMMs
// about 4x slower than the AVX-512 ones on the same CPU. select_openblas_kernels() detects
// that case and re-executes the program once with OPENBLAS_CORETYPE set from the CPU's
// actual features (SkylakeX for AVX-512, Haswell for AVX2). A user's own
// OPENBLAS_CORETYPE, or SRNN_KEEP_BLAS=1, leaves everything as it is.
#pragma once

namespace srnn {

// Returns only if nothing needs to change (or re-executing failed).
void select_openblas_kernels(char** argv);

}  // namespace srnn
