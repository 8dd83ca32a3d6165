// The model config: PRiSM's *.config.json keys plus the options of the original SampleRNN
// and its forks. It travels inside every checkpoint (safetensors metadata "config").
//
//   std::vector<std::string> warnings;
//   srnn::ModelConfig c = srnn::load_model_config("default.config.json", &warnings);
//   // c.frame_sizes == {16, 64}: a 3-tier model with lookback c.lookback() == 64
//
// Errors: Error(kConfig) naming the key and the rule it breaks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/qtype.h"

namespace srnn {

enum class RnnType { kGru, kLstm };

struct ModelConfig {
  int seq_len = 1024;                   // TBPTT window, in samples
  std::vector<int> frame_sizes = {16, 64};  // ascending, each divides the next
  int dim = 1024;
  RnnType rnn_type = RnnType::kGru;
  int num_rnn_layers = 4;
  QType q_type = QType::kMuLaw;
  int q_levels = 256;
  int emb_size = 0;         // 0: q_levels (a q x q embedding)
  bool skip_conn = false;   // frame tier output = sum of a Dense projection of each RNN layer's output
  double rnn_dropout = 0.0; // dropout on every RNN layer's input, training only
  bool learn_h0 = false;    // learned initial RNN state
  bool weight_norm = false; // weight normalisation of the linear layers

  int lookback() const { return frame_sizes.back(); }
  int n_frame_tiers() const { return static_cast<int>(frame_sizes.size()); }
  int embedding_size() const { return emb_size > 0 ? emb_size : q_levels; }
  // r_k: conditioning vectors tier k hands to the tier below; r_0 = frame_sizes[0].
  int upsample_ratio(int tier) const { return tier == 0 ? frame_sizes[0] : frame_sizes[tier] / frame_sizes[tier - 1]; }
};

// Limits a config must keep (docs/cli.md, "Limits"): beyond them a model cannot be built
// in memory, so it is refused before anything is allocated.
inline constexpr int kMaxFrameTiers = 16;
inline constexpr int kMaxFrameSize = 1 << 16;
inline constexpr int kMaxSeqLen = 1 << 20;
inline constexpr int kMaxDim = 1 << 14;
inline constexpr int kMaxRnnLayers = 256;
inline constexpr std::int64_t kMaxModelFloats = std::int64_t{1} << 31;  // 8.6 GB of fp32

// Throws Error(kConfig) naming the key and the rule it breaks, or, for a model too large to
// hold, the memory it would need.
void validate(const ModelConfig& config);

// Reads a config from JSON; keys it does not know are reported in *warnings. Missing keys
// keep their defaults (PRiSM's default.config.json).
ModelConfig model_config_from_json(const nlohmann::json& j, std::vector<std::string>* warnings);
// A JSON file, parsed. Error(kConfig) naming `what` ("config file") and the path when it
// cannot be opened (hinting at `flag`) or is not valid JSON.
nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what, const std::string& flag);
ModelConfig load_model_config(const std::filesystem::path& path, std::vector<std::string>* warnings);
nlohmann::json to_json(const ModelConfig& config);

// "" when equal, else one "key: a != b" clause per differing key, joined by "; ".
std::string config_differences(const ModelConfig& a, const ModelConfig& b);

std::string rnn_type_name(RnnType type);

// A JSON number that is a whole number within 64 bits (4294967328 and 32.0 are; 32.5, "32"
// and 1e300 are not), for readers that must never truncate.
std::optional<std::int64_t> exact_integer(const nlohmann::json& j);

}  // namespace srnn
