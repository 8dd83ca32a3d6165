// The LibTorch model: gradients against central differences in double precision, the
// table and GEMM forms against the layers they replace, causality, and overfitting.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>

#include "core/model-spec.h"
#include "train/gru.h"
#include "train/model.h"
#include "train/train-step.h"

namespace srnn {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.seq_len = 32;
  c.frame_sizes = {4, 16};
  c.dim = 6;
  c.num_rnn_layers = 2;
  c.q_levels = 256;
  c.emb_size = 5;
  return c;
}

std::string describe(const ModelConfig& c) { return to_json(c).dump(); }

// Checks d(loss)/d(param) for a few elements of every parameter by central differences.
// With `dropout`, the model runs in training mode and every evaluation draws the same masks
// (the generator is reseeded), so the gradient through the dropout is checked too.
void expect_gradients_match(const ModelConfig& c, int64_t batch = 2, bool dropout = false) {
  torch::manual_seed(3);
  SampleRNN model(c);
  model->to(torch::kFloat64);
  if (dropout) model->train();
  else model->eval();
  {
    // Biases start at exactly 0, so a position whose hidden units are all dead has a
    // pre-activation of exactly 0 in the next ReLU: a kink where central differences give
    // 1/2 and autograd 0. Moving every parameter off its initial value avoids that.
    torch::NoGradGuard ng;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  const torch::Tensor x = torch::randint(0, c.q_levels, {batch, c.lookback() + c.seq_len}, torch::kLong);
  const torch::Tensor mix = torch::randn({batch, c.seq_len, c.q_levels}, torch::kFloat64);
  // A fixed random linear functional of the logits, plus the loss, exercises every path.
  auto loss_fn = [&] {
    torch::manual_seed(17);  // the same dropout masks every time
    ModelState s = model->initial_state(batch);
    const torch::Tensor logits = model->forward(x, s);
    return (logits * mix).sum() +
           torch::cross_entropy_loss(logits.reshape({-1, c.q_levels}), x.narrow(1, c.lookback(), c.seq_len).reshape({-1}));
  };
  model->zero_grad();
  loss_fn().backward();
  const double eps = 1e-6;
  // Embedding rows of levels the sample tier never reads have no gradient at all: check rows
  // of levels it does read, x[:, L - F_1 : L + T - 1], so that a lost gradient shows.
  const int64_t L = c.lookback(), F1 = c.frame_sizes[0], emb = c.embedding_size();
  const std::vector<int64_t> read_levels = {x[0][L - F1].item<int64_t>(), x[1][L + c.seq_len / 2].item<int64_t>(),
                                            x[1][L + c.seq_len - 2].item<int64_t>()};
  int checked = 0, nonzero = 0;
  for (auto& item : model->named_parameters()) {
    torch::Tensor p = item.value();
    const torch::Tensor grad = p.grad().clone();
    torch::Tensor flat = p.data().view({-1});
    std::vector<int64_t> indices = {0, flat.numel() / 2, flat.numel() - 1};
    if (item.key() == "sample.embedding.weight") {
      indices = {read_levels[0] * emb, read_levels[1] * emb + emb / 2, read_levels[2] * emb + emb - 1};
    }
    double largest_numeric = 0.0;
    for (int64_t i : indices) {
      const double orig = flat[i].item<double>();
      double plus, minus;
      {
        torch::NoGradGuard ng;
        flat[i] = orig + eps;
        plus = loss_fn().item<double>();
        flat[i] = orig - eps;
        minus = loss_fn().item<double>();
        flat[i] = orig;
      }
      const double numeric = (plus - minus) / (2 * eps);
      const double analytic = grad.view({-1})[i].item<double>();
      // Central differences in double with eps 1e-6 are off by at most 7e-9 here (rounding of
      // the loss over 2 eps): 1e-7 leaves a 15x margin yet catches a gradient that is missing.
      EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-6 * std::fabs(numeric))
          << item.key() << "[" << i << "] in " << describe(c);
      ++checked;
      nonzero += std::fabs(numeric) > 1e-6;
      largest_numeric = std::max(largest_numeric, std::fabs(numeric));
    }
    // A parameter the loss does not depend on would pass the comparison as 0 == 0.
    EXPECT_GT(largest_numeric, 1e-6) << item.key() << " does not move the loss in " << describe(c);
  }
  EXPECT_GT(checked, 20);
  // Only units a ReLU keeps dead have zero gradients; most checked elements must not.
  EXPECT_GE(nonzero, checked * 9 / 10) << "of " << checked << " in " << describe(c);
}

TEST(ModelGradients, ThreeTierGru) { expect_gradients_match(tiny_config()); }

TEST(ModelGradients, TwoTierLstmWithSkipConnections) {
  ModelConfig c = tiny_config();
  c.frame_sizes = {8};
  c.seq_len = 16;
  c.rnn_type = RnnType::kLstm;
  c.skip_conn = true;
  expect_gradients_match(c);
}

TEST(ModelGradients, FourTierWeightNormLearnedH0Linear) {
  ModelConfig c = tiny_config();
  c.frame_sizes = {2, 4, 8};
  c.seq_len = 16;
  c.weight_norm = true;
  c.learn_h0 = true;
  c.skip_conn = true;
  c.q_type = QType::kLinear;
  c.q_levels = 16;
  c.emb_size = 0;
  expect_gradients_match(c);
  c.rnn_type = RnnType::kLstm;
  expect_gradients_match(c);
}

TEST(ModelGradients, ThroughDropoutInEveryLayerWithSkipConnections) {
  ModelConfig c = tiny_config();
  c.rnn_dropout = 0.3;
  c.skip_conn = true;
  expect_gradients_match(c, 2, /*dropout=*/true);
  c.rnn_type = RnnType::kLstm;
  c.learn_h0 = true;
  expect_gradients_match(c, 2, /*dropout=*/true);
}

// PRiSM's frame tier written out with LibTorch's own GRU and LSTM: the input layer (plus the
// conditioning), then per layer Keras input dropout and the RNN; with skip_conn the first
// layer reads concat(x, x) and the output is sum_l skip_l(h_l); then the upsampling.
torch::Tensor prism_frame_tier(FrameTier& tier, const ModelConfig& c, int k, const torch::Tensor& samples,
                               const torch::Tensor& cond, bool training) {
  const int64_t B = samples.size(0), F = c.frame_sizes[k], n = samples.size(1) / F;
  torch::Tensor x = tier->input->forward(frame_input(samples.reshape({B, n, F}), c.q_levels, torch::kFloat64));
  if (cond.defined()) x = x + cond;
  torch::Tensor out;
  for (int l = 0; l < c.num_rnn_layers; ++l) {
    torch::Tensor in = c.skip_conn && l == 0 ? torch::cat({x, x}, 2) : x;
    if (c.rnn_dropout > 0) in = torch::dropout(in, c.rnn_dropout, training);
    const auto zeros = torch::zeros({1, B, c.dim}, torch::kFloat64);
    const std::vector<torch::Tensor> w = {tier->w_ih[l], tier->w_hh[l], tier->b_ih[l], tier->b_hh[l]};
    // Contiguous, as the model's: a dropout mask is drawn in memory order, and LibTorch 2.x
    // returns its RNNs' output as a time-major view.
    x = (c.rnn_type == RnnType::kGru ? std::get<0>(torch::gru(in, zeros, w, true, 1, 0.0, false, false, true))
                                     : std::get<0>(torch::lstm(in, {zeros, zeros}, w, true, 1, 0.0, false, false, true)))
            .contiguous();
    if (c.skip_conn) out = l == 0 ? tier->skip[l]->forward(x) : out + tier->skip[l]->forward(x);
  }
  return tier->upsample(c.skip_conn ? out : x);
}

TEST(ModelForms, FrameTierIsPrismsWiring) {
  for (const bool skip : {false, true}) {
    for (const RnnType rnn : {RnnType::kGru, RnnType::kLstm}) {
      ModelConfig c = tiny_config();
      c.skip_conn = skip;
      c.rnn_type = rnn;
      c.num_rnn_layers = 3;
      c.rnn_dropout = 0.4;
      torch::manual_seed(8);
      FrameTier tier(c, 0);
      tier->to(torch::kFloat64);
      const int G = rnn == RnnType::kGru ? 3 : 4;
      EXPECT_EQ(tier->w_ih[0].sizes(), (std::vector<int64_t>{G * c.dim, skip ? 2 * c.dim : c.dim}));
      EXPECT_EQ(tier->w_ih[1].sizes(), (std::vector<int64_t>{G * c.dim, c.dim}));
      ASSERT_EQ(tier->skip.size(), skip ? 3u : 0u);
      if (skip) {
        EXPECT_TRUE(tier->skip[0]->b.defined());   // Dense(use_bias=(i == 0))
        EXPECT_FALSE(tier->skip[1]->b.defined());
        // Keras he_uniform: U(-sqrt(6 / fan_in), sqrt(6 / fan_in)); of dim * dim draws the
        // largest reaches half the bound unless the scale is wrong (chance 2^-36).
        const double bound = std::sqrt(6.0 / c.dim), largest = tier->skip[1]->w.abs().max().item<double>();
        EXPECT_LE(largest, bound);
        EXPECT_GT(largest, 0.5 * bound);
      }
      const torch::Tensor samples = torch::randint(0, 256, {2, 5 * c.frame_sizes[0]}, torch::kLong);
      const torch::Tensor cond = torch::randn({2, 5, c.dim}, torch::kFloat64);
      for (const bool training : {false, true}) {
        tier->train(training);
        TierState state = tier->initial_state(2);
        for (auto& h : state.h) h = h.to(torch::kFloat64);
        for (auto& cs : state.c) cs = cs.to(torch::kFloat64);
        torch::NoGradGuard ng;
        torch::manual_seed(21);  // the same dropout masks for both
        const torch::Tensor got = tier->forward(samples, cond, state);
        torch::manual_seed(21);
        const torch::Tensor want = prism_frame_tier(tier, c, 0, samples, cond, training);
        EXPECT_LT((got - want).abs().max().item<double>(), 1e-10)
            << "skip " << skip << " lstm " << (rnn == RnnType::kLstm) << " training " << training;
      }
    }
  }
}

TEST(Model, RnnDropoutActsOnASingleLayerToo) {
  // Keras's dropout applies to every layer's input, the first included: a one-layer tier
  // in training mode gives different outputs for different masks.
  ModelConfig c = tiny_config();
  c.num_rnn_layers = 1;
  c.rnn_dropout = 0.5;
  torch::manual_seed(2);
  FrameTier tier(c, 1);
  const torch::Tensor samples = torch::randint(0, 256, {2, 3 * c.frame_sizes[1]}, torch::kLong);
  torch::NoGradGuard ng;
  TierState s1 = tier->initial_state(2), s2 = tier->initial_state(2);
  const torch::Tensor a = tier->forward(samples, {}, s1), b = tier->forward(samples, {}, s2);
  EXPECT_FALSE(torch::allclose(a, b));
  tier->eval();
  s1 = tier->initial_state(2);
  s2 = tier->initial_state(2);
  EXPECT_TRUE(torch::equal(tier->forward(samples, {}, s1), tier->forward(samples, {}, s2)));
}

TEST(Model, ItsParametersAreTheConfigsWeightShapes) {
  // weight_shapes() is what checkpoint checks and the engine expect: it must list exactly
  // the LibTorch model's parameters, with their shapes, for every kind of model.
  for (const bool skip : {false, true}) {
    for (const bool wn : {false, true}) {
      for (const RnnType rnn : {RnnType::kGru, RnnType::kLstm}) {
        ModelConfig c = tiny_config();
        c.frame_sizes = {2, 4, 16};
        c.skip_conn = skip;
        c.weight_norm = wn;
        c.rnn_type = rnn;
        c.learn_h0 = wn;
        SampleRNN model(c);
        std::map<std::string, std::vector<std::int64_t>> params;
        for (const auto& item : model->named_parameters()) {
          params[item.key()] = std::vector<std::int64_t>(item.value().sizes().begin(), item.value().sizes().end());
        }
        EXPECT_EQ(params, weight_shapes(c)) << describe(c);
      }
    }
  }
}

TEST(ModelForms, ConvTableEqualsEmbeddingThenConvolution) {
  const ModelConfig c = tiny_config();
  torch::manual_seed(1);
  SampleTier tier(c);
  tier->to(torch::kFloat64);
  const int64_t B = 3, T = 20, F1 = c.frame_sizes[0];
  const torch::Tensor x = torch::randint(0, c.q_levels, {B, T + F1 - 1}, torch::kLong);
  const torch::Tensor cond = torch::randn({B, T, c.dim}, torch::kFloat64);
  // The layers the table replaces: embedding (B, T+F1-1, emb) -> Conv1d(emb -> dim, kernel F1).
  const torch::Tensor emb = torch::embedding(tier->embedding, x).transpose(1, 2);
  torch::Tensor h = torch::conv1d(emb, tier->input_weight.permute({2, 0, 1})).transpose(1, 2) + cond;
  h = torch::relu(tier->hidden1->forward(h));
  h = torch::relu(tier->hidden2->forward(h));
  const torch::Tensor expected = tier->output->forward(h);
  const torch::Tensor got = tier->forward(x, cond);
  const double nmse = ((got - expected).pow(2).sum() / expected.pow(2).sum()).item<double>();
  EXPECT_LT(nmse, 1e-24) << "max abs diff " << (got - expected).abs().max().item<double>();
}

TEST(ModelForms, UpsampleGemmEqualsTransposedConvolution) {
  const ModelConfig c = tiny_config();
  torch::manual_seed(2);
  FrameTier tier(c, 1);
  tier->to(torch::kFloat64);
  const torch::Tensor h = torch::randn({2, 5, c.dim}, torch::kFloat64);
  const torch::Tensor expected =
      torch::conv_transpose1d(h.transpose(1, 2), tier->upsample_weight.permute({0, 2, 1}), {}, c.upsample_ratio(1))
          .transpose(1, 2);
  const torch::Tensor got = tier->upsample(h);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_LT((got - expected).abs().max().item<double>(), 1e-12);
}

TEST(ModelForms, FusedGruEqualsTorchGru) {
  // Same outputs, final state and gradients as torch::gru, in double, with the output used
  // twice (as skip connections do) and gradients flowing into the final state.
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  for (int64_t n : {1, 2, 7}) {
    for (int64_t B : {1, 3}) {
      torch::manual_seed(n * 10 + B);
      const int64_t I = 5, H = 4;
      std::vector<torch::Tensor> in = {torch::randn({B, n, I}, opts), torch::randn({B, H}, opts),
                                       torch::randn({3 * H, I}, opts), torch::randn({3 * H, H}, opts),
                                       torch::randn({3 * H}, opts), torch::randn({3 * H}, opts)};
      for (auto& t : in) t.requires_grad_();
      const torch::Tensor up = torch::randn({B, n, H}, opts), up_h = torch::randn({B, H}, opts);
      std::vector<torch::Tensor> results[2];
      for (int variant = 0; variant < 2; ++variant) {
        torch::Tensor out, h;
        if (variant == 0) {
          auto r = torch::gru(in[0], in[1].unsqueeze(0), {in[2], in[3], in[4], in[5]}, true, 1, 0.0, false, false, true);
          out = std::get<0>(r);
          h = std::get<1>(r).squeeze(0);
        } else {
          std::tie(out, h) = gru_layer(in[0], in[1], in[2], in[3], in[4], in[5]);
        }
        ((out * up).sum() + (out.pow(2) * 0.5).sum() + (h * up_h).sum()).backward();
        results[variant] = {out.detach(), h.detach()};
        for (auto& t : in) {
          results[variant].push_back(t.grad().clone());
          t.mutable_grad() = torch::Tensor();
        }
      }
      for (std::size_t i = 0; i < results[0].size(); ++i) {
        EXPECT_LT((results[0][i] - results[1][i]).abs().max().item<double>(), 1e-12)
            << "tensor " << i << " (0 out, 1 h_n, then grads of x, h0, w_ih, w_hh, b_ih, b_hh), n=" << n << " B=" << B;
      }
    }
  }
}

TEST(ModelForms, FusedGruInFloatFollowsDouble) {
  // The float path runs the SIMD small-batch kernels; its outputs and gradients follow the
  // same layer computed in double, for the batch sizes the kernels treat differently.
  const int64_t n = 16, I = 32, H = 32;
  for (int64_t B : {1, 2, 3, 4, 5, 8}) {
    torch::manual_seed(B);
    const auto d = torch::TensorOptions().dtype(torch::kFloat64);
    std::vector<torch::Tensor> in = {torch::randn({B, n, I}, d), torch::randn({B, H}, d) * 0.5,
                                     torch::randn({3 * H, I}, d) * 0.2, torch::randn({3 * H, H}, d) * 0.2,
                                     torch::randn({3 * H}, d) * 0.1, torch::randn({3 * H}, d) * 0.1};
    const torch::Tensor up = torch::randn({B, n, H}, d), up_h = torch::randn({B, H}, d);
    std::vector<torch::Tensor> results[2];
    for (int variant = 0; variant < 2; ++variant) {
      std::vector<torch::Tensor> v;
      for (const auto& t : in) v.push_back((variant == 0 ? t.clone() : t.to(torch::kFloat32)).requires_grad_());
      auto [out, h] = gru_layer(v[0], v[1], v[2], v[3], v[4], v[5]);
      ((out * up.to(out.dtype())).sum() + (h * up_h.to(h.dtype())).sum()).backward();
      results[variant] = {out.detach(), h.detach()};
      for (auto& t : v) results[variant].push_back(t.grad());
    }
    for (std::size_t i = 0; i < results[0].size(); ++i) {
      const torch::Tensor ref = results[0][i], got = results[1][i].to(torch::kFloat64);
      const double err = ((got - ref).abs().max() / ref.abs().max()).item<double>();
      EXPECT_LT(err, 1e-5) << "tensor " << i << " (0 out, 1 h_n, then grads of x, h0, w_ih, w_hh, b_ih, b_hh), B=" << B;
    }
  }
}

TEST(Model, IsCausal) {
  ModelConfig c = tiny_config();
  c.seq_len = 64;
  torch::manual_seed(4);
  SampleRNN model(c);
  model->eval();
  const int64_t L = c.lookback();
  const torch::Tensor x = torch::randint(0, 256, {2, L + c.seq_len}, torch::kLong);
  ModelState s0 = model->initial_state(2);
  torch::NoGradGuard ng;
  const torch::Tensor base = model->forward(x, s0);
  for (int64_t t : {int64_t{0}, int64_t{3}, int64_t{15}, int64_t{16}, int64_t{40}, int64_t{63}}) {
    torch::Tensor y = x.clone();
    y.narrow(1, L + t, c.seq_len - t).random_(0, 256);  // change every sample at or after t
    ModelState s = model->initial_state(2);
    const torch::Tensor out = model->forward(y, s);
    // logits[:, t] predicts x[:, L + t] and must not see it.
    EXPECT_TRUE(torch::equal(out.narrow(1, 0, t + 1), base.narrow(1, 0, t + 1))) << "t=" << t;
    if (t + 1 < c.seq_len) {
      // logits[:, t + 1] reads x[:, L + t] through the sample tier, so it must see the change.
      EXPECT_FALSE(torch::equal(out.narrow(1, t + 1, 1), base.narrow(1, t + 1, 1))) << "t=" << t;
    }
  }
}

TEST(Model, OverfitsAShortPeriodicSignal) {
  ModelConfig c;
  c.seq_len = 64;
  c.frame_sizes = {4, 16};
  c.dim = 48;
  c.num_rnn_layers = 1;
  torch::manual_seed(0);
  torch::set_num_threads(1);
  SampleRNN model(c);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3).eps(1e-4));
  // A sawtooth with period 24 (not a multiple of the frame sizes), as mu-law levels.
  const int64_t B = 4, n = c.lookback() + 8 * c.seq_len;
  torch::Tensor row = torch::empty({n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) row[i] = 40 + (i % 24) * 7;
  const torch::Tensor data = row.unsqueeze(0).repeat({B, 1});
  double bits = 99;
  for (int epoch = 0; epoch < 40 && bits > 0.3; ++epoch) {
    ModelState states = model->initial_state(B);
    double sum = 0;
    for (int w = 0; w < 8; ++w) {
      const torch::Tensor x = data.narrow(1, w * c.seq_len, c.lookback() + c.seq_len);
      sum += train_step(model, opt, x, states).loss;
    }
    bits = sum / 8 / std::log(2.0);
  }
  EXPECT_LT(bits, 0.5);
}

// Noisy tones as levels (B, n): a signal with a few bits of entropy per sample, so that
// precision shows in the NLL a model reaches.
torch::Tensor noisy_tones(int64_t B, int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor t = torch::arange(n, torch::kFloat64).unsqueeze(0);
  const torch::Tensor f = torch::linspace(0.01, 0.05, B, torch::kFloat64).unsqueeze(1);
  const torch::Tensor x = 0.5 * torch::sin(2 * M_PI * f * t) + 0.05 * torch::randn({B, n}, gen, torch::kFloat64);
  return ((x.clamp(-1, 1) + 1) * 127.5).round().clamp(0, 255).to(torch::kLong);
}

// Mean NLL in bits per sample, in fp32, over the windows of `data`.
double eval_bits(SampleRNN& model, const torch::Tensor& data, int64_t windows) {
  const ModelConfig& c = model->config();
  ModelState states = model->initial_state(data.size(0));
  double sum = 0;
  for (int64_t w = 0; w < windows; ++w) {
    sum += eval_step(model, data.narrow(1, w * c.seq_len, c.lookback() + c.seq_len), states).loss;
  }
  return sum / windows / std::log(2.0);
}

TEST(Precision, AutocastRunsTheGemmsInBf16AndTheGruInFp32) {
  ModelConfig c = tiny_config();
  SampleRNN model(c);
  const torch::Tensor x = torch::randint(0, c.q_levels, {2, c.lookback() + c.seq_len}, torch::kLong);
  ModelState s = model->initial_state(2);
  const FrameTier& tier = model->tiers[0];
  const torch::Tensor gru_in = torch::randn({2, 3, c.dim}), gru_h0 = torch::zeros({2, c.dim});
  auto [fp32_out, fp32_h] = gru_layer(gru_in, gru_h0, tier->w_ih[0], tier->w_hh[0], tier->b_ih[0], tier->b_hh[0]);
  {
    AutocastScope autocast(Precision::kBf16, torch::kCPU);
    EXPECT_EQ(model->forward(x, s).scalar_type(), torch::kBFloat16);
    auto [out, h] = gru_layer(gru_in, gru_h0, tier->w_ih[0], tier->w_hh[0], tier->b_ih[0], tier->b_hh[0]);
    EXPECT_EQ(out.scalar_type(), torch::kFloat32);
    // Not merely fp32 on the way out: no step of the recurrence was rounded to bf16 (whose
    // relative step is 4e-3).
    EXPECT_TRUE(torch::allclose(out, fp32_out, 0.0, 1e-6))
        << "largest difference " << (out - fp32_out).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(h, fp32_h, 0.0, 1e-6))
        << "largest difference " << (h - fp32_h).abs().max().item<double>();
  }
  s = model->initial_state(2);
  EXPECT_EQ(model->forward(x, s).scalar_type(), torch::kFloat32);  // the scope has ended
}

TEST(Precision, UnderAutocastEveryRnnKeepsItsStateAndRecurrenceInFp32) {
  // LibTorch's CPU autocast sends oneDNN's LSTM (mkldnn_rnn_layer) into bf16, and its CUDA
  // autocast sends cuDNN's RNNs into fp16: a carried state in bf16 or fp16 would round every
  // window and would not fit a checkpoint. The model runs every RNN outside autocast.
  for (const RnnType type : {RnnType::kGru, RnnType::kLstm}) {
    ModelConfig c = tiny_config();
    c.rnn_type = type;
    torch::manual_seed(3);
    SampleRNN model(c);
    const torch::Tensor x = torch::randint(0, c.q_levels, {2, c.lookback() + c.seq_len}, torch::kLong);
    ModelState fp32 = model->initial_state(2), bf16 = model->initial_state(2);
    model->forward(x, fp32);
    {
      AutocastScope autocast(Precision::kBf16, torch::kCPU);
      EXPECT_EQ(model->forward(x, bf16).scalar_type(), torch::kBFloat16);
    }
    for (std::size_t k = 0; k < bf16.size(); ++k) {
      for (int l = 0; l < c.num_rnn_layers; ++l) {
        std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs = {{bf16[k].h[l], fp32[k].h[l]}};
        if (type == RnnType::kLstm) pairs.emplace_back(bf16[k].c[l], fp32[k].c[l]);
        for (const auto& [got, want] : pairs) {
          EXPECT_EQ(got.scalar_type(), torch::kFloat32) << (type == RnnType::kGru ? "GRU" : "LSTM") << " tier " << k << " layer " << l;
          EXPECT_EQ(got.sizes(), want.sizes());
        }
      }
    }
    // Not merely fp32 on the way out: given the same input, no step of the LSTM's
    // recurrence was rounded to bf16 (whose relative step is 4e-3).
    if (type == RnnType::kLstm) {
      const FrameTier& tier = model->tiers[0];
      const torch::Tensor in = torch::randn({2, 3, c.dim}), h0 = torch::randn({1, 2, c.dim}), c0 = torch::randn({1, 2, c.dim});
      const auto want = lstm_layer(in, h0, c0, tier->w_ih[0], tier->w_hh[0], tier->b_ih[0], tier->b_hh[0], false);
      AutocastScope autocast(Precision::kBf16, torch::kCPU);
      const auto got = lstm_layer(in, h0, c0, tier->w_ih[0], tier->w_hh[0], tier->b_ih[0], tier->b_hh[0], false);
      for (int i = 0; i < 3; ++i) {
        const torch::Tensor& g = i == 0 ? std::get<0>(got) : i == 1 ? std::get<1>(got) : std::get<2>(got);
        const torch::Tensor& w = i == 0 ? std::get<0>(want) : i == 1 ? std::get<1>(want) : std::get<2>(want);
        EXPECT_EQ(g.scalar_type(), torch::kFloat32) << "output " << i;
        EXPECT_TRUE(torch::allclose(g.to(torch::kFloat32), w, 0.0, 1e-6))
            << "output " << i << ": largest difference " << (g.to(torch::kFloat32) - w).abs().max().item<double>();
      }
    }
  }
}

TEST(Precision, Bf16TrainingReachesTheFp32NllWithinTwoHundredthsOfABit) {
  ModelConfig c;
  c.seq_len = 64;
  c.frame_sizes = {4, 16};
  c.dim = 32;
  c.num_rnn_layers = 1;
  torch::set_num_threads(1);
  const int64_t B = 4, windows = 8, n = c.lookback() + windows * c.seq_len;
  const torch::Tensor held_out = noisy_tones(B, n, 1000);
  double bits[2];
  for (const Precision p : {Precision::kFp32, Precision::kBf16}) {
    torch::manual_seed(0);
    SampleRNN model(c);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3).eps(1e-4));
    StepOptions so;
    so.precision = p;
    for (int epoch = 0; epoch < 25; ++epoch) {
      const torch::Tensor train = noisy_tones(B, n, epoch);  // fresh noise: nothing to memorise
      ModelState states = model->initial_state(B);
      for (int64_t w = 0; w < windows; ++w) {
        train_step(model, opt, train.narrow(1, w * c.seq_len, c.lookback() + c.seq_len), states, so);
      }
    }
    bits[p == Precision::kBf16] = eval_bits(model, held_out, windows);
  }
  std::printf("held-out NLL after 200 steps: fp32 %.4f, bf16 %.4f bits/sample\n", bits[0], bits[1]);
  EXPECT_LT(bits[0], 6.0);  // it learned something (8 bits is chance)
  EXPECT_NEAR(bits[1], bits[0], 0.02);
}

TEST(Precision, LossScalerSkipsOverflowsAndGrows) {
  LossScaler scaler(true, 1024.0, 2);
  torch::Tensor p = torch::zeros({3}, torch::requires_grad());
  p.mutable_grad() = torch::tensor({1024.0f, 2048.0f, 0.0f});
  EXPECT_TRUE(scaler.unscale({p}));
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0f, 2.0f, 0.0f})));
  p.mutable_grad() = torch::tensor({1.0f, INFINITY, 0.0f});
  EXPECT_FALSE(scaler.unscale({p}));
  EXPECT_EQ(scaler.scale(), 512.0);
  p.mutable_grad() = torch::ones({3});
  EXPECT_TRUE(scaler.unscale({p}));
  EXPECT_TRUE(scaler.unscale({p}));
  EXPECT_EQ(scaler.scale(), 1024.0);  // two good steps in a row
  EXPECT_EQ(LossScaler(false).scale(), 1.0);
}

}  // namespace
}  // namespace srnn
