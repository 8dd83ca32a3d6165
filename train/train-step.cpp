#include "train/train-step.h"

#include "core/error.h"

namespace srnn {
namespace {

// Logits (B, T, q) under autocast, returned in fp32 so the loss is computed in fp32.
torch::Tensor forward_logits(SampleRNN& model, const torch::Tensor& x, ModelState& states, Precision precision) {
  AutocastScope autocast(precision, x.device());
  return model->forward(x, states).to(torch::kFloat32);
}

StepResult metrics(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& loss) {
  StepResult r;
  r.loss = loss.item<double>();
  r.accuracy = logits.argmax(-1).eq(targets).to(torch::kFloat64).mean().item<double>();
  return r;
}

}  // namespace

StepResult train_step(SampleRNN& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                      ModelState& states, const StepOptions& o) {
  const int64_t L = model->config().lookback(), q = model->config().q_levels;
  const torch::Tensor targets = x.narrow(1, L, x.size(1) - L);
  const torch::Tensor logits = forward_logits(model, x, states, o.precision);  // (B, T, q)
  const torch::Tensor loss = torch::cross_entropy_loss(logits.reshape({-1, q}), targets.reshape({-1}));
  // Dropping the gradients instead of zeroing them saves a pass over every parameter.
  const std::vector<torch::Tensor> params = model->parameters();
  for (auto p : params) p.mutable_grad() = torch::Tensor();
  const double scale = o.scaler != nullptr ? o.scaler->scale() : 1.0;
  (scale == 1.0 ? loss : loss * scale).backward();
  detach_state(states);
  StepResult r;
  {
    torch::NoGradGuard ng;
    r = metrics(logits.detach(), targets, loss.detach());
  }
  if (o.after_backward) o.after_backward(r);
  if (o.scaler != nullptr && !o.scaler->unscale(params)) {
    r.skipped = true;
    return r;
  }
  torch::nn::utils::clip_grad_norm_(params, o.clip_norm);
  optimizer.step();
  return r;
}

StepResult eval_step(SampleRNN& model, const torch::Tensor& x, ModelState& states, Precision precision) {
  torch::NoGradGuard ng;
  const int64_t L = model->config().lookback(), q = model->config().q_levels;
  const torch::Tensor targets = x.narrow(1, L, x.size(1) - L);
  const torch::Tensor logits = forward_logits(model, x, states, precision);
  const torch::Tensor loss = torch::cross_entropy_loss(logits.reshape({-1, q}), targets.reshape({-1}));
  return metrics(logits, targets, loss);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum,
                                                        SampleRNN& model) {
  if (name == "adam") {
    return std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(learning_rate).eps(1e-4));
  }
  if (name == "sgd") {
    return std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(learning_rate).momentum(momentum));
  }
  if (name == "rmsprop") {
    return std::make_unique<torch::optim::RMSprop>(
        model->parameters(), torch::optim::RMSpropOptions(learning_rate).momentum(momentum).eps(1e-5));
  }
  throw Error(ErrorKind::kUsage, "unknown --optimizer '" + name + "'", "choose adam, sgd or rmsprop");
}

torch::Tensor window_tensor(const Batch& batch, int w, const torch::Device& device) {
  return torch::tensor(batch.window(w), torch::kLong).view({batch.batch_size, -1}).to(device);
}

}  // namespace srnn
