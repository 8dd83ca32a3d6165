#include "core/checkpoint-info.h"

#include "core/error.h"
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

std::map<std::string, std::string> to_metadata(const CheckpointInfo& info) {
  return {{"format", kCheckpointFormat},
          {"config", to_json(info.config).dump()},
          {"sample_rate", std::to_string(info.sample_rate_hz)},
          {"epoch", std::to_string(info.train.epoch)},
          {"step", std::to_string(info.train.step)},
          {"train_state", to_json(info.train).dump()}};
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

CheckpointInfo read_checkpoint_info(const std::filesystem::path& path) {
  const TensorFile f = load_safetensors(path, [](const std::string&) { return false; });
  return checkpoint_info_from_metadata(f.metadata, path);
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

}  // namespace srnn
