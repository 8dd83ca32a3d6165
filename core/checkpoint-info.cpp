#include "core/checkpoint-info.h"

#include "core/error.h"
#include "core/safetensors.h"

namespace srnn {

std::map<std::string, std::string> to_metadata(const CheckpointInfo& info) {
  return {{"format", kCheckpointFormat},
          {"config", to_json(info.config).dump()},
          {"epoch", std::to_string(info.epoch)},
          {"step", std::to_string(info.step)},
          {"epoch_complete", info.epoch_complete ? "true" : "false"},
          {"batches_done", std::to_string(info.batches_done)},
          {"rng_seed", std::to_string(info.rng_seed)},
          {"optimizer", info.optimizer},
          {"metrics", info.metrics.dump()}};
}

CheckpointInfo checkpoint_info_from_metadata(const std::map<std::string, std::string>& md,
                                             const std::filesystem::path& path) {
  auto get = [&](const char* key) -> const std::string& {
    auto it = md.find(key);
    if (it == md.end()) {
      throw Error(ErrorKind::kInput, "'" + path.string() + "' is not a samplernn checkpoint: no '" + key + "' metadata",
                  "pass a model.ckpt-<epoch> file written by samplernn train");
    }
    return it->second;
  };
  if (get("format") != kCheckpointFormat) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has checkpoint format '" + get("format") + "', expected '" +
                                       kCheckpointFormat + "'");
  }
  CheckpointInfo info;
  try {
    std::vector<std::string> warnings;
    info.config = model_config_from_json(nlohmann::json::parse(get("config")), &warnings);
    info.epoch = std::stoi(get("epoch"));
    info.step = std::stoll(get("step"));
    info.epoch_complete = get("epoch_complete") == "true";
    info.batches_done = std::stoi(get("batches_done"));
    info.rng_seed = std::stoull(get("rng_seed"));
    info.optimizer = get("optimizer");
    info.metrics = nlohmann::json::parse(get("metrics"));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has malformed checkpoint metadata: " + e.what());
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

}  // namespace srnn
