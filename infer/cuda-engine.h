// The CUDA generation engine: the CPU engine's model (engine.h) on an NVIDIA GPU, with the
// CUDA runtime and cuBLAS and no LibTorch.
//
// The weights are the CPU engine's (weights.h: weight normalisation folded in, the sample
// tier's embedding x convolution table), unpacked to fp32 and uploaded once. Every step stays
// on the device: the frame tiers' products go through cuBLAS; the frame inputs, conditioning,
// gates, the table gather, the dense layers' biases and activations and the sampling are
// kernels; and one top frame of samples (L = F_K of them, the period after which the tiers'
// schedule repeats) is captured once as a CUDA graph and replayed. Levels come back to the
// host a block at a time. Sampling draws from Philox keyed by (rng_seed, sequence, sample
// position), so a seed reproduces a clip whatever the block size; the draws differ from the
// CPU engine's generator, so the two engines' clips differ for the same seed.
//
// Built only when CMake finds the CUDA toolkit (SRNN_CUDA); otherwise cuda_engine_built() is
// false and the entry points throw Error(kUsage) saying so.
//
//   std::string why;
//   if (srnn::cuda_engine_available(&why)) levels = srnn::generate_cuda(weights, request);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "infer/weights.h"

namespace srnn {

// Whether this build has the CUDA engine.
bool cuda_engine_built();
// Whether it is built and a GPU is present; otherwise `why` (when given) says which is missing.
bool cuda_engine_available(std::string* why = nullptr);

class CudaEngine {
 public:
  // n_seqs sequences, each with a history of `capacity` levels on the device (at least a
  // lookback). Error(kUsage) without a GPU; Error(kMemory) when the device is too small.
  CudaEngine(const EngineWeights& weights, int n_seqs, std::int64_t capacity, int device = 0);
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  // Teacher forcing (the tests): levels[s][0, len) become sequence s's history, len <= capacity.
  void set_levels(const std::int32_t* const* levels, std::int64_t len);
  // As Engine::step_frames and Engine::sample_logits, on the device; the logits (n_seqs, q)
  // are copied into `logits`.
  void step_frames(std::int64_t t);
  void sample_logits(std::int64_t t, float* logits);

  struct Impl;

 private:
  friend std::vector<std::vector<std::int32_t>> generate_cuda(const EngineWeights&, const GenerateRequest&, int);
  std::unique_ptr<Impl> impl_;
};

// generate() (engine.h) on the GPU: the same request, the same contract for on_samples,
// on_progress, on_priming and stop; n_threads is ignored. Error(kUsage) for top_p < 1:
// nucleus sampling is the CPU engine's.
std::vector<std::vector<std::int32_t>> generate_cuda(const EngineWeights& weights, const GenerateRequest& request,
                                                     int device = 0);

}  // namespace srnn
