// One training step: forward, cross-entropy, backward, gradient clipping to global norm 5,
// optimiser step. Shared by the trainer and the training benchmark.
#pragma once

#include <torch/torch.h>

#include "train/model.h"

namespace srnn {

struct StepResult {
  double loss = 0;       // mean cross-entropy in nats
  double accuracy = 0;   // fraction of argmax hits
};

// x: (B, L + T) levels. Updates states (detached afterwards) and the parameters.
StepResult train_step(SampleRNN& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                      ModelState& states, double clip_norm = 5.0);

// Loss and accuracy without updating anything (validation).
StepResult eval_step(SampleRNN& model, const torch::Tensor& x, ModelState& states);

}  // namespace srnn
