#include "train/train-step.h"

#include <cmath>

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

namespace {

// An optimiser step's closure, as LibTorch's own optimisers run it: with gradients on.
torch::Tensor run_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

}  // namespace

torch::Tensor KerasAdam::step(LossClosure closure) {
  const torch::Tensor loss = run_closure(closure);
  torch::NoGradGuard ng;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor& g = p.grad();
      auto& slot = state()[state_key(p)];
      if (!slot) {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(s);
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
      s.step(s.step() + 1);
      const double t = static_cast<double>(s.step());
      s.exp_avg().mul_(b1).add_(g, 1 - b1);
      s.exp_avg_sq().mul_(b2).addcmul_(g, g, 1 - b2);
      const double alpha = o.lr() * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      p.addcdiv_(s.exp_avg(), s.exp_avg_sq().sqrt().add_(o.eps()), -alpha);
    }
  }
  return loss;
}

torch::Tensor KerasRMSprop::step(LossClosure closure) {
  const torch::Tensor loss = run_closure(closure);
  torch::NoGradGuard ng;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::RMSpropOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor& g = p.grad();
      auto& slot = state()[state_key(p)];
      if (!slot) {
        auto s = std::make_unique<torch::optim::RMSpropParamState>();
        s->step(0);
        s->square_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        if (o.momentum() > 0) s->momentum_buffer(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(s);
      }
      auto& s = static_cast<torch::optim::RMSpropParamState&>(*slot);
      s.step(s.step() + 1);
      s.square_avg().mul_(o.alpha()).addcmul_(g, g, 1 - o.alpha());
      const torch::Tensor increment = g * (s.square_avg() + o.eps()).rsqrt_() * o.lr();
      if (o.momentum() > 0) {
        s.momentum_buffer().mul_(o.momentum()).add_(increment);
        p.sub_(s.momentum_buffer());
      } else {
        p.sub_(increment);
      }
    }
  }
  return loss;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum,
                                                        SampleRNN& model, const std::string& style) {
  if (style != "keras" && style != "torch") {
    throw Error(ErrorKind::kUsage, "unknown --optimizer_style '" + style + "'", "choose keras or torch");
  }
  const bool keras = style == "keras";
  if (name == "adam") {
    const auto o = torch::optim::AdamOptions(learning_rate).eps(1e-4);
    if (keras) return std::make_unique<KerasAdam>(model->parameters(), o);
    return std::make_unique<torch::optim::Adam>(model->parameters(), o);
  }
  if (name == "sgd") {
    return std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(learning_rate).momentum(momentum));
  }
  if (name == "rmsprop") {
    if (keras) {
      return std::make_unique<KerasRMSprop>(model->parameters(),
                                            torch::optim::RMSpropOptions(learning_rate).alpha(0.9).momentum(momentum).eps(1e-5));
    }
    return std::make_unique<torch::optim::RMSprop>(
        model->parameters(), torch::optim::RMSpropOptions(learning_rate).momentum(momentum).eps(1e-5));
  }
  throw Error(ErrorKind::kUsage, "unknown --optimizer '" + name + "'", "choose adam, sgd or rmsprop");
}

torch::Tensor window_tensor(const Batch& batch, int w, const torch::Device& device) {
  return torch::tensor(batch.window(w), torch::kLong).view({batch.batch_size, -1}).to(device);
}

}  // namespace srnn
