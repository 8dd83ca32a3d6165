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

// The optimiser keys its per-parameter state by the parameter's TensorImpl.
inline void* state_key(const torch::Tensor& p) { return p.unsafeGetTensorImpl(); }

// Keras's Adam, as PRiSM trains with it (tf.keras.optimizers.Adam(lr, epsilon=1e-4)):
// epsilon is "epsilon hat", added after the bias correction,
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
//   p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).
// LibTorch's Adam adds eps before it: the same update with eps * sqrt(1 - b2^t), 31.6x
// smaller at t = 1 for b2 = 0.999. The state is LibTorch's AdamParamState (exp_avg = m,
// exp_avg_sq = v, step = t), so checkpoints store it as they store LibTorch's Adam.
class KerasAdam : public torch::optim::Adam {
 public:
  KerasAdam(const std::vector<torch::Tensor>& params, const torch::optim::AdamOptions& options)
      : torch::optim::Adam(params, options) {}
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// Keras's RMSprop, as PRiSM trains with it (tf.keras.optimizers.RMSprop(lr, momentum,
// epsilon=1e-5), rho 0.9): epsilon inside the square root, the learning rate inside the
// momentum,
//   v = rho v + (1 - rho) g^2,  mom = momentum mom + lr g / sqrt(v + eps),  p -= mom
// (p -= lr g / sqrt(v + eps) without momentum). State: RMSpropParamState (square_avg = v,
// momentum_buffer = mom, step).
class KerasRMSprop : public torch::optim::RMSprop {
 public:
  KerasRMSprop(const std::vector<torch::Tensor>& params, const torch::optim::RMSpropOptions& options)
      : torch::optim::RMSprop(params, options) {}
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// The optimisers of PRiSM's flags over the model's parameters. style "keras" (the default):
// "adam" is KerasAdam (epsilon hat 1e-4), "rmsprop" KerasRMSprop (rho 0.9, epsilon 1e-5),
// as PRiSM's TensorFlow runs them; style "torch": LibTorch's Adam (eps 1e-4) and RMSprop
// (alpha 0.99, eps 1e-5). "sgd" is LibTorch's SGD with momentum either way. Anything else is
// a usage Error.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum,
                                                        SampleRNN& model, const std::string& style = "keras");

// Window w of a batch as the (B, lookback + seq_len) tensor the model reads.
torch::Tensor window_tensor(const Batch& batch, int w, const torch::Device& device);

}  // namespace srnn
