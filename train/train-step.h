// One training step: forward (under autocast for bf16/fp16), cross-entropy, backward, an
// optional hook (the gradient all-reduce of data-parallel training), gradient clipping to
// global norm 5, optimiser step. Shared by the trainer, the tests and the benchmark.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "train/dataset.h"
#include "train/model.h"
#include "train/precision.h"

namespace srnn {

struct StepResult {
  double loss = 0;       // mean cross-entropy in nats
  double accuracy = 0;   // fraction of argmax hits
  bool skipped = false;  // fp16: the gradients overflowed, so the update was skipped
};

struct StepOptions {
  double clip_norm = 5.0;
  Precision precision = Precision::kFp32;
  LossScaler* scaler = nullptr;  // fp16 only
  // Called after backward with this process's metrics, before clipping and the update; the
  // data-parallel trainer averages the gradients here and replaces the metrics by the
  // global ones.
  std::function<void(StepResult&)> after_backward;
};

// x: (B, L + T) levels on the model's device. Updates states (detached afterwards) and the
// parameters.
StepResult train_step(SampleRNN& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                      ModelState& states, const StepOptions& options = {});

// Loss and accuracy without updating anything (validation).
StepResult eval_step(SampleRNN& model, const torch::Tensor& x, ModelState& states,
                     Precision precision = Precision::kFp32);

// "adam" (eps 1e-4), "sgd" or "rmsprop" (eps 1e-5) over the model's parameters, as PRiSM
// sets them up; anything else is a usage Error.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum,
                                                        SampleRNN& model);

// Window w of a batch as the (B, lookback + seq_len) tensor the model reads.
torch::Tensor window_tensor(const Batch& batch, int w, const torch::Device& device);

}  // namespace srnn
