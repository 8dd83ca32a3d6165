// Generation with the LibTorch model, sample by sample (docs/design.md, "Generation"): the
// reference for the fast engine, and `generate --device cuda` where the build has no CUDA
// engine. It runs under the one generation driver (infer/generation.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "infer/generation.h"
#include "train/model.h"

namespace srnn {

// Generation one sample at a time: the frame tiers whose frame starts at t, then the sample
// tier's logits for sample t. generate_torch draws from these; the tests feed them known
// samples (teacher forcing) and compare with the engine. Call under torch::NoGradGuard with
// the model in eval mode; the model must outlive the stepper.
class TorchStepper {
 public:
  TorchStepper(SampleRNN& model, std::int64_t n_seqs);
  // seqs: (N, >= to) levels on the model's device. Runs every tier, teacher forced, over the
  // samples [from, to) as one window (priming), so that stepping continues at t = to; from
  // and to are whole lookbacks, from >= lookback.
  void prime(const torch::Tensor& seqs, std::int64_t from, std::int64_t to);
  // seqs: (N, > t) levels on the model's device, known before t; t >= lookback, and every t
  // since the priming must be stepped in order. Returns the logits for sample t, (N, q).
  torch::Tensor logits_at(const torch::Tensor& seqs, std::int64_t t);

 private:
  SampleRNN& model_;
  ModelState states_;
  torch::Tensor table_;               // (q * F_1, dim)
  std::vector<torch::Tensor> outs_;   // outs_[k]: (N, r_k, dim), tier k's newest conditioning
};

// generate() (infer/engine.h) with the LibTorch model, on the model's device: the same request
// and the same contract for on_samples, on_progress, on_priming and stop (n_threads is
// LibTorch's). On the CPU the draws come from a generator of rng_seed's own; on a GPU from the
// device's default generator, seeded with it. Error(kUsage) for top_p < 1: nucleus sampling
// is the CPU engine's.
std::vector<std::vector<std::int32_t>> generate_torch(SampleRNN& model, const GenerateRequest& request);

}  // namespace srnn
