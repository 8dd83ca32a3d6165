// The SampleRNN model described once, without LibTorch: the shape logic that the training
// model (train/model.h), the generation engine (infer/) and the checkpoint checks share, so
// that they cannot drift apart (docs/design.md, "The model").
//
//   const int G = srnn::gate_count(config.rnn_type);   // rows of weight_ih: G * dim
//   float x = srnn::frame_input(level, config.q_levels);
//   for (const srnn::WeightMatrix& m : srnn::weight_matrices(config)) ...
#pragma once

#include <math.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"

// The inline helpers below serve host code and the CUDA engine's kernels alike.
#if defined(__CUDACC__)
#define SRNN_HOST_DEVICE __host__ __device__
#else
#define SRNN_HOST_DEVICE
#endif

namespace srnn {

// ---- RNN gates ----
// Gates per RNN layer, stacked along the rows of weight_ih and weight_hh in PyTorch's order:
// GRU (r, z, n), LSTM (i, f, g, o), each `dim` rows.
int gate_count(RnnType type);
enum GruGate { kGruReset = 0, kGruUpdate = 1, kGruNew = 2 };
enum LstmGate { kLstmInput = 0, kLstmForget = 1, kLstmCell = 2, kLstmOutput = 3 };

SRNN_HOST_DEVICE inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
SRNN_HOST_DEVICE inline double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }
SRNN_HOST_DEVICE inline float tanh_of(float v) { return tanhf(v); }
SRNN_HOST_DEVICE inline double tanh_of(double v) { return tanh(v); }

// PyTorch's reset-after GRU cell from its pre-activations, biases included: gi = x W_ih + b_ih
// and gh = h W_hh + b_hh per gate. r and z read gi + gh; the candidate n reads gi + r * gh.
template <typename T>
struct GruGates {
  T r, z, n;
};
template <typename T>
SRNN_HOST_DEVICE inline GruGates<T> gru_gates(T gi_r, T gh_r, T gi_z, T gh_z, T gi_n, T gh_n) {
  const T r = sigmoid(gi_r + gh_r);
  return {r, sigmoid(gi_z + gh_z), tanh_of(gi_n + r * gh_n)};
}
// The GRU's new state from its gates and the old state h.
template <typename T>
SRNN_HOST_DEVICE inline T gru_state(const GruGates<T>& g, T h) {
  return (T(1) - g.z) * g.n + g.z * h;
}
// An LSTM cell from the pre-activations of its gates i, f, g, o (biases included): updates
// the cell state c and returns the new output h = o * tanh(c).
template <typename T>
SRNN_HOST_DEVICE inline T lstm_cell(T pre_i, T pre_f, T pre_g, T pre_o, T& c) {
  c = sigmoid(pre_f) * c + sigmoid(pre_i) * tanh_of(pre_g);
  return sigmoid(pre_o) * tanh_of(c);
}
// Inputs of RNN layer `layer`: with skip_conn, PRiSM feeds the first layer concat(x, x).
int rnn_input_width(const ModelConfig& config, int layer);

// ---- Frame tiers' input ----
// A frame tier reads its frame of levels as x = level * scale + shift, mapping [0, q) onto
// [-2, 2) (the original SampleRNN's scaling). The training model computes the same on
// tensors: levels.to(dtype) * s.scale + s.shift.
struct FrameInputScale {
  double scale, shift;
};
FrameInputScale frame_input_scale(int q_levels);
SRNN_HOST_DEVICE inline float frame_input(std::int32_t level, FrameInputScale s) {
  return static_cast<float>(level) * static_cast<float>(s.scale) + static_cast<float>(s.shift);
}

// ---- Conditioning and priming ----
// Which of the r_above conditioning vectors of the tier above steps a tier of frame size F at
// sample t (t a multiple of F): (t / F) mod r_above. The sample tier is F = 1, r_above = F_1.
SRNN_HOST_DEVICE inline std::int64_t conditioning_index(std::int64_t t, std::int64_t frame_size,
                                                       std::int64_t ratio_above) {
  return (t / frame_size) % ratio_above;
}
// Samples of a seed that prime the model: whole lookbacks from its end. A seed shorter than
// the lookback is none, and the model starts from `lookback` samples of silence (q / 2).
std::int64_t primed_length(std::int64_t seed_samples, std::int64_t lookback);

// ---- The sample tier's embedding and convolution ----
// The kernel-F_1 convolution over embeddings as F_1 lookup tables:
// table[level * F_1 + j] = E[level] . W[:, j, :], E (q, emb), W (emb, F_1, dim); a sample then
// costs F_1 row additions, sum_j table[x_{t+j} * F_1 + j]. A template, so that the training
// model applies it to tensors of levels.
template <typename Level, typename J>
SRNN_HOST_DEVICE auto conv_table_row(const Level& level, const J& j, std::int64_t frame_size) {
  return level * frame_size + j;
}
// The table (q * F_1, dim), accumulated in double.
std::vector<float> conv_table(const float* embedding, const float* conv, int q, int emb, int frame_size, int dim);

// ---- Weight normalisation ----
// A linear layer with weight_norm stores weight_v (out, in) and weight_g (out, 1); its weight
// is w = g * v / ||v|| with the norm per output row. Folds v into w in place (norm in double).
void fold_weight_norm(float* v, const float* g, int out, int in);

// ---- Weight formats ----
// How the engine stores a matrix (infer/kernels.h):
// - kF32: as it is;
// - kBf16: bfloat16, widened in registers (half the bytes to stream);
// - kInt8: int8 with one scale per output (max |w| / 127), inputs quantised per step.
enum class WeightFormat { kF32, kBf16, kInt8 };
const char* weight_format_name(WeightFormat format);
// "fp32", "bf16" or "int8"; anything else is a usage Error.
WeightFormat parse_weight_format(const std::string& name);

// ---- The weight matrices ----
enum class MatrixPart {
  kFrameInput,   // tiers.<k>.input: (dim, F_k)
  kRnnInput,     // tiers.<k>.rnn<l>.weight_ih
  kRnnRecurrent, // tiers.<k>.rnn<l>.weight_hh
  kSkip,         // tiers.<k>.skip<l>, with skip_conn
  kUpsample,     // tiers.<k>.upsample.weight (dim, r_k, dim), stored (in, out)
  kSampleHidden, // sample.hidden1, sample.hidden2
  kSampleOutput, // sample.output (q, dim)
};
// A matrix the engine multiplies by, as a checkpoint stores it.
struct WeightMatrix {
  std::string name;  // tensor name: "tiers.0.rnn1.weight_hh"; weight_v under weight norm
  MatrixPart part = MatrixPart::kRnnInput;
  int rows = 0, cols = 0;      // the stored 2-D view
  bool transposed = false;     // stored (in, out): outputs run along the columns
  bool keep_diagonal = false;  // a recurrent weight: pruning keeps each gate's diagonal
  int outputs() const { return transposed ? cols : rows; }
};
// Every matrix of a model of this config, tier by tier (lowest first), then the sample tier.
std::vector<WeightMatrix> weight_matrices(const ModelConfig& config);

// Every weight tensor of a model of this config, by checkpoint name, with its shape: the
// matrices above with their biases and weight_g, learned initial states, the embedding and
// the sample tier's convolution. The LibTorch model's parameters are exactly these.
std::map<std::string, std::vector<std::int64_t>> weight_shapes(const ModelConfig& config);
// Floats in the weights plus the engine's (q * F_1, dim) table.
std::int64_t model_floats(const ModelConfig& config);

// What pruning (train --sparsity) touches: the frame tiers' RNN input and recurrent weights
// and upsampling, and with sample_tier the sample tier's two hidden layers.
bool is_prunable(const WeightMatrix& m, bool sample_tier);
// Checkpoint name of a weight's pruning mask (U8, the weight's shape, 0 or 1).
std::string mask_tensor_name(const std::string& weight);
// The weight a mask name belongs to, or "" for a name that is no mask.
std::string masked_weight_name(const std::string& tensor);

// The format the engine stores `m` in when asked for `requested`. The frame inputs have as
// many rows as a frame has samples (16 or so): too few for int8 to pay, and the one place
// where quantising would blur the audio itself, so under int8 they stay bf16.
WeightFormat stored_format(MatrixPart part, WeightFormat requested);
// The matrices int8 stores as int8 (stored_format), in weight_matrices' order.
std::vector<WeightMatrix> int8_matrices(const ModelConfig& config);

// ---- int8 weights ----
// Symmetric quantisation with one scale per output: scale[o] = max_i |w(o, i)| / 127 (0 for
// an all-zero output), q = round(w / scale). The matrix is addressed as w(o, i) =
// w[o * out_stride + i * in_stride], so one routine serves (out, in) and (in, out) layouts.
void quantise_int8(const float* w, std::size_t outputs, std::size_t inputs, std::size_t out_stride,
                   std::size_t in_stride, std::int8_t* q, float* scale);
// An exported int8 file (samplernn export --weights int8) stores such a matrix as I8 under its
// own name and its scales as F32 under scale_tensor_name(name), shaped to broadcast against
// the weight: (out, 1) for an (out, in) weight, (r, dim) for the upsampling's (dim, r, dim).
std::string scale_tensor_name(const std::string& weight);
std::vector<std::int64_t> scale_shape(const WeightMatrix& m, const std::vector<std::int64_t>& weight_shape);

}  // namespace srnn
