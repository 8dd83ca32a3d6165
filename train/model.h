// The SampleRNN model in LibTorch (docs/design.md, "The model"), for training and as the
// reference the torch-free engine is tested against.
//
// Parameter names are the tensor names in checkpoints (docs/formats.md):
//   tiers.<k>.input.weight (dim, F_k)   tiers.<k>.input.bias (dim)
//     (with weight_norm: tiers.<k>.input.weight_v and .weight_g (dim, 1) instead of .weight)
//   tiers.<k>.rnn<l>.weight_ih (G*dim, dim)  .weight_hh (G*dim, dim)  .bias_ih  .bias_hh (G*dim)
//     G = 3 for GRU with gates (r, z, n), G = 4 for LSTM with gates (i, f, g, o): PyTorch layout
//     with skip_conn, layer 0 reads the tier input twice, concatenated: weight_ih (G*dim, 2*dim)
//   tiers.<k>.skip<l>.weight (dim, dim), and tiers.<k>.skip0.bias (dim), when skip_conn:
//     the tier's output is sum_l skip<l>(output of RNN layer l), as PRiSM's
//   tiers.<k>.h0 (layers, dim) and, for LSTM, tiers.<k>.c0, when learn_h0
//   tiers.<k>.upsample.weight (dim_in, r_k, dim_out): conditioning vector j of frame t is
//     h_t . W[:, j, :] (a ConvTranspose1d with kernel = stride = r_k; its PyTorch weight is
//     W.permute(0, 2, 1))
//   sample.embedding.weight (q, emb)
//   sample.input.weight (emb, F_1, dim): the kernel-F_1 convolution over embeddings,
//     sum_j E[x_{t+j}] . W[:, j, :] (PyTorch's Conv1d weight is W.permute(2, 0, 1))
//   sample.hidden1.*, sample.hidden2.* (dim, dim), sample.output.* (q, dim): Linear layouts
// Tier k = 0 is the lowest frame tier (frame size F_1).
//
//   srnn::SampleRNN model(config);
//   auto states = model->initial_state(batch);
//   torch::Tensor logits = model->forward(x, states);  // x: (B, L + T) levels -> (B, T, q)
#pragma once

#include <torch/torch.h>

#include <vector>

#include "core/config.h"

namespace srnn {

// RNN state of one frame tier: one (1, B, dim) tensor per layer, plus cell states for LSTM.
struct TierState {
  std::vector<torch::Tensor> h;
  std::vector<torch::Tensor> c;
};
using ModelState = std::vector<TierState>;  // indexed by tier, lowest first

// Linear layer with optional weight normalisation (w = g * v / ||v||, norm per output row).
class WLinearImpl : public torch::nn::Module {
 public:
  WLinearImpl(int in, int out, bool weight_norm, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight();  // the effective weight (out, in)
  bool weight_norm() const { return weight_norm_; }
  torch::Tensor v, g, w, b;

 private:
  bool weight_norm_;
};
TORCH_MODULE(WLinear);

class FrameTierImpl : public torch::nn::Module {
 public:
  FrameTierImpl(const ModelConfig& config, int tier);

  // samples: (B, n * F_k) levels; cond: (B, n, dim) or undefined (top tier).
  // Returns the conditioning for the tier below, (B, n * r_k, dim), and updates state.
  // In training mode with rnn_dropout, every RNN layer's input is dropped out (Keras's
  // `dropout` of each of PRiSM's layers: an independent mask per element and time step).
  torch::Tensor forward(const torch::Tensor& samples, const torch::Tensor& cond, TierState& state);

  TierState initial_state(int64_t batch);
  // (B, n, dim) RNN output -> (B, n * r_k, dim): ConvTranspose1d with kernel = stride = r_k.
  torch::Tensor upsample(const torch::Tensor& h);

  WLinear input{nullptr};
  std::vector<torch::Tensor> w_ih, w_hh, b_ih, b_hh;  // per layer
  std::vector<WLinear> skip;                         // per layer, with skip_conn
  torch::Tensor h0, c0;                              // (layers, dim) when learn_h0
  torch::Tensor upsample_weight;                     // (dim, r_k, dim)

 private:
  ModelConfig config_;
  int frame_size_, ratio_;
};
TORCH_MODULE(FrameTier);

class SampleTierImpl : public torch::nn::Module {
 public:
  explicit SampleTierImpl(const ModelConfig& config);

  // The embedding followed by the kernel-F_1 convolution, as F_1 lookup tables:
  // table[level * F_1 + j] = E[level] . W[:, j, :]. Returns (q * F_1, dim); differentiable.
  torch::Tensor conv_table();
  // samples: (B, T + F_1 - 1) levels; cond: (B, T, dim) -> logits (B, T, q).
  torch::Tensor forward(const torch::Tensor& samples, const torch::Tensor& cond);
  // The same from a precomputed table (generation).
  torch::Tensor forward_with_table(const torch::Tensor& table, const torch::Tensor& samples, const torch::Tensor& cond);

  torch::Tensor embedding;     // (q, emb)
  torch::Tensor input_weight;  // (emb, F_1, dim)
  WLinear hidden1{nullptr}, hidden2{nullptr}, output{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(SampleTier);

class SampleRNNImpl : public torch::nn::Module {
 public:
  explicit SampleRNNImpl(const ModelConfig& config);

  // x: (B, L + T) int64 levels, L = lookback, T a multiple of the top frame size.
  // Returns logits (B, T, q) predicting x[:, L:]; states are updated (not detached).
  torch::Tensor forward(const torch::Tensor& x, ModelState& states);
  ModelState initial_state(int64_t batch);

  const ModelConfig& config() const { return config_; }
  std::vector<FrameTier> tiers;  // lowest first
  SampleTier sample{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(SampleRNN);

// Detaches every state tensor (truncated backprop through time).
void detach_state(ModelState& states);
// Rows [first, first + n) of every state tensor (1, B, dim), on `device`.
ModelState rows_of(const ModelState& states, std::int64_t first, std::int64_t n, const torch::Device& device);

// (x / (q / 2) - 1) * 2: levels to the frame tiers' input range [-2, 2].
torch::Tensor frame_input(const torch::Tensor& levels, int q_levels, torch::ScalarType dtype = torch::kFloat32);

}  // namespace srnn
