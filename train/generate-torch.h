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

// Generation one sample at a time: the frame tiers whose frame starts at t, then the sample
// tier's logits for sample t. generate_torch draws from these; the tests feed them known
// samples (teacher forcing) and compare with the engine. Call under torch::NoGradGuard with
// the model in eval mode; the model must outlive the stepper.
class TorchStepper {
 public:
  TorchStepper(SampleRNN& model, std::int64_t n_seqs);
  // seqs: (N, >= n_seed) levels on the model's device. Runs every tier over seqs[:, :n_seed -
  // lookback] as whole windows (priming), so that stepping continues at t = n_seed.
  void prime(const torch::Tensor& seqs, std::int64_t n_seed);
  // seqs: (N, > t) levels on the model's device, known before t; t >= lookback, and every t
  // since the priming must be stepped in order. Returns the logits for sample t, (N, q).
  torch::Tensor logits_at(const torch::Tensor& seqs, std::int64_t t);

 private:
  SampleRNN& model_;
  ModelState states_;
  torch::Tensor table_;               // (q * F_1, dim)
  std::vector<torch::Tensor> outs_;   // outs_[k]: (N, r_k, dim), tier k's newest conditioning
};

// Returns (n_sequences, n_samples) levels, on the model's device. `on_progress`, when set,
// is called every kProgressBlock samples with the samples done per sequence.
torch::Tensor generate_torch(SampleRNN& model, const TorchGenerateOptions& options,
                             const std::function<void(std::int64_t)>& on_progress = {});
constexpr std::int64_t kProgressBlock = 1024;

}  // namespace srnn
