// What a checkpoint says about itself, from its safetensors metadata; torch-free so the
// generation engine can read it too.
//
// Metadata keys (format "samplernn-checkpoint-2"): "format", "config" (model config JSON),
// "sample_rate" (Hz), "train_state" (core/train-state.h, JSON), "epoch" and "step",
// copies of the state's for tools that want only those, and optionally "corpus_stats"
// (JSON: the training data's sustained tone, collapse and loudness, as a distribution).
// Tensors: model weights under their parameter names (train/model.h), optimiser state
// under "optim.<parameter>.<slot>", training RNG state under "train.rng_state", and the RNN
// state carried into the next window under "train.rnn.*" when training stopped mid-batch.
//
// Format 1 (no sample rate, no training state beyond epoch, step, batches done and metrics)
// is still read: its sample rate reads as 0, "not recorded". Its skip_conn models had another
// wiring and are refused with a message saying so.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "core/config.h"
#include "core/safetensors.h"
#include "core/train-state.h"

namespace srnn {

struct CheckpointInfo {
  ModelConfig config;
  int sample_rate_hz = 0;  // the rate the model was trained at; 0: not recorded (format 1)
  TrainState train;
  // What `stats` measured on the training data (audio/stats.h, StatsDistribution), from the
  // metadata key "corpus_stats"; null when not recorded.
  nlohmann::json corpus_stats;
};

inline constexpr const char* kCheckpointFormat = "samplernn-checkpoint-2";
inline constexpr const char* kCheckpointFormat1 = "samplernn-checkpoint-1";

std::map<std::string, std::string> to_metadata(const CheckpointInfo& info);
// The info with no path of the machine that wrote it: the data folder and the origin of the
// training state keep their last component only. What `export` writes, for sharing.
CheckpointInfo without_machine_paths(CheckpointInfo info);
// Throws Error(kInput) naming `path` when the metadata is missing or malformed.
CheckpointInfo checkpoint_info_from_metadata(const std::map<std::string, std::string>& metadata,
                                             const std::filesystem::path& path);
// The checkpoint's info from a file load_safetensors read, after checking that its tensors
// are exactly those of its config (check_checkpoint_tensors). Every loader goes through this.
CheckpointInfo checkpoint_info_of(const TensorFile& file, const std::filesystem::path& path);
// Reads only the header of a checkpoint file; checked as checkpoint_info_of does.
CheckpointInfo read_checkpoint_info(const std::filesystem::path& path);

// Error(kInput) naming the tensor unless the file's listing holds every weight of `config`
// with its shape and a floating-point dtype, and otherwise only what training stores beside
// them: optim.<weight>.<slot> (the weight's shape; "step" a single I64), train.rng_state
// (U8), train.rnn.<tier>.h<layer> / .c<layer> ((1, batch, dim), one batch for all) and
// train.mask.<weight> (U8, the weight's shape: a pruning mask). A matrix that int8 quantises
// (core/model-spec.h) may be I8 with its scales beside it, as `export --weights int8` writes.
void check_checkpoint_tensors(const TensorFile& file, const ModelConfig& config, const std::filesystem::path& path);

// An int8 export: every matrix that int8 quantises (stored_format) and `file` holds as float
// becomes I8 with its per-output scales (quantise_int8, scale_tensor_name).
void quantise_matrices_int8(TensorFile& file, const ModelConfig& config);
// The reverse, for every loader: I8 matrices become F32 (q * scale), their scales go.
// Error(kInput) naming `path` for a negative or non-finite scale.
void dequantise_matrices_int8(TensorFile& file, const ModelConfig& config, const std::filesystem::path& path);

// True for names of tensors that are model weights (not optimiser or training state).
bool is_weight_tensor(const std::string& name);

// The rate to generate or score at: the model's, or `requested` for a checkpoint that does
// not record one (then `*note` says what was assumed). Error(kUsage) when a requested rate
// (> 0) contradicts the model's. requested 0: not given (16000 Hz for an old checkpoint).
int model_sample_rate(const CheckpointInfo& info, int requested, const std::filesystem::path& path,
                      std::string* note);

}  // namespace srnn
