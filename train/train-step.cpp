#include "train/train-step.h"

namespace srnn {
namespace {

StepResult metrics(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& loss) {
  StepResult r;
  r.loss = loss.item<double>();
  r.accuracy = logits.argmax(-1).eq(targets).to(torch::kFloat64).mean().item<double>();
  return r;
}

}  // namespace

StepResult train_step(SampleRNN& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                      ModelState& states, double clip_norm) {
  const int64_t L = model->config().lookback(), q = model->config().q_levels;
  const torch::Tensor targets = x.narrow(1, L, x.size(1) - L);
  const torch::Tensor logits = model->forward(x, states);  // (B, T, q)
  const torch::Tensor loss = torch::cross_entropy_loss(logits.reshape({-1, q}), targets.reshape({-1}));
  // Dropping the gradients instead of zeroing them saves a pass over every parameter.
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(model->parameters(), clip_norm);
  optimizer.step();
  detach_state(states);
  torch::NoGradGuard ng;
  return metrics(logits.detach(), targets, loss.detach());
}

StepResult eval_step(SampleRNN& model, const torch::Tensor& x, ModelState& states) {
  torch::NoGradGuard ng;
  const int64_t L = model->config().lookback(), q = model->config().q_levels;
  const torch::Tensor targets = x.narrow(1, L, x.size(1) - L);
  const torch::Tensor logits = model->forward(x, states);
  const torch::Tensor loss = torch::cross_entropy_loss(logits.reshape({-1, q}), targets.reshape({-1}));
  return metrics(logits, targets, loss);
}

}  // namespace srnn
