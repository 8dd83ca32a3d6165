// Generation with the LibTorch model, sample by sample (docs/design.md, "Generation"). It is the
// reference for the fast engine and the path for clips during training.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "train/model.h"

namespace srnn {

struct TorchGenerateOptions {
  std::int64_t n_samples = 16000;       // per sequence
  std::vector<double> temperatures;     // one per sequence
  std::vector<std::int64_t> seed_levels;  // optional priming samples (all sequences), >= lookback
  std::uint64_t rng_seed = 0;
};

// Returns (n_sequences, n_samples) levels, on the model's device. `on_progress`, when set,
// is called every kProgressBlock samples with the samples done per sequence.
torch::Tensor generate_torch(SampleRNN& model, const TorchGenerateOptions& options,
                             const std::function<void(std::int64_t)>& on_progress = {});
constexpr std::int64_t kProgressBlock = 1024;

}  // namespace srnn
