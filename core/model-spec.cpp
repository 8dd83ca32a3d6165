#include "core/model-spec.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace srnn {
namespace {

const char kMaskPrefix[] = "train.mask.";

}  // namespace

int gate_count(RnnType type) { return type == RnnType::kGru ? 3 : 4; }

int rnn_input_width(const ModelConfig& c, int layer) { return c.skip_conn && layer == 0 ? 2 * c.dim : c.dim; }

FrameInputScale frame_input_scale(int q_levels) { return {4.0 / q_levels, -2.0}; }

std::int64_t primed_length(std::int64_t seed_samples, std::int64_t lookback) {
  return seed_samples >= lookback ? seed_samples / lookback * lookback : lookback;
}

std::vector<float> conv_table(const float* E, const float* W, int q, int emb, int F1, int dim) {
  const std::size_t width = static_cast<std::size_t>(F1) * dim;  // one level's F_1 rows
  std::vector<float> table(static_cast<std::size_t>(q) * width);
  std::vector<double> acc(width);
  for (int level = 0; level < q; ++level) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int e = 0; e < emb; ++e) {
      const double ev = E[static_cast<std::size_t>(level) * emb + e];
      const float* row = W + static_cast<std::size_t>(e) * width;
      for (std::size_t i = 0; i < width; ++i) acc[i] += ev * row[i];
    }
    // Row conv_table_row(level, j) starts at (level * F_1 + j) * dim: the F_1 rows of a level
    // are W's (j, d) order.
    for (std::size_t i = 0; i < width; ++i) table[static_cast<std::size_t>(level) * width + i] = static_cast<float>(acc[i]);
  }
  return table;
}

void fold_weight_norm(float* v, const float* g, int out, int in) {
  for (int o = 0; o < out; ++o) {
    float* row = v + static_cast<std::size_t>(o) * in;
    double norm = 0;
    for (int i = 0; i < in; ++i) norm += static_cast<double>(row[i]) * row[i];
    const double scale = g[o] / std::sqrt(norm);
    for (int i = 0; i < in; ++i) row[i] = static_cast<float>(row[i] * scale);
  }
}

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return "fp32";
    case WeightFormat::kBf16: return "bf16";
    case WeightFormat::kInt8: return "int8";
  }
  return "fp32";
}

WeightFormat parse_weight_format(const std::string& name) {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBf16, WeightFormat::kInt8}) {
    if (name == weight_format_name(f)) return f;
  }
  throw Error(ErrorKind::kUsage, "unknown weight format '" + name + "'", "use fp32, bf16 or int8");
}

std::vector<WeightMatrix> weight_matrices(const ModelConfig& c) {
  const int dim = c.dim, G = gate_count(c.rnn_type);
  const std::string linear = c.weight_norm ? ".weight_v" : ".weight";
  std::vector<WeightMatrix> out;
  for (int k = 0; k < c.n_frame_tiers(); ++k) {
    const std::string p = "tiers." + std::to_string(k) + ".";
    out.push_back({p + "input" + linear, MatrixPart::kFrameInput, dim, c.frame_sizes[k], false, false});
    for (int l = 0; l < c.num_rnn_layers; ++l) {
      const std::string r = p + "rnn" + std::to_string(l) + ".";
      out.push_back({r + "weight_ih", MatrixPart::kRnnInput, G * dim, rnn_input_width(c, l), false, false});
      out.push_back({r + "weight_hh", MatrixPart::kRnnRecurrent, G * dim, dim, false, true});
      if (c.skip_conn) out.push_back({p + "skip" + std::to_string(l) + linear, MatrixPart::kSkip, dim, dim, false, false});
    }
    out.push_back({p + "upsample.weight", MatrixPart::kUpsample, dim, c.upsample_ratio(k) * dim, true, false});
  }
  for (const char* layer : {"sample.hidden1", "sample.hidden2"}) {
    out.push_back({layer + linear, MatrixPart::kSampleHidden, dim, dim, false, false});
  }
  out.push_back({"sample.output" + linear, MatrixPart::kSampleOutput, c.q_levels, dim, false, false});
  return out;
}

bool is_prunable(const WeightMatrix& m, bool sample_tier) {
  switch (m.part) {
    case MatrixPart::kRnnInput:
    case MatrixPart::kRnnRecurrent:
    case MatrixPart::kUpsample: return true;
    case MatrixPart::kSampleHidden: return sample_tier;
    default: return false;
  }
}

std::string mask_tensor_name(const std::string& weight) { return kMaskPrefix + weight; }

std::string masked_weight_name(const std::string& tensor) {
  return tensor.rfind(kMaskPrefix, 0) == 0 ? tensor.substr(sizeof(kMaskPrefix) - 1) : std::string();
}

WeightFormat stored_format(MatrixPart part, WeightFormat requested) {
  return part == MatrixPart::kFrameInput && requested == WeightFormat::kInt8 ? WeightFormat::kBf16 : requested;
}

std::vector<WeightMatrix> int8_matrices(const ModelConfig& c) {
  std::vector<WeightMatrix> out;
  for (WeightMatrix& m : weight_matrices(c)) {
    if (stored_format(m.part, WeightFormat::kInt8) == WeightFormat::kInt8) out.push_back(std::move(m));
  }
  return out;
}

void quantise_int8(const float* w, std::size_t outputs, std::size_t inputs, std::size_t out_stride,
                   std::size_t in_stride, std::int8_t* q, float* scale) {
  for (std::size_t o = 0; o < outputs; ++o) {
    const float* row = w + o * out_stride;
    std::int8_t* qrow = q + o * out_stride;
    float mx = 0.0f;
    for (std::size_t i = 0; i < inputs; ++i) mx = std::max(mx, std::fabs(row[i * in_stride]));
    scale[o] = 0.0f;
    if (!(mx > 0.0f)) {  // an all-zero output stays zero
      for (std::size_t i = 0; i < inputs; ++i) qrow[i * in_stride] = 0;
      continue;
    }
    const float inv = 127.0f / mx;
    scale[o] = mx / 127.0f;
    for (std::size_t i = 0; i < inputs; ++i) qrow[i * in_stride] = static_cast<std::int8_t>(std::lrintf(row[i * in_stride] * inv));
  }
}

std::string scale_tensor_name(const std::string& weight) { return weight + ".scale"; }

std::vector<std::int64_t> scale_shape(const WeightMatrix& m, const std::vector<std::int64_t>& weight_shape) {
  if (m.transposed) return std::vector<std::int64_t>(weight_shape.begin() + 1, weight_shape.end());
  return {weight_shape.at(0), 1};
}

std::map<std::string, std::vector<std::int64_t>> weight_shapes(const ModelConfig& c) {
  std::map<std::string, std::vector<std::int64_t>> w;
  const std::int64_t dim = c.dim, q = c.q_levels;
  for (const WeightMatrix& m : weight_matrices(c)) {
    if (m.part == MatrixPart::kUpsample) {
      w[m.name] = {dim, m.cols / dim, dim};
      continue;
    }
    w[m.name] = {m.rows, m.cols};
    const std::string layer = m.name.substr(0, m.name.rfind('.'));
    if (c.weight_norm && m.part != MatrixPart::kRnnInput && m.part != MatrixPart::kRnnRecurrent) {
      w[layer + ".weight_g"] = {m.rows, 1};
    }
    // Every linear layer has a bias but the skip projections after the first.
    if (m.part == MatrixPart::kRnnInput) w[layer + ".bias_ih"] = {m.rows};
    else if (m.part == MatrixPart::kRnnRecurrent) w[layer + ".bias_hh"] = {m.rows};
    else if (m.part != MatrixPart::kSkip || m.name.find(".skip0.") != std::string::npos) w[layer + ".bias"] = {m.rows};
  }
  for (int k = 0; k < c.n_frame_tiers() && c.learn_h0; ++k) {
    const std::string p = "tiers." + std::to_string(k) + ".";
    w[p + "h0"] = {c.num_rnn_layers, dim};
    if (c.rnn_type == RnnType::kLstm) w[p + "c0"] = {c.num_rnn_layers, dim};
  }
  w["sample.embedding.weight"] = {q, c.embedding_size()};
  w["sample.input.weight"] = {c.embedding_size(), c.frame_sizes[0], dim};
  return w;
}

std::int64_t model_floats(const ModelConfig& c) {
  std::int64_t n = 0;
  for (const auto& [name, shape] : weight_shapes(c)) {
    std::int64_t size = 1;
    for (std::int64_t d : shape) size *= d;
    n += size;
  }
  // The engine's table of the sample tier's embedding and convolution: (q * F_1, dim).
  return n + static_cast<std::int64_t>(c.q_levels) * c.frame_sizes[0] * c.dim;
}

}  // namespace srnn
