// Compiled by CMake before the CUDA engine is enabled: what infer/cuda-engine.cu needs of the
// toolkit (cuBLAS, cuRAND's Philox, CUB's block collectives and CCCL's cuda::maximum and
// cuda::minimum, which CCCL 2.8 / CUDA 12.9 and later provide).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <curand_kernel.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda/functional>

__global__ void probe(float* out) {
  using Reduce = cub::BlockReduce<float, 128>;
  __shared__ typename Reduce::TempStorage tmp;
  curandStatePhilox4_32_10_t rng;
  curand_init(1, threadIdx.x, 0, &rng);
  const float v = Reduce(tmp).Reduce(curand_uniform(&rng), cuda::maximum<>{});
  if (threadIdx.x == 0) *out = cuda::minimum<>{}(v, 1.0f);
}

int main() { return 0; }
