#include "core/checkpoint-info.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/model-spec.h"
#include "core/safetensors.h"

namespace srnn {
namespace {

using nlohmann::json;

const std::string& get(const std::map<std::string, std::string>& md, const char* key,
                       const std::filesystem::path& path) {
  auto it = md.find(key);
  if (it == md.end()) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' is not a samplernn checkpoint: no '" + key + "' metadata",
                "pass a model.ckpt-<epoch> file written by samplernn train");
  }
  return it->second;
}

// A format-1 checkpoint's few training fields as a training state.
TrainState state_from_format1(const std::map<std::string, std::string>& md, const std::filesystem::path& path) {
  TrainState s;
  s.epoch = std::stoi(get(md, "epoch", path));
  s.step = std::stoll(get(md, "step", path));
  s.epoch_complete = get(md, "epoch_complete", path) == "true";
  s.batch = s.epoch_complete ? 0 : std::stoi(get(md, "batches_done", path));
  s.rng_seed = std::stoull(get(md, "rng_seed", path));
  s.optimizer = get(md, "optimizer", path);
  json metrics = json::parse(get(md, "metrics", path));
  if (!metrics.is_object()) throw Error(ErrorKind::kInput, "'" + path.string() + "' has malformed metrics metadata");
  s.monitor = metrics.value("monitor", std::string());
  if (metrics.contains("best") && metrics["best"].is_number()) s.best = metrics["best"].get<double>();
  s.epochs_without_improvement = metrics.value("epochs_without_improvement", 0);
  // Format 1 hashed the whole file listing under "data"; it is what files_hash holds now.
  s.data.files_hash = metrics.value("data", std::string());
  for (const char* key : {"monitor", "best", "epochs_without_improvement", "data"}) metrics.erase(key);
  s.metrics = metrics;
  return s;
}

}  // namespace

CheckpointInfo without_machine_paths(CheckpointInfo info) {
  const auto last_part = [](const std::string& p) {
    const std::filesystem::path path = std::filesystem::path(p).lexically_normal();
    return (path.has_filename() ? path.filename() : path.parent_path().filename()).string();
  };
  if (!info.train.data.data_dir.empty()) info.train.data.data_dir = last_part(info.train.data.data_dir);
  if (!info.train.origin.empty()) info.train.origin = last_part(info.train.origin);
  return info;
}

std::map<std::string, std::string> to_metadata(const CheckpointInfo& info) {
  std::map<std::string, std::string> md = {{"format", kCheckpointFormat},
                                           {"config", to_json(info.config).dump()},
                                           {"sample_rate", std::to_string(info.sample_rate_hz)},
                                           {"epoch", std::to_string(info.train.epoch)},
                                           {"step", std::to_string(info.train.step)},
                                           {"train_state", to_json(info.train).dump()}};
  if (info.corpus_stats.is_object()) md["corpus_stats"] = info.corpus_stats.dump();
  return md;
}

CheckpointInfo checkpoint_info_from_metadata(const std::map<std::string, std::string>& md,
                                             const std::filesystem::path& path) {
  const std::string& format = get(md, "format", path);
  if (format != kCheckpointFormat && format != kCheckpointFormat1) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has checkpoint format '" + format + "', expected '" +
                                       kCheckpointFormat + "'",
                "it was written by another version of samplernn");
  }
  CheckpointInfo info;
  try {
    std::vector<std::string> warnings;
    info.config = model_config_from_json(json::parse(get(md, "config", path)), &warnings);
    if (format == kCheckpointFormat1) {
      info.train = state_from_format1(md, path);
    } else {
      info.sample_rate_hz = std::stoi(get(md, "sample_rate", path));
      info.train = train_state_from_json(json::parse(get(md, "train_state", path)), path.string());
      if (const auto it = md.find("corpus_stats"); it != md.end()) {
        info.corpus_stats = json::parse(it->second);
        if (!info.corpus_stats.is_object()) throw Error(ErrorKind::kInput, "'" + path.string() + "' has malformed corpus_stats");
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has malformed checkpoint metadata: " + e.what());
  }
  if (info.sample_rate_hz < 0) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has a negative sample rate in its metadata");
  }
  if (format == kCheckpointFormat1 && info.config.skip_conn) {
    throw Error(ErrorKind::kConfig,
                "'" + path.string() + "' is a skip_conn model of an earlier samplernn, which summed the RNN layers' "
                "outputs; skip_conn now builds PRiSM's model (per-layer projections), so its weights do not fit",
                "retrain the model with this version (or with skip_conn false)");
  }
  return info;
}

CheckpointInfo checkpoint_info_of(const TensorFile& file, const std::filesystem::path& path) {
  CheckpointInfo info = checkpoint_info_from_metadata(file.metadata, path);
  check_checkpoint_tensors(file, info.config, path);
  return info;
}

CheckpointInfo read_checkpoint_info(const std::filesystem::path& path) {
  return checkpoint_info_of(load_safetensors(path, [](const std::string&) { return false; }), path);
}

void check_checkpoint_tensors(const TensorFile& file, const ModelConfig& config, const std::filesystem::path& path) {
  const auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' " + what,
                "the file is damaged, was edited, or belongs to another model");
  };
  const auto floating = [](DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16 || d == DType::kF64; };
  const auto dims = [](const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  };
  const std::map<std::string, std::vector<std::int64_t>> weights = weight_shapes(config);
  std::map<std::string, WeightMatrix> int8_able;  // what an int8 export may store as I8
  for (WeightMatrix& m : int8_matrices(config)) int8_able[m.name] = std::move(m);
  std::set<std::string> scales;  // the scale tensors of the file's I8 matrices
  for (const auto& [name, shape] : weights) {
    auto it = file.listing.find(name);
    if (it == file.listing.end()) fail("lacks tensor '" + name + "' of its config");
    const bool int8 = it->second.dtype == DType::kI8 && int8_able.count(name) > 0;
    if (it->second.shape != shape || !(floating(it->second.dtype) || int8)) {
      fail("has tensor '" + name + "' as " + dtype_name(it->second.dtype) + " " + dims(it->second.shape) +
           "; its config needs a float " + dims(shape));
    }
    if (int8) {
      const std::string scale = scale_tensor_name(name);
      const std::vector<std::int64_t> want = scale_shape(int8_able.at(name), shape);
      auto sc = file.listing.find(scale);
      if (sc == file.listing.end() || !floating(sc->second.dtype) || sc->second.shape != want) {
        fail("has int8 weight '" + name + "' without its float scales '" + scale + "' " + dims(want));
      }
      scales.insert(scale);
    }
  }
  std::int64_t rnn_batch = -1;
  for (const auto& [name, t] : file.listing) {
    if (weights.count(name) || scales.count(name)) continue;
    bool known = false;
    if (name.rfind("optim.", 0) == 0) {
      const std::size_t dot = name.rfind('.');
      const std::string weight = name.substr(6, dot - 6), slot = name.substr(dot + 1);
      auto w = weights.find(weight);
      if (w != weights.end()) {
        if (slot == "step") known = t.dtype == DType::kI64 && t.shape == std::vector<std::int64_t>{1};
        else if (slot == "exp_avg" || slot == "exp_avg_sq" || slot == "momentum_buffer" || slot == "square_avg") {
          known = floating(t.dtype) && t.shape == w->second;
        }
      }
    } else if (!masked_weight_name(name).empty()) {
      auto w = weights.find(masked_weight_name(name));
      known = w != weights.end() && t.dtype == DType::kU8 && t.shape == w->second;
    } else if (name == "train.rng_state") {
      known = t.dtype == DType::kU8 && t.shape.size() == 1;
    } else if (name.rfind("train.rnn.", 0) == 0 && t.shape.size() == 3 && t.shape[0] == 1 && t.shape[2] == config.dim &&
               t.shape[1] >= 1 && floating(t.dtype)) {
      // train.rnn.<tier>.h<layer> or .c<layer> (LSTM), all of one batch size.
      for (int k = 0; k < config.n_frame_tiers() && !known; ++k) {
        for (int l = 0; l < config.num_rnn_layers && !known; ++l) {
          const std::string base = "train.rnn." + std::to_string(k) + ".";
          known = name == base + "h" + std::to_string(l) ||
                  (config.rnn_type == RnnType::kLstm && name == base + "c" + std::to_string(l));
        }
      }
      if (known && rnn_batch >= 0 && t.shape[1] != rnn_batch) fail("holds RNN states of different batch sizes");
      rnn_batch = t.shape[1];
    }
    if (!known) fail("holds tensor '" + name + "' (" + dtype_name(t.dtype) + " " + dims(t.shape) + "), which its config does not have");
  }
}

bool is_weight_tensor(const std::string& name) {
  return name.rfind("optim.", 0) != 0 && name.rfind("train.", 0) != 0;
}

int model_sample_rate(const CheckpointInfo& info, int requested, const std::filesystem::path& path,
                      std::string* note) {
  if (info.sample_rate_hz > 0) {
    if (requested > 0 && requested != info.sample_rate_hz) {
      throw Error(ErrorKind::kUsage,
                  "--sample_rate " + std::to_string(requested) + " contradicts the model's " +
                      std::to_string(info.sample_rate_hz) + " Hz (" + path.string() + ")",
                  "drop --sample_rate: the checkpoint carries the rate it was trained at");
    }
    return info.sample_rate_hz;
  }
  if (requested > 0) return requested;
  if (note != nullptr) {
    *note = "'" + path.string() + "' does not record its sample rate (an older checkpoint); assuming 16000 Hz. "
            "Pass --sample_rate if it was trained at another rate.";
  }
  return 16000;
}

namespace {

// Element (o, i) of a matrix stored as m says, at w[o * out_stride + i * in_stride].
struct MatrixStrides {
  std::size_t outputs, inputs, out_stride, in_stride;
};
MatrixStrides strides_of(const WeightMatrix& m) {
  const std::size_t rows = m.rows, cols = m.cols;
  return m.transposed ? MatrixStrides{cols, rows, 1, cols} : MatrixStrides{rows, cols, cols, 1};
}

}  // namespace

void quantise_matrices_int8(TensorFile& file, const ModelConfig& config) {
  for (const WeightMatrix& m : int8_matrices(config)) {
    auto it = file.tensors.find(m.name);
    if (it == file.tensors.end() || it->second.dtype == DType::kI8) continue;
    const std::vector<float> w = it->second.to_f32();
    const MatrixStrides s = strides_of(m);
    Tensor q;
    q.dtype = DType::kI8;
    q.shape = it->second.shape;
    q.bytes.resize(w.size());
    std::vector<float> scale(s.outputs);
    quantise_int8(w.data(), s.outputs, s.inputs, s.out_stride, s.in_stride, reinterpret_cast<std::int8_t*>(q.bytes.data()),
                  scale.data());
    file.put_f32(scale_tensor_name(m.name), scale_shape(m, q.shape), scale.data());
    file.put(m.name, std::move(q));
  }
}

void dequantise_matrices_int8(TensorFile& file, const ModelConfig& config, const std::filesystem::path& path) {
  for (const WeightMatrix& m : int8_matrices(config)) {
    auto it = file.tensors.find(m.name);
    if (it == file.tensors.end() || it->second.dtype != DType::kI8) continue;
    const std::string scale_name = scale_tensor_name(m.name);
    const std::vector<float> scale = file.at(scale_name).to_f32();
    for (float v : scale) {
      if (!std::isfinite(v) || v < 0) {
        throw Error(ErrorKind::kInput, "'" + path.string() + "' holds a negative or non-finite int8 scale in '" + scale_name + "'",
                    "the file is damaged; export the model again");
      }
    }
    const MatrixStrides s = strides_of(m);
    const auto* q = reinterpret_cast<const std::int8_t*>(it->second.bytes.data());
    std::vector<float> w(it->second.bytes.size());
    for (std::size_t o = 0; o < s.outputs; ++o) {
      for (std::size_t i = 0; i < s.inputs; ++i) {
        const std::size_t at = o * s.out_stride + i * s.in_stride;
        w[at] = static_cast<float>(q[at]) * scale[o];
      }
    }
    const std::vector<std::int64_t> shape = it->second.shape;
    file.put_f32(m.name, shape, w.data());
    file.tensors.erase(scale_name);
  }
}

}  // namespace srnn
