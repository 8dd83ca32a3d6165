// Drawing a level from the model's logits, and the per-sequence random streams that the CPU
// engine draws with (the CUDA engine draws with Philox on the device, LibTorch with its own
// generator).
//
//   srnn::SequenceRng rng(rng_seed, sequence);
//   int level = srnn::sample_level(logits, q, 1.0f / temperature, rng.uniform(), scratch);
#pragma once

#include <cstdint>

namespace srnn {

// Draws a level from softmax(logits * inv_temperature) with u uniform in [0, 1): the first
// level whose cumulative probability exceeds u. scratch holds q floats.
int sample_level(const float* logits, int q, float inv_temperature, double u, float* scratch);

// A small, fast generator (xoshiro256**) with one independent stream per sequence, so the
// audio does not depend on how sequences are spread over threads.
class SequenceRng {
 public:
  SequenceRng(std::uint64_t seed, std::uint64_t sequence);
  double uniform();  // [0, 1)

 private:
  std::uint64_t s_[4];
};

}  // namespace srnn
