#include "train/pruning.h"

#include <c10/core/GradMode.h>

#include <vector>

#include "core/error.h"

namespace srnn {

Pruner::Pruner(const ModelConfig& config, const std::map<std::string, at::Tensor>& params,
               const PruneOptions& options, const PruneMasks& stored)
    : options_(options) {
  if (!active()) return;
  weights_ = prunable_weights(config, options_.sample_tier);
  for (const WeightMatrix& w : weights_) {
    const at::Tensor& p = params.at(w.name);
    params_[w.name] = p;
    auto it = stored.find(w.name);
    if (it == stored.end()) continue;
    if (!it->second.sizes().equals(p.sizes())) {
      throw Error(ErrorKind::kInput, "the stored pruning mask of '" + w.name + "' does not fit the weight",
                  "the checkpoint is damaged; resume from an earlier one");
    }
    masks_[w.name] = it->second.to(p.options());
  }
}

void Pruner::update(std::int64_t step) {
  const double target = cubic_sparsity(options_.sparsity, step, options_.start, options_.end);
  if (target <= 0) return;
  c10::NoGradGuard ng;
  for (const WeightMatrix& w : weights_) {
    const at::Tensor& p = params_.at(w.name);
    const at::Tensor cpu = p.detach().to(at::kCPU, at::kFloat).contiguous();
    const std::vector<std::uint8_t> mask = block_mask(cpu.data_ptr<float>(), w.rows, w.cols, options_.block, target,
                                                      w.transposed, w.keep_diagonal);
    const at::Tensor m = at::from_blob(const_cast<std::uint8_t*>(mask.data()), p.sizes(), at::kByte).clone();
    masks_[w.name] = m.to(p.options());
  }
}

void Pruner::apply() {
  c10::NoGradGuard ng;
  for (auto& [name, mask] : masks_) params_.at(name).mul_(mask);
}

void Pruner::after_step(std::int64_t step) {
  if (!active()) return;
  const bool scheduled = step >= options_.start && step <= options_.end &&
                         ((step - options_.start) % kMaskEvery == 0 || step == options_.end);
  // A run that starts pruning past the schedule's points (say, a trained model pruned from
  // its last step) gets its masks at once.
  if (scheduled || (masks_.empty() && step > options_.start)) update(step);
  apply();
}

PruneMasks Pruner::masks() const {
  PruneMasks out;
  for (const auto& [name, mask] : masks_) out[name] = mask.to(at::kCPU, at::kByte);
  return out;
}

}  // namespace srnn
