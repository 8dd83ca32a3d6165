// What a checkpoint says about itself, from its safetensors metadata; torch-free so the
// generation engine can read it too.
//
// Metadata keys: "format" ("samplernn-checkpoint-1"), "config" (model config JSON),
// "epoch", "step", "epoch_complete" ("true"/"false"), "batches_done", "rng_seed",
// "optimizer", "metrics" (JSON object of the last epoch's metrics).
// Tensors: model weights under their parameter names (train/model.h), optimiser state
// under "optim.<parameter>.<slot>", training RNG state under "train.rng_state".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace srnn {

struct CheckpointInfo {
  ModelConfig config;
  int epoch = 0;             // epochs completed (or, when !epoch_complete, the epoch in progress)
  std::int64_t step = 0;     // training steps taken in total
  bool epoch_complete = true;
  int batches_done = 0;      // file batches of `epoch` done, when !epoch_complete
  std::uint64_t rng_seed = 0;
  std::string optimizer;
  nlohmann::json metrics = nlohmann::json::object();
};

inline constexpr const char* kCheckpointFormat = "samplernn-checkpoint-1";

std::map<std::string, std::string> to_metadata(const CheckpointInfo& info);
// Throws Error(kInput) naming `path` when the metadata is missing or malformed.
CheckpointInfo checkpoint_info_from_metadata(const std::map<std::string, std::string>& metadata,
                                             const std::filesystem::path& path);
// Reads only the header of a checkpoint file.
CheckpointInfo read_checkpoint_info(const std::filesystem::path& path);

// True for names of tensors that are model weights (not optimiser or training state).
bool is_weight_tensor(const std::string& name);

}  // namespace srnn
