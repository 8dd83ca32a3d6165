#include "train/model.h"

#include <cmath>

#include "core/model-spec.h"
#include "train/gru.h"

namespace srnn {
namespace {

// A module that only holds named parameters, so checkpoint names read "<holder>.weight".
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

// Keras glorot-uniform for a kernel with the given fans.
void glorot_uniform_(torch::Tensor w, double fan_in, double fan_out) {
  const double a = std::sqrt(6.0 / (fan_in + fan_out));
  torch::NoGradGuard ng;
  w.uniform_(-a, a);
}

// Keras glorot-normal: normal truncated at two standard deviations.
void glorot_normal_(torch::Tensor w, double fan_in, double fan_out) {
  const double stddev = std::sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978;
  torch::NoGradGuard ng;
  torch::Tensor t = torch::randn(w.sizes());
  // Redraw values beyond two standard deviations, as truncated_normal does.
  for (int i = 0; i < 16; ++i) {
    const torch::Tensor out = t.abs() > 2.0;
    if (!out.any().item<bool>()) break;
    t = torch::where(out, torch::randn(w.sizes()), t);
  }
  t.clamp_(-2.0, 2.0);
  w.copy_(t * stddev);
}

// Keras he-uniform for a linear layer's weight: U(-sqrt(6 / fan_in), sqrt(6 / fan_in)).
void he_uniform_(WLinear& layer, double fan_in) {
  const double a = std::sqrt(6.0 / fan_in);
  torch::NoGradGuard ng;
  if (!layer->weight_norm()) {
    layer->w.uniform_(-a, a);
    return;
  }
  layer->v.uniform_(-a, a);
  layer->g.copy_(layer->v.norm(2, {1}, /*keepdim=*/true));
}

}  // namespace

torch::Tensor frame_input(const torch::Tensor& levels, int q_levels, torch::ScalarType dtype) {
  const FrameInputScale s = frame_input_scale(q_levels);
  return levels.to(dtype) * s.scale + s.shift;
}

void detach_state(ModelState& states) {
  for (TierState& s : states) {
    for (auto& t : s.h) t = t.detach();
    for (auto& t : s.c) t = t.detach();
  }
}

ModelState rows_of(const ModelState& s, std::int64_t first, std::int64_t n, const torch::Device& device) {
  ModelState out = s;
  for (TierState& t : out) {
    for (auto& x : t.h) x = x.narrow(1, first, n).to(device).contiguous();
    for (auto& x : t.c) x = x.narrow(1, first, n).to(device).contiguous();
  }
  return out;
}

WLinearImpl::WLinearImpl(int in, int out, bool weight_norm, bool bias) : weight_norm_(weight_norm) {
  torch::Tensor init = torch::empty({out, in});
  glorot_uniform_(init, in, out);
  if (weight_norm_) {
    v = register_parameter("weight_v", init);
    g = register_parameter("weight_g", init.norm(2, {1}, /*keepdim=*/true).detach().clone());
  } else {
    w = register_parameter("weight", init);
  }
  if (bias) b = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor WLinearImpl::weight() {
  if (!weight_norm_) return w;
  return v * (g / v.norm(2, {1}, /*keepdim=*/true));
}

torch::Tensor WLinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight(), b); }

FrameTierImpl::FrameTierImpl(const ModelConfig& config, int tier)
    : config_(config), frame_size_(config.frame_sizes[tier]), ratio_(config.upsample_ratio(tier)) {
  const int dim = config.dim, G = gate_count(config.rnn_type);
  input = register_module("input", WLinear(frame_size_, dim, config.weight_norm));
  for (int l = 0; l < config.num_rnn_layers; ++l) {
    auto rnn = holder(*this, "rnn" + std::to_string(l));
    const int in = rnn_input_width(config, l);
    torch::Tensor wih = torch::empty({G * dim, in}), whh = torch::empty({G * dim, dim});
    glorot_uniform_(wih, in, G * dim);  // Keras kernel (in, G*dim)
    {
      torch::NoGradGuard ng;
      torch::nn::init::orthogonal_(whh);  // Keras recurrent kernel: orthogonal
    }
    torch::Tensor bih = torch::zeros({G * dim}), bhh = torch::zeros({G * dim});
    if (config.rnn_type == RnnType::kLstm) bih.narrow(0, kLstmForget * dim, dim).fill_(1.0);  // Keras unit_forget_bias
    w_ih.push_back(rnn->register_parameter("weight_ih", wih));
    w_hh.push_back(rnn->register_parameter("weight_hh", whh));
    b_ih.push_back(rnn->register_parameter("bias_ih", bih));
    b_hh.push_back(rnn->register_parameter("bias_hh", bhh));
    if (config.skip_conn) {
      // Keras Dense(dim, kernel_initializer='he_uniform', use_bias=(l == 0)).
      WLinear proj = register_module("skip" + std::to_string(l), WLinear(dim, dim, config.weight_norm, l == 0));
      he_uniform_(proj, dim);
      skip.push_back(proj);
    }
  }
  if (config.learn_h0) {
    h0 = register_parameter("h0", torch::zeros({config.num_rnn_layers, dim}));
    if (config.rnn_type == RnnType::kLstm) c0 = register_parameter("c0", torch::zeros({config.num_rnn_layers, dim}));
  }
  torch::Tensor up = torch::empty({dim, ratio_, dim});
  glorot_normal_(up, static_cast<double>(dim) * ratio_, static_cast<double>(dim) * ratio_);
  upsample_weight = holder(*this, "upsample")->register_parameter("weight", up);
}

TierState FrameTierImpl::initial_state(int64_t batch) {
  const auto opts = w_hh[0].options().requires_grad(false);
  TierState s;
  for (int l = 0; l < config_.num_rnn_layers; ++l) {
    if (h0.defined()) {
      s.h.push_back(h0[l].view({1, 1, -1}).expand({1, batch, config_.dim}).contiguous());
      if (c0.defined()) s.c.push_back(c0[l].view({1, 1, -1}).expand({1, batch, config_.dim}).contiguous());
    } else {
      s.h.push_back(torch::zeros({1, batch, config_.dim}, opts));
    }
    if (config_.rnn_type == RnnType::kLstm && !c0.defined()) s.c.push_back(torch::zeros({1, batch, config_.dim}, opts));
  }
  return s;
}

torch::Tensor FrameTierImpl::upsample(const torch::Tensor& h) {
  // out[b, t*r + j, o] = sum_i h[b, t, i] W[i, j, o]: one GEMM with W viewed as (dim, r * dim).
  const int64_t B = h.size(0), n = h.size(1), dim = config_.dim;
  return torch::mm(h.reshape({B * n, dim}), upsample_weight.view({dim, ratio_ * dim})).view({B, n * ratio_, dim});
}

torch::Tensor FrameTierImpl::forward(const torch::Tensor& samples, const torch::Tensor& cond, TierState& state) {
  const int64_t B = samples.size(0), n = samples.size(1) / frame_size_;
  // x: (B, n, F_k) -> (B, n, dim)
  torch::Tensor x = input->forward(frame_input(samples.reshape({B, n, frame_size_}), config_.q_levels, w_hh[0].scalar_type()));
  if (cond.defined()) x = x + cond;
  torch::Tensor skip_sum;
  for (int l = 0; l < config_.num_rnn_layers; ++l) {
    if (rnn_input_width(config_, l) == 2 * config_.dim) x = torch::cat({x, x}, -1);  // (B, n, 2 * dim)
    if (config_.rnn_dropout > 0.0) x = torch::dropout(x, config_.rnn_dropout, is_training());
    if (config_.rnn_type == RnnType::kGru) {
      auto [out, h] = gru_layer(x, state.h[l].squeeze(0), w_ih[l], w_hh[l], b_ih[l], b_hh[l]);
      x = out;
      state.h[l] = h.unsqueeze(0);
    } else {
      auto [out, h, c] = lstm_layer(x, state.h[l], state.c[l], w_ih[l], w_hh[l], b_ih[l], b_hh[l], is_training());
      x = out;
      state.h[l] = h;
      state.c[l] = c;
    }
    if (config_.skip_conn) {
      const torch::Tensor projected = skip[l]->forward(x);  // (B, n, dim)
      skip_sum = skip_sum.defined() ? skip_sum + projected : projected;
    }
  }
  return upsample(config_.skip_conn ? skip_sum : x);  // (B, n * r_k, dim)
}

SampleTierImpl::SampleTierImpl(const ModelConfig& config) : config_(config) {
  const int q = config.q_levels, emb = config.embedding_size(), dim = config.dim, F1 = config.frame_sizes[0];
  torch::Tensor e = torch::empty({q, emb});
  {
    torch::NoGradGuard ng;
    e.uniform_(-0.05, 0.05);  // Keras Embedding default
  }
  embedding = holder(*this, "embedding")->register_parameter("weight", e);
  torch::Tensor conv = torch::empty({emb, F1, dim});
  glorot_uniform_(conv, static_cast<double>(emb) * F1, static_cast<double>(dim) * F1);
  input_weight = holder(*this, "input")->register_parameter("weight", conv);
  hidden1 = register_module("hidden1", WLinear(dim, dim, config.weight_norm));
  hidden2 = register_module("hidden2", WLinear(dim, dim, config.weight_norm));
  output = register_module("output", WLinear(dim, q, config.weight_norm));
}

torch::Tensor SampleTierImpl::conv_table() {
  // T[level, j, d] = sum_e E[level, e] W[e, j, d]: one GEMM, (q, emb) . (emb, F_1 * dim).
  const int64_t q = config_.q_levels, F1 = config_.frame_sizes[0], dim = config_.dim;
  return torch::mm(embedding, input_weight.view({input_weight.size(0), F1 * dim})).view({q * F1, dim});
}

torch::Tensor SampleTierImpl::forward_with_table(const torch::Tensor& table, const torch::Tensor& samples,
                                                 const torch::Tensor& cond) {
  const int64_t B = samples.size(0), F1 = config_.frame_sizes[0];
  const int64_t T = samples.size(1) - F1 + 1;
  // idx[b, t, j] = samples[b, t + j] * F1 + j: (B*T*F1) rows of the table, summed per (b, t).
  const torch::Tensor offsets_j = torch::arange(F1, samples.options());
  const torch::Tensor idx = conv_table_row(samples.unfold(1, F1, 1), offsets_j, F1).reshape({-1});
  const torch::Tensor bag_offsets = torch::arange(0, B * T * F1, F1, samples.options());
  // CPU embedding_bag has no bf16 kernel: under CPU autocast the table is summed in fp32.
  const bool reduced = table.scalar_type() == torch::kBFloat16 || table.scalar_type() == torch::kHalf;
  const torch::Tensor t = table.is_cpu() && reduced ? table.to(torch::kFloat32) : table;
  torch::Tensor x = std::get<0>(torch::embedding_bag(t, idx, bag_offsets, false, /*mode=sum*/ 0));
  x = x.view({B, T, -1}) + cond;  // (B, T, dim)
  x = torch::relu(hidden1->forward(x));
  x = torch::relu(hidden2->forward(x));
  return output->forward(x);  // (B, T, q)
}

torch::Tensor SampleTierImpl::forward(const torch::Tensor& samples, const torch::Tensor& cond) {
  return forward_with_table(conv_table(), samples, cond);
}

SampleRNNImpl::SampleRNNImpl(const ModelConfig& config) : config_(config) {
  validate(config);
  auto list = register_module("tiers", torch::nn::ModuleList());
  for (int k = 0; k < config.n_frame_tiers(); ++k) {
    tiers.push_back(FrameTier(config, k));
    list->push_back(tiers.back());
  }
  sample = register_module("sample", SampleTier(config));
}

ModelState SampleRNNImpl::initial_state(int64_t batch) {
  ModelState s;
  for (auto& t : tiers) s.push_back(t->initial_state(batch));
  return s;
}

torch::Tensor SampleRNNImpl::forward(const torch::Tensor& x, ModelState& states) {
  const int64_t L = config_.lookback(), T = x.size(1) - L;
  torch::Tensor cond;
  for (int k = config_.n_frame_tiers() - 1; k >= 0; --k) {
    const int64_t F = config_.frame_sizes[k];
    // Tier k reads x[:, L - F_k : L - F_k + T].
    cond = tiers[k]->forward(x.narrow(1, L - F, T), cond, states[k]);
  }
  const int64_t F1 = config_.frame_sizes[0];
  // The sample tier reads x[:, L - F_1 : L + T - 1].
  return sample->forward(x.narrow(1, L - F1, T + F1 - 1), cond);
}

}  // namespace srnn
