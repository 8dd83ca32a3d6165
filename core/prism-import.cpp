#include "core/prism-import.h"

#include <cctype>
#include <cstring>
#include <functional>
#include <regex>
#include <tuple>

#include "core/error.h"
#include "core/model-spec.h"

namespace srnn {
namespace {

const std::string kValue = "/.ATTRIBUTES/VARIABLE_VALUE";

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}

Error not_prism(const TfBundle& b, const std::string& what) {
  return Error(ErrorKind::kInput, "'" + b.prefix().string() + "' is not a PRiSM SampleRNN checkpoint samplernn can read: " + what,
               "give a checkpoint PRiSM's train.py wrote (logdir/<id>/<run>/model.ckpt-<epoch>)");
}

const std::vector<std::int64_t>& shape_of(const TfBundle& b, const std::string& path) {
  if (!b.has(path + kValue)) throw not_prism(b, "it has no '" + path + "'");
  return b.entry(path + kValue).shape;
}

// PRiSM's frame tiers from the lowest up: frame_rnn, then big_frame_rnn in a 3-tier model.
std::vector<std::string> tier_names(const TfBundle& b) {
  std::vector<std::string> names = {"frame_rnn"};
  if (b.has("big_frame_rnn/inputs/kernel" + kValue)) names.push_back("big_frame_rnn");
  return names;
}

std::string cell(const std::string& tier, int layer) { return tier + "/rnn/layer_" + std::to_string(layer) + "/cell"; }
std::string skip(const std::string& tier, int layer) {
  return tier + "/rnn/layer_" + std::to_string(layer) + "_skip_out";
}

// One of our weights and how it comes from PRiSM's variable at `path` (its data in Keras's
// layout, row-major); moments map the same way.
struct Mapping {
  std::string name;
  std::string path;  // "" for a weight PRiSM does not have (an LSTM's bias_hh): zeros
  std::string moments_from;  // the PRiSM variable whose moments it takes
  std::function<std::vector<float>(const std::vector<float>&)> convert;
};

// (rows, cols) -> (cols, rows).
std::vector<float> transpose(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) y[c * rows + r] = x[r * cols + c];
  }
  return y;
}

// Gate blocks of `dim` rows: Keras's GRU (z, r, h) as PyTorch's (r, z, n); the LSTM's order
// (i, f, c, o) is PyTorch's already.
std::vector<float> gates_as_torch(const std::vector<float>& rows, RnnType type) {
  if (type == RnnType::kLstm) return rows;
  const std::int64_t block = static_cast<std::int64_t>(rows.size()) / 3;
  std::vector<float> y(rows.size());
  const int from[3] = {1, 0, 2};  // our gate g is Keras's gate from[g]
  for (int g = 0; g < 3; ++g) std::copy_n(rows.begin() + from[g] * block, block, y.begin() + g * block);
  return y;
}

std::vector<Mapping> mappings(const ModelConfig& c, const std::vector<std::string>& tiers) {
  const std::int64_t dim = c.dim, G = gate_count(c.rnn_type);
  std::vector<Mapping> m;
  auto T = [](std::int64_t rows, std::int64_t cols) {
    return [rows, cols](const std::vector<float>& x) { return transpose(x, rows, cols); };
  };
  auto same = [](const std::vector<float>& x) { return x; };
  for (int k = 0; k < c.n_frame_tiers(); ++k) {
    const std::string t = tiers[k], ours = "tiers." + std::to_string(k) + ".";
    const std::int64_t F = c.frame_sizes[k], r = c.upsample_ratio(k);
    m.push_back({ours + "input.weight", t + "/inputs/kernel", t + "/inputs/kernel", T(F, dim)});
    m.push_back({ours + "input.bias", t + "/inputs/bias", t + "/inputs/bias", same});
    for (int l = 0; l < c.num_rnn_layers; ++l) {
      const std::string rnn = ours + "rnn" + std::to_string(l) + ".", p = cell(t, l);
      const std::int64_t in = rnn_input_width(c, l);
      auto rows_as_torch = [=](std::int64_t n_in) {
        return [=](const std::vector<float>& x) { return gates_as_torch(transpose(x, n_in, G * dim), c.rnn_type); };
      };
      m.push_back({rnn + "weight_ih", p + "/kernel", p + "/kernel", rows_as_torch(in)});
      m.push_back({rnn + "weight_hh", p + "/recurrent_kernel", p + "/recurrent_kernel", rows_as_torch(dim)});
      if (c.rnn_type == RnnType::kGru) {
        auto row = [=](int i) {
          return [=](const std::vector<float>& x) {
            return gates_as_torch(std::vector<float>(x.begin() + i * 3 * dim, x.begin() + (i + 1) * 3 * dim), c.rnn_type);
          };
        };
        m.push_back({rnn + "bias_ih", p + "/bias", p + "/bias", row(0)});
        m.push_back({rnn + "bias_hh", p + "/bias", p + "/bias", row(1)});
      } else {
        m.push_back({rnn + "bias_ih", p + "/bias", p + "/bias", same});
        m.push_back({rnn + "bias_hh", "", p + "/bias", same});
      }
      if (c.skip_conn) {
        m.push_back({ours + "skip" + std::to_string(l) + ".weight", skip(t, l) + "/kernel", skip(t, l) + "/kernel",
                     T(dim, dim)});
        if (l == 0) m.push_back({ours + "skip0.bias", skip(t, 0) + "/bias", skip(t, 0) + "/bias", same});
      }
    }
    // (r, out, in) -> (in, r, out): ours[i][j][o] = prism[j][o][i].
    m.push_back({ours + "upsample.weight", t + "/upsample", t + "/upsample", [=](const std::vector<float>& x) {
                   std::vector<float> y(x.size());
                   for (std::int64_t j = 0; j < r; ++j)
                     for (std::int64_t o = 0; o < dim; ++o)
                       for (std::int64_t i = 0; i < dim; ++i) y[(i * r + j) * dim + o] = x[(j * dim + o) * dim + i];
                   return y;
                 }});
  }
  const std::int64_t q = c.q_levels, F1 = c.frame_sizes[0];
  m.push_back({"sample.embedding.weight", "sample_mlp/embedding/embeddings", "sample_mlp/embedding/embeddings", same});
  // (F_1, q, dim) -> (q, F_1, dim).
  m.push_back({"sample.input.weight", "sample_mlp/inputs/kernel", "sample_mlp/inputs/kernel", [=](const std::vector<float>& x) {
                 std::vector<float> y(x.size());
                 for (std::int64_t j = 0; j < F1; ++j)
                   for (std::int64_t e = 0; e < q; ++e)
                     std::copy_n(x.begin() + (j * q + e) * dim, dim, y.begin() + (e * F1 + j) * dim);
                 return y;
               }});
  for (const auto& [ours, theirs, out] : {std::tuple{"hidden1", "hidden1", dim}, std::tuple{"hidden2", "hidden2", dim},
                                          std::tuple{"output", "outputs", q}}) {
    const std::string p = std::string("sample_mlp/") + theirs;
    m.push_back({std::string("sample.") + ours + ".weight", p + "/kernel", p + "/kernel", T(dim, out)});
    m.push_back({std::string("sample.") + ours + ".bias", p + "/bias", p + "/bias", same});
  }
  return m;
}

// The order of model.trainable_variables in PRiSM's Keras model, which is the order of the
// optimiser's slot variables in TF >= 2.11 checkpoints: the tiers as SampleRNN.__init__
// assigns them (big_frame_rnn, frame_rnn, sample_mlp); in a FrameRNN its own upsample
// variable first, then inputs, then the RNN layers and their skip projections.
std::vector<std::string> keras_variable_order(const ModelConfig& c, const std::vector<std::string>& tiers) {
  std::vector<std::string> order;
  for (int k = c.n_frame_tiers() - 1; k >= 0; --k) {
    const std::string& t = tiers[k];
    order.push_back(t + "/upsample");
    order.push_back(t + "/inputs/kernel");
    order.push_back(t + "/inputs/bias");
    for (int l = 0; l < c.num_rnn_layers; ++l) {
      for (const char* v : {"/kernel", "/recurrent_kernel", "/bias"}) order.push_back(cell(t, l) + v);
    }
    if (c.skip_conn) {
      for (int l = 0; l < c.num_rnn_layers; ++l) {
        order.push_back(skip(t, l) + "/kernel");
        if (l == 0) order.push_back(skip(t, l) + "/bias");
      }
    }
  }
  order.push_back("sample_mlp/embedding/embeddings");
  order.push_back("sample_mlp/inputs/kernel");
  for (const char* layer : {"hidden1", "hidden2", "outputs"}) {
    order.push_back(std::string("sample_mlp/") + layer + "/kernel");
    order.push_back(std::string("sample_mlp/") + layer + "/bias");
  }
  return order;
}

struct MomentKeys {
  std::string m, v;
};

// Adam's m and v per PRiSM variable: ".OPTIMIZER_SLOT" keys (TF <= 2.10; the count under
// optimizer/iter), else optimizer/_variables/<n> (TF >= 2.11: n = 0 is the iteration count,
// saved as optimizer/_iterations, then m and v of each variable in keras_variable_order).
// Empty when the checkpoint has no Adam moments.
std::map<std::string, MomentKeys> moment_keys(const TfBundle& b, const std::vector<std::string>& order,
                                              std::string* iterations_key) {
  std::map<std::string, MomentKeys> keys;
  const std::string slot = "/.OPTIMIZER_SLOT/optimizer/";
  if (b.has(order[0] + slot + "m" + kValue)) {
    for (const std::string& p : order) keys[p] = {p + slot + "m" + kValue, p + slot + "v" + kValue};
    *iterations_key = "optimizer/iter" + kValue;
    return keys;
  }
  auto var = [](std::size_t n) { return "optimizer/_variables/" + std::to_string(n) + kValue; };
  if (!b.has(var(1))) return keys;
  if (!b.has(var(2 * order.size())) || b.has(var(2 * order.size() + 1))) {
    throw not_prism(b, "its optimiser holds slots for another set of variables than PRiSM's model (not Adam's m and v)");
  }
  for (std::size_t i = 0; i < order.size(); ++i) keys[order[i]] = {var(1 + 2 * i), var(2 + 2 * i)};
  *iterations_key = b.has("optimizer/_iterations" + kValue) ? "optimizer/_iterations" + kValue : var(0);
  return keys;
}

std::vector<float> read_f32(const TfBundle& b, const std::string& key, const std::vector<std::int64_t>& shape) {
  const Tensor t = b.read(key);
  const bool is_float = t.dtype == DType::kF32 || t.dtype == DType::kF64 || t.dtype == DType::kBF16 || t.dtype == DType::kF16;
  if (t.shape != shape || !is_float) {
    throw not_prism(b, "'" + key + "' is " + dtype_name(t.dtype) + " " + shape_text(t.shape) + ", expected float " +
                           shape_text(shape));
  }
  return t.to_f32();
}

int epoch_of(const TfBundle& b) {
  static const std::regex name(R"(.*-([0-9]{1,9}))");
  std::smatch m;
  const std::string s = b.prefix().filename().string();
  return std::regex_match(s, m, name) ? std::stoi(m[1].str()) : 0;
}

// What the JSON says against what the shapes say; one clause per key.
ModelConfig reconcile(ModelConfig c, const nlohmann::json& j, const TfBundle& b, std::vector<std::string>* notes) {
  std::vector<std::string> diffs;
  auto check = [&](const char* key, const nlohmann::json& ours) {
    if (j.contains(key) && !j[key].is_null() && j[key] != ours) {
      diffs.push_back(std::string(key) + " " + j[key].dump() + " in the JSON, " + ours.dump() + " in the checkpoint");
    }
  };
  check("frame_sizes", c.frame_sizes);
  check("dim", c.dim);
  check("num_rnn_layers", c.num_rnn_layers);
  check("skip_conn", c.skip_conn);
  if (j.contains("rnn_type") && j["rnn_type"].is_string()) {
    std::string t = j["rnn_type"].get<std::string>();
    for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (t != rnn_type_name(c.rnn_type)) {
      diffs.push_back("rnn_type \"" + j["rnn_type"].get<std::string>() + "\" in the JSON, \"" + rnn_type_name(c.rnn_type) +
                      "\" in the checkpoint");
    }
  }
  const std::string q_type = j.value("q_type", std::string("mu-law"));
  if (q_type == "linear") {
    c.q_type = QType::kPrismLinear;
    check("q_levels", c.q_levels);
    notes->push_back("q_type linear: PRiSM's own linear quantiser (q_type prism-linear), level = int((x + 1) / 2 * (q - 1e-5) + 5e-6)");
  } else if (q_type == "mu-law") {
    c.q_type = QType::kMuLaw;
    if (c.q_levels != 256) diffs.push_back("q_type mu-law in the JSON needs 256 levels; the checkpoint has " + std::to_string(c.q_levels));
  } else {
    diffs.push_back("q_type \"" + q_type + "\" in the JSON: PRiSM knows mu-law and linear");
  }
  if (!diffs.empty()) {
    std::string all;
    for (const std::string& d : diffs) all += (all.empty() ? "" : "; ") + d;
    throw Error(ErrorKind::kConfig, "the config JSON disagrees with checkpoint '" + b.prefix().string() + "': " + all,
                "pass the config the model was trained with (PRiSM's --config_file)");
  }
  if (j.contains("emb_size") && j["emb_size"] != c.q_levels) {
    notes->push_back("emb_size " + j["emb_size"].dump() + " in the JSON is unused, as in PRiSM: the embedding is q x q (" +
                     std::to_string(c.q_levels) + " x " + std::to_string(c.q_levels) + ")");
  }
  if (j.contains("seq_len") && j["seq_len"].is_number_integer()) c.seq_len = j["seq_len"].get<int>();
  if (j.contains("rnn_dropout") && j["rnn_dropout"].is_number()) c.rnn_dropout = j["rnn_dropout"].get<double>();
  return c;
}

}  // namespace

ModelConfig prism_config_from_shapes(const TfBundle& b) {
  if (!b.has("sample_mlp/embedding/embeddings" + kValue)) throw not_prism(b, "it has no sample_mlp/embedding");
  if (!b.has("sample_mlp/hidden2/kernel" + kValue)) {
    throw Error(ErrorKind::kInput,
                "'" + b.prefix().string() + "' has PRiSM's sample tier from before 2020-10-23 (one hidden layer, ReLU'd "
                "logits), which samplernn's model cannot represent",
                "retrain with a PRiSM from after 2020-10-23, or with samplernn from scratch");
  }
  const std::vector<std::string> tiers = tier_names(b);
  ModelConfig c;
  c.frame_sizes.clear();
  c.emb_size = 0;
  for (std::size_t k = 0; k < tiers.size(); ++k) {
    const auto& in = shape_of(b, tiers[k] + "/inputs/kernel");
    if (in.size() != 2) throw not_prism(b, tiers[k] + "/inputs/kernel is " + shape_text(in));
    c.frame_sizes.push_back(static_cast<int>(in[0]));
    const int dim = static_cast<int>(in[1]);
    int layers = 0;
    while (b.has(cell(tiers[k], layers) + "/kernel" + kValue)) ++layers;
    if (layers == 0) throw not_prism(b, tiers[k] + " has no RNN layer");
    const auto& rec = shape_of(b, cell(tiers[k], 0) + "/recurrent_kernel");
    if (rec.size() != 2 || rec[0] != dim || (rec[1] != 3 * dim && rec[1] != 4 * dim)) {
      throw not_prism(b, cell(tiers[k], 0) + "/recurrent_kernel is " + shape_text(rec) + " for dim " + std::to_string(dim));
    }
    const RnnType type = rec[1] == 3 * dim ? RnnType::kGru : RnnType::kLstm;
    const bool skip_conn = b.has(skip(tiers[k], 0) + "/kernel" + kValue);
    if (k == 0) {
      c.dim = dim, c.num_rnn_layers = layers, c.rnn_type = type, c.skip_conn = skip_conn;
    } else if (dim != c.dim || layers != c.num_rnn_layers || type != c.rnn_type || skip_conn != c.skip_conn) {
      throw not_prism(b, "its frame tiers differ in dim, layers, RNN type or skip_conn");
    }
  }
  const auto& emb = shape_of(b, "sample_mlp/embedding/embeddings");
  if (emb.size() != 2 || emb[0] != emb[1]) throw not_prism(b, "sample_mlp/embedding is " + shape_text(emb));
  c.q_levels = static_cast<int>(emb[0]);
  c.q_type = c.q_levels == 256 ? QType::kMuLaw : QType::kLinear;
  return c;
}

namespace {

// Every weight of the config from PRiSM's variables, and with `moments` Adam's m and v beside
// each, mapped as the weight is.
void put_weights(const TfBundle& b, const ModelConfig& c, const std::vector<std::string>& tiers,
                 const std::map<std::string, MomentKeys>& moments, TensorFile& file) {
  const auto shapes = weight_shapes(c);
  std::size_t n_weights = 0;
  for (const Mapping& m : mappings(c, tiers)) {
    const auto it = shapes.find(m.name);
    if (it == shapes.end()) throw Error(ErrorKind::kInternal, "prism import maps unknown weight " + m.name);
    const std::vector<std::int64_t>& ours = it->second;
    const std::vector<std::int64_t>& theirs = b.entry(m.moments_from + kValue).shape;
    std::int64_t n = 1;
    for (std::int64_t d : ours) n *= d;
    auto convert = [&](const std::string& key) { return m.convert(read_f32(b, key, theirs)); };
    const std::vector<float> w = m.path.empty() ? std::vector<float>(static_cast<std::size_t>(n), 0.0f)
                                                : convert(m.path + kValue);
    if (static_cast<std::int64_t>(w.size()) != n) {
      throw not_prism(b, "'" + m.moments_from + "' is " + shape_text(theirs) + ", which does not give " + m.name + " " +
                             shape_text(ours));
    }
    file.put_f32(m.name, ours, w.data());
    ++n_weights;
    if (moments.empty()) continue;
    const MomentKeys& k = moments.at(m.moments_from);
    file.put_f32("optim." + m.name + ".exp_avg", ours, convert(k.m).data());
    file.put_f32("optim." + m.name + ".exp_avg_sq", ours, convert(k.v).data());
  }
  if (n_weights != shapes.size()) throw Error(ErrorKind::kInternal, "prism import: not every weight is mapped");
}

// Adam's step count, written as every weight's optim.<weight>.step.
std::int64_t put_steps(const TfBundle& b, const ModelConfig& c, const std::string& iterations_key, TensorFile& file) {
  if (!b.has(iterations_key)) throw not_prism(b, "it has Adam's moments but no iteration count");
  const Tensor it = b.read(iterations_key);
  if (it.numel() != 1 || (it.dtype != DType::kI64 && it.dtype != DType::kI32)) {
    throw not_prism(b, "its iteration count '" + iterations_key + "' is not one integer");
  }
  const std::int64_t step = it.dtype == DType::kI64 ? *reinterpret_cast<const std::int64_t*>(it.bytes.data())
                                                    : *reinterpret_cast<const std::int32_t*>(it.bytes.data());
  if (step < 1) throw not_prism(b, "its Adam iteration count is " + std::to_string(step));
  for (const auto& [name, shape] : weight_shapes(c)) {
    Tensor s;
    s.dtype = DType::kI64;
    s.shape = {1};
    s.bytes.resize(8);
    std::memcpy(s.bytes.data(), &step, 8);
    file.put("optim." + name + ".step", std::move(s));
  }
  return step;
}

// The checkpoint's metadata: a finished epoch, PRiSM's step count and learning rate.
std::map<std::string, std::string> metadata(const TfBundle& b, const PrismImport& im, int sample_rate_hz) {
  CheckpointInfo info;
  info.config = im.config;
  info.sample_rate_hz = sample_rate_hz;
  info.train.epoch = im.epoch;
  info.train.epoch_complete = true;
  info.train.step = im.iterations;
  info.train.optimizer = im.has_moments ? "adam" : "";
  for (const char* key : {"optimizer/_learning_rate", "optimizer/learning_rate"}) {
    if (!im.has_moments || !b.has(key + kValue)) continue;
    const Tensor lr = b.read(key + kValue);
    if (lr.numel() == 1 && lr.dtype == DType::kF32) info.train.learning_rate = lr.to_f32()[0];
  }
  std::map<std::string, std::string> md = to_metadata(info);
  md["imported_from"] = b.prefix().string();
  return md;
}

std::string summary(const PrismImport& im, std::size_t n_tiers) {
  const ModelConfig& c = im.config;
  return std::to_string(n_tiers + 1) + "-tier " + rnn_type_name(c.rnn_type) + " model, frame sizes " +
         shape_text(std::vector<std::int64_t>(c.frame_sizes.begin(), c.frame_sizes.end())) + ", dim " +
         std::to_string(c.dim) + ", " + std::to_string(c.num_rnn_layers) + " layer(s)" + (c.skip_conn ? ", skip_conn" : "") +
         ", q " + std::to_string(c.q_levels) + " " + q_type_name(c.q_type) + ", epoch " + std::to_string(im.epoch) +
         (im.has_moments ? ", Adam moments after " + std::to_string(im.iterations) + " steps" : ", no optimiser moments");
}

}  // namespace

PrismImport import_prism(const TfBundle& b, const nlohmann::json& prism_config, int sample_rate_hz) {
  if (!prism_config.is_object()) throw Error(ErrorKind::kConfig, "the PRiSM config is not a JSON object");
  PrismImport im;
  im.config = reconcile(prism_config_from_shapes(b), prism_config, b, &im.notes);
  validate(im.config);
  const std::vector<std::string> tiers = tier_names(b);
  std::string iterations_key;
  const auto moments = moment_keys(b, keras_variable_order(im.config, tiers), &iterations_key);
  im.has_moments = !moments.empty();
  put_weights(b, im.config, tiers, moments, im.file);
  if (im.has_moments) {
    im.iterations = put_steps(b, im.config, iterations_key, im.file);
    if (im.config.rnn_type == RnnType::kLstm) {
      im.notes.push_back("an LSTM's single Keras bias becomes bias_ih (bias_hh zero, with the same Adam moments): "
                         "training then moves their sum up to twice as fast as PRiSM did");
    }
  }
  im.epoch = epoch_of(b);
  im.file.metadata = metadata(b, im, sample_rate_hz);
  im.notes.insert(im.notes.begin(), summary(im, tiers.size()));
  return im;
}

}  // namespace srnn
