#include "infer/weights.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace srnn {
namespace {

struct Loader {
  TensorFile& file;
  bool release;  // free each tensor's bytes once converted (keeps the peak memory low)

  std::vector<float> get(const std::string& name, std::vector<std::int64_t> shape) const {
    if (!file.has(name)) {
      throw Error(ErrorKind::kInput, "checkpoint has no tensor '" + name + "'",
                  "the file does not match its config, or is not a samplernn checkpoint");
    }
    const Tensor& t = file.at(name);
    if (t.shape != shape) {
      std::ostringstream os;
      os << "tensor '" << name << "' has shape [";
      for (auto d : t.shape) os << d << ",";
      os << "], the config needs [";
      for (auto d : shape) os << d << ",";
      os << "]";
      throw Error(ErrorKind::kInput, os.str(), "the checkpoint is damaged or its config was edited");
    }
    std::vector<float> v = t.to_f32();
    if (release) file.tensors.erase(name);
    for (float x : v) {
      if (!std::isfinite(x)) throw Error(ErrorKind::kInput, "tensor '" + name + "' holds NaN or infinite values");
    }
    return v;
  }

  // A linear layer's weight (out, in), weight-normalised or not.
  std::vector<float> linear_weight(const std::string& prefix, int out, int in, bool weight_norm) const {
    if (!weight_norm) return get(prefix + ".weight", {out, in});
    std::vector<float> v = get(prefix + ".weight_v", {out, in});
    fold_weight_norm(v.data(), get(prefix + ".weight_g", {out, 1}).data(), out, in);
    return v;
  }
};

// A (rows, cols) row-major weight, transposed to (cols, rows) and packed for gemm_packed.
PackedMatrix transpose_pack(const std::vector<float>& a, int rows, int cols, WeightFormat format) {
  std::vector<float> t(a.size());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) t[static_cast<std::size_t>(c) * rows + r] = a[static_cast<std::size_t>(r) * cols + c];
  }
  return pack_matrix(t.data(), cols, rows, format);
}

}  // namespace

namespace {

EngineWeights convert(TensorFile& file, const CheckpointInfo& info, WeightFormat format, bool release) {
  const ModelConfig& c = info.config;
  const Loader L{file, release};
  EngineWeights w;
  w.config = c;
  w.info = info;
  w.format = format;
  const auto format_of = [&](MatrixPart part) { return stored_format(part, format); };
  const int dim = c.dim, q = c.q_levels, F1 = c.frame_sizes[0], emb = c.embedding_size();
  const int G = gate_count(c.rnn_type);
  for (int k = 0; k < c.n_frame_tiers(); ++k) {
    const std::string p = "tiers." + std::to_string(k) + ".";
    FrameTierWeights t;
    t.frame_size = c.frame_sizes[k];
    t.ratio = c.upsample_ratio(k);
    t.input_t = transpose_pack(L.linear_weight(p + "input", dim, t.frame_size, c.weight_norm), dim, t.frame_size,
                               format_of(MatrixPart::kFrameInput));
    t.input_b = L.get(p + "input.bias", {dim});
    for (int l = 0; l < c.num_rnn_layers; ++l) {
      const std::string r = p + "rnn" + std::to_string(l) + ".";
      RnnLayerWeights lw;
      std::vector<float> w_ih;
      if (rnn_input_width(c, l) == 2 * dim) {
        // x . W_a^T + x . W_b^T = x . (W_a + W_b)^T: one product instead of a concatenation.
        const std::vector<float> both = L.get(r + "weight_ih", {G * dim, 2 * dim});
        w_ih.resize(static_cast<std::size_t>(G) * dim * dim);
        for (std::size_t row = 0; row < static_cast<std::size_t>(G) * dim; ++row) {
          for (std::size_t i = 0; i < static_cast<std::size_t>(dim); ++i) {
            w_ih[row * dim + i] = both[row * 2 * dim + i] + both[row * 2 * dim + dim + i];
          }
        }
      } else {
        w_ih = L.get(r + "weight_ih", {G * dim, dim});
      }
      lw.w_ih_t = transpose_pack(w_ih, G * dim, dim, format_of(MatrixPart::kRnnInput));
      lw.w_hh_t = transpose_pack(L.get(r + "weight_hh", {G * dim, dim}), G * dim, dim, format_of(MatrixPart::kRnnRecurrent));
      lw.b_ih = L.get(r + "bias_ih", {G * dim});
      lw.b_hh = L.get(r + "bias_hh", {G * dim});
      t.layers.push_back(std::move(lw));
      if (c.skip_conn) {
        const std::string sp = p + "skip" + std::to_string(l);
        t.skip_t.push_back(transpose_pack(L.linear_weight(sp, dim, dim, c.weight_norm), dim, dim, format_of(MatrixPart::kSkip)));
        if (l == 0) t.skip_b = L.get(sp + ".bias", {dim});
      }
    }
    if (c.learn_h0) {
      t.h0 = L.get(p + "h0", {c.num_rnn_layers, dim});
      if (c.rnn_type == RnnType::kLstm) t.c0 = L.get(p + "c0", {c.num_rnn_layers, dim});
    }
    const std::vector<float> up = L.get(p + "upsample.weight", {dim, t.ratio, dim});  // already (dim, r * dim)
    t.upsample = pack_matrix(up.data(), dim, static_cast<std::size_t>(t.ratio) * dim, format_of(MatrixPart::kUpsample));
    w.tiers.push_back(std::move(t));
  }
  w.table = conv_table(L.get("sample.embedding.weight", {q, emb}).data(), L.get("sample.input.weight", {emb, F1, dim}).data(),
                       q, emb, F1, dim);
  w.hidden1_t = transpose_pack(L.linear_weight("sample.hidden1", dim, dim, c.weight_norm), dim, dim, format_of(MatrixPart::kSampleHidden));
  w.hidden1_b = L.get("sample.hidden1.bias", {dim});
  w.hidden2_t = transpose_pack(L.linear_weight("sample.hidden2", dim, dim, c.weight_norm), dim, dim, format_of(MatrixPart::kSampleHidden));
  w.hidden2_b = L.get("sample.hidden2.bias", {dim});
  w.output_t = transpose_pack(L.linear_weight("sample.output", q, dim, c.weight_norm), q, dim, format_of(MatrixPart::kSampleOutput));
  w.output_b = L.get("sample.output.bias", {q});
  return w;
}

}  // namespace

EngineWeights engine_weights_from(const TensorFile& file, const CheckpointInfo& info, WeightFormat format) {
  TensorFile copy = file;
  dequantise_matrices_int8(copy, info.config, "(weights in memory)");
  return convert(copy, info, format, false);
}

EngineWeights load_engine_weights(const std::filesystem::path& checkpoint, WeightFormat format) {
  TensorFile file = load_safetensors(checkpoint, [](const std::string& name) { return is_weight_tensor(name); });
  const CheckpointInfo info = checkpoint_info_of(file, checkpoint);
  dequantise_matrices_int8(file, info.config, checkpoint);
  try {
    return convert(file, info, format, /*release=*/true);
  } catch (const Error& e) {
    throw Error(ErrorKind::kInput, "'" + checkpoint.string() + "': " + e.message(), e.hint());
  }
}

double weight_bytes_per_sample(const EngineWeights& w) {
  double bytes = static_cast<double>(w.hidden1_t.bytes() + w.hidden2_t.bytes() + w.output_t.bytes());
  for (const FrameTierWeights& t : w.tiers) {
    std::size_t tier = t.input_t.bytes() + t.upsample.bytes();
    for (const RnnLayerWeights& l : t.layers) tier += l.w_ih_t.bytes() + l.w_hh_t.bytes();
    for (const PackedMatrix& s : t.skip_t) tier += s.bytes();
    bytes += static_cast<double>(tier) / t.frame_size;
  }
  return bytes;
}

std::vector<float> unpack_matrix(const PackedMatrix& m) {
  const std::size_t K = m.K, N = m.N, W = PackedMatrix::kStripe;
  std::vector<float> out(K * N);
  if (!m.sparse && (m.format == WeightFormat::kF32 || m.format == WeightFormat::kBf16)) {
    // (n_stripes, K, 64): column n of row k is element (n / 64, k, n % 64).
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t n = 0; n < N; ++n) {
        const std::size_t at = (n / W) * K * W + k * W + n % W;
        if (m.format == WeightFormat::kF32) {
          out[k * N + n] = m.data[at];
        } else {
          const std::uint32_t bits = static_cast<std::uint32_t>(m.data16[at]) << 16;
          std::memcpy(&out[k * N + n], &bits, sizeof bits);
        }
      }
    }
    return out;
  }
  // Sparse or int8 layouts: the product of the identity with the matrix reads them as the
  // kernels do.
  std::vector<float> identity(K * K, 0.0f);
  for (std::size_t k = 0; k < K; ++k) identity[k * K + k] = 1.0f;
  gemm_packed(K, m, identity.data(), K, nullptr, out.data(), N);
  return out;
}

}  // namespace srnn
