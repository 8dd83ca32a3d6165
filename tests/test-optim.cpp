// PRiSM's optimisers: KerasAdam and KerasRMSprop against Keras's update rules, written out
// here in double precision from tf.keras's Adam and RMSprop, over many steps with gradients
// of changing scale and a learning rate that changes between steps.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "train/train-step.h"

namespace srnn {
namespace {

constexpr int kParams = 40;
constexpr int kSteps = 1500;

// Gradient i of step t: normal, with a scale that sweeps six decades, so that epsilon matters
// in some steps and not in others.
std::vector<double> gradient(std::mt19937& rng, int t) {
  std::normal_distribution<double> n(0.0, 1.0);
  const double scale = std::pow(10.0, -6.0 + 6.0 * (0.5 + 0.5 * std::sin(t * 0.01)));
  std::vector<double> g(kParams);
  for (double& x : g) x = n(rng) * scale;
  return g;
}

double learning_rate(int t) { return 1e-3 * (t < 300 ? (t + 1) / 300.0 : std::exp(-1e-3 * (t - 300))); }

double max_relative_difference(const torch::Tensor& p, const std::vector<double>& ref) {
  const auto a = p.accessor<double, 1>();
  double worst = 0;
  for (int i = 0; i < kParams; ++i) worst = std::max(worst, std::fabs(a[i] - ref[i]) / std::max(1e-12, std::fabs(ref[i])));
  return worst;
}

// Runs `opt` on p for kSteps and `reference(t, g, lr)` beside it; returns the largest
// relative difference of the parameters seen over all steps.
template <typename Reference>
double follow(torch::optim::Optimizer& opt, torch::Tensor& p, std::vector<double>& ref, Reference reference) {
  std::mt19937 rng(7);
  double worst = 0;
  for (int t = 1; t <= kSteps; ++t) {
    const std::vector<double> g = gradient(rng, t);
    const double lr = learning_rate(t);
    p.mutable_grad() = torch::tensor(g, torch::kFloat64);
    for (auto& group : opt.param_groups()) group.options().set_lr(lr);
    opt.step();
    reference(t, g, lr);
    worst = std::max(worst, max_relative_difference(p, ref));
  }
  return worst;
}

std::vector<double> initial() {
  std::vector<double> p(kParams);
  for (int i = 0; i < kParams; ++i) p[i] = 0.1 * std::sin(1.0 + i);
  return p;
}

// tf.keras Adam.update_step: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
// alpha = lr sqrt(1 - b2^t) / (1 - b1^t); var -= m alpha / (sqrt(v) + epsilon).
TEST(KerasOptimizers, AdamFollowsKerasWithEpsilonAfterTheBiasCorrection) {
  std::vector<double> ref = initial(), m(kParams, 0.0), v(kParams, 0.0);
  torch::Tensor p = torch::tensor(ref, torch::kFloat64).requires_grad_(true);
  KerasAdam opt({p}, torch::optim::AdamOptions(1e-3).eps(1e-4));
  const double b1 = 0.9, b2 = 0.999, eps = 1e-4;
  const double worst = follow(opt, p, ref, [&](int t, const std::vector<double>& g, double lr) {
    const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int i = 0; i < kParams; ++i) {
      m[i] += (g[i] - m[i]) * (1 - b1);
      v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
      ref[i] -= m[i] * alpha / (std::sqrt(v[i]) + eps);
    }
  });
  EXPECT_LT(worst, 1e-10);
  const auto& s = static_cast<torch::optim::AdamParamState&>(*opt.state().at(state_key(p)));
  EXPECT_EQ(s.step(), kSteps);
  EXPECT_NEAR(s.exp_avg()[0].item<double>(), m[0], 1e-12 + 1e-10 * std::fabs(m[0]));
  EXPECT_NEAR(s.exp_avg_sq()[0].item<double>(), v[0], 1e-10 * std::fabs(v[0]));
}

// LibTorch's Adam with the same eps is another optimiser: its first steps differ most.
TEST(KerasOptimizers, LibTorchsAdamIsNotKerasAdam) {
  std::vector<double> a0 = initial();
  torch::Tensor a = torch::tensor(a0, torch::kFloat64).requires_grad_(true);
  torch::Tensor b = torch::tensor(a0, torch::kFloat64).requires_grad_(true);
  KerasAdam keras({a}, torch::optim::AdamOptions(1e-3).eps(1e-4));
  torch::optim::Adam torch_adam({b}, torch::optim::AdamOptions(1e-3).eps(1e-4));
  a.mutable_grad() = torch::full({kParams}, 1e-5, torch::kFloat64);
  b.mutable_grad() = a.grad().clone();
  keras.step();
  torch_adam.step();
  // At t = 1 both move by lr g / (|g| + e): LibTorch with e = eps, Keras with
  // e = eps / sqrt(1 - b2), 31.6 times larger. For g = 1e-5: lr / 11 against lr / 317.2.
  EXPECT_NEAR((torch::tensor(a0, torch::kFloat64) - a).abs().max().item<double>(), 1e-3 / (1 + 10 / std::sqrt(1e-3)), 1e-12);
  EXPECT_NEAR((torch::tensor(a0, torch::kFloat64) - b).abs().max().item<double>(), 1e-3 / 11, 1e-12);
}

// tf.keras RMSprop.update_step (centered False): v = rho v + (1 - rho) g^2;
// increment = lr g / sqrt(v + epsilon); with momentum, mom = momentum mom + increment and
// var -= mom, else var -= increment.
void check_rmsprop(double momentum) {
  std::vector<double> ref = initial(), v(kParams, 0.0), mom(kParams, 0.0);
  torch::Tensor p = torch::tensor(ref, torch::kFloat64).requires_grad_(true);
  KerasRMSprop opt({p}, torch::optim::RMSpropOptions(1e-3).alpha(0.9).momentum(momentum).eps(1e-5));
  const double rho = 0.9, eps = 1e-5;
  const double worst = follow(opt, p, ref, [&](int, const std::vector<double>& g, double lr) {
    for (int i = 0; i < kParams; ++i) {
      v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
      const double increment = lr * g[i] / std::sqrt(v[i] + eps);
      if (momentum > 0) {
        mom[i] = momentum * mom[i] + increment;
        ref[i] -= mom[i];
      } else {
        ref[i] -= increment;
      }
    }
  });
  EXPECT_LT(worst, 1e-10) << "momentum " << momentum;
}

TEST(KerasOptimizers, RmspropFollowsKerasWithTheRateInsideTheMomentum) {
  check_rmsprop(0.9);
  check_rmsprop(0.0);
}

TEST(KerasOptimizers, PrismsFlagsGiveKerasOptimisersAndTorchStyleGivesLibTorchs) {
  ModelConfig c;
  c.frame_sizes = {4, 16};
  c.dim = 8;
  c.num_rnn_layers = 1;
  SampleRNN model(c);
  EXPECT_NE(dynamic_cast<KerasAdam*>(make_optimizer("adam", 1e-3, 0.9, model).get()), nullptr);
  EXPECT_NE(dynamic_cast<KerasRMSprop*>(make_optimizer("rmsprop", 1e-3, 0.9, model).get()), nullptr);
  EXPECT_EQ(dynamic_cast<KerasAdam*>(make_optimizer("adam", 1e-3, 0.9, model, "torch").get()), nullptr);
  EXPECT_EQ(dynamic_cast<KerasRMSprop*>(make_optimizer("rmsprop", 1e-3, 0.9, model, "torch").get()), nullptr);
  EXPECT_THROW(make_optimizer("adam", 1e-3, 0.9, model, "tf"), Error);
}

}  // namespace
}  // namespace srnn
