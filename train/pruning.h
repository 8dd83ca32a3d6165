// Pruning during training: gradual block magnitude pruning (core/sparsity.h) of the weights
// that dominate generation, with 0/1 masks applied after every optimiser step so pruned
// weights stay exactly zero. The generation engine then finds the zero tiles and streams only
// the rest (infer/kernels.h, block-sparse).
//
// Masks are recomputed every kMaskEvery steps from prune_start to prune_end (and at
// prune_end), then kept. They live in checkpoints as train.mask.<weight> (U8), so a resumed
// run goes on with the same masks.
//
//   srnn::Pruner pruner(config, params, options, stored_masks);
//   ... after each optimiser step:  pruner.after_step(step);
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/sparsity.h"
#include "core/config.h"

namespace srnn {

// Masks by weight name, as 0/1 tensors of the weight's shape (uint8, on the CPU).
using PruneMasks = std::map<std::string, at::Tensor>;

constexpr std::int64_t kMaskEvery = 100;

class Pruner {
 public:
  // params: the model's parameters by name; stored: the masks of the checkpoint training
  // resumes from (may be empty).
  Pruner(const ModelConfig& config, const std::map<std::string, at::Tensor>& params, const PruneOptions& options,
         const PruneMasks& stored);
  bool active() const { return options_.sparsity > 0; }
  // After the optimiser step that made `step` steps: updates the masks when the schedule
  // says, then zeroes the pruned weights.
  void after_step(std::int64_t step);
  // The masks to save (empty when inactive).
  PruneMasks masks() const;

 private:
  void update(std::int64_t step);
  void apply();

  std::vector<WeightMatrix> weights_;
  PruneOptions options_;
  std::map<std::string, at::Tensor> params_;  // the pruned weights
  std::map<std::string, at::Tensor> masks_;   // as the weights' dtype and device
};

}  // namespace srnn
