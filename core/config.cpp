#include "core/config.h"

#include <climits>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/model-spec.h"

namespace srnn {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& key, const std::string& rule) {
  throw Error(ErrorKind::kConfig, "config key '" + key + "': " + rule);
}

// An integer that fits an int: never truncated (4294967328 is not read as 32).
int get_int(const json& j, const std::string& key) {
  const std::optional<std::int64_t> v = exact_integer(j);
  const bool whole = j.is_number() && std::isfinite(j.get<double>()) && j.get<double>() == std::floor(j.get<double>());
  if (!v && whole) bad(key, j.dump() + " is out of range");
  if (!v) bad(key, "must be an integer, found " + j.dump());
  if (*v < INT_MIN || *v > INT_MAX) bad(key, j.dump() + " is out of range");
  return static_cast<int>(*v);
}

bool get_bool(const json& j, const std::string& key) {
  if (j.is_null()) return false;
  if (!j.is_boolean()) bad(key, "must be true or false, found " + j.dump());
  return j.get<bool>();
}

}  // namespace

std::optional<std::int64_t> exact_integer(const json& j) {
  if (j.is_number_unsigned()) {
    if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(j.get<std::uint64_t>());
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number_float()) {
    const double v = j.get<double>();
    // 2^63 itself does not fit; every double below it that is whole does.
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.2233720368547758e18) return static_cast<std::int64_t>(v);
  }
  return std::nullopt;
}

std::string rnn_type_name(RnnType type) { return type == RnnType::kGru ? "gru" : "lstm"; }

void validate(const ModelConfig& c) {
  if (c.frame_sizes.empty()) bad("frame_sizes", "needs at least one frame size");
  for (std::size_t i = 0; i < c.frame_sizes.size(); ++i) {
    if (c.frame_sizes[i] < 1) bad("frame_sizes", "sizes must be positive");
    if (i > 0 && c.frame_sizes[i] <= c.frame_sizes[i - 1]) bad("frame_sizes", "sizes must be in ascending order");
    if (i > 0 && c.frame_sizes[i] % c.frame_sizes[i - 1] != 0) {
      bad("frame_sizes", std::to_string(c.frame_sizes[i]) + " is not a multiple of " + std::to_string(c.frame_sizes[i - 1]) +
                             "; each frame size must divide the next");
    }
  }
  if (c.seq_len < 1 || c.seq_len % c.lookback() != 0) {
    bad("seq_len", std::to_string(c.seq_len) + " must be a positive multiple of the top frame size " +
                       std::to_string(c.lookback()));
  }
  if (c.dim < 1) bad("dim", "must be positive");
  if (c.num_rnn_layers < 1) bad("num_rnn_layers", "must be at least 1");
  try {
    check_q_levels(c.q_type, c.q_levels);
  } catch (const Error& e) {
    bad("q_levels", e.message());
  }
  if (c.emb_size < 0) bad("emb_size", "must be positive");
  if (!(c.rnn_dropout >= 0.0 && c.rnn_dropout < 1.0)) bad("rnn_dropout", "must be in [0, 1)");
  // Bounds that keep the products below within 64 bits; the memory estimate is the real limit.
  const auto at_most = [](int limit) { return "must be at most " + std::to_string(limit); };
  if (c.n_frame_tiers() > kMaxFrameTiers) bad("frame_sizes", "can have at most " + std::to_string(kMaxFrameTiers) + " entries");
  if (c.lookback() > kMaxFrameSize) bad("frame_sizes", "sizes " + at_most(kMaxFrameSize) + " samples");
  if (c.seq_len > kMaxSeqLen) bad("seq_len", at_most(kMaxSeqLen) + " samples");
  if (c.dim > kMaxDim) bad("dim", at_most(kMaxDim));
  if (c.num_rnn_layers > kMaxRnnLayers) bad("num_rnn_layers", at_most(kMaxRnnLayers));
  if (c.emb_size > 65536) bad("emb_size", at_most(65536));
  const std::int64_t floats = model_floats(c);
  if (floats > kMaxModelFloats) {
    char gb[32];
    std::snprintf(gb, sizeof(gb), "%.1f", static_cast<double>(floats) * 4 / 1e9);
    throw Error(ErrorKind::kConfig,
                "this config needs " + std::to_string(floats / 1000000) + " million floats (" + gb +
                    " GB) for its weights and generation table; the limit is " +
                    std::to_string(kMaxModelFloats / 1000000) + " million (8.6 GB)",
                "lower dim, num_rnn_layers, q_levels or emb_size");
  }
}

ModelConfig model_config_from_json(const json& j, std::vector<std::string>* warnings) {
  if (!j.is_object()) throw Error(ErrorKind::kConfig, "a model config must be a JSON object, found " + j.dump());
  ModelConfig c;
  static const std::set<std::string> kKnown = {"seq_len", "frame_sizes", "dim", "rnn_type", "num_rnn_layers",
                                               "q_type", "q_levels", "emb_size", "skip_conn", "rnn_dropout",
                                               "learn_h0", "weight_norm"};
  for (const auto& [key, value] : j.items()) {
    if (kKnown.count(key) == 0) {
      if (warnings) warnings->push_back("unknown config key '" + key + "' is ignored");
      continue;
    }
    if (key == "seq_len") c.seq_len = get_int(value, key);
    if (key == "dim") c.dim = get_int(value, key);
    if (key == "num_rnn_layers") c.num_rnn_layers = get_int(value, key);
    if (key == "q_levels") c.q_levels = get_int(value, key);
    if (key == "emb_size") c.emb_size = value.is_null() ? 0 : get_int(value, key);
    if (key == "skip_conn") c.skip_conn = get_bool(value, key);
    if (key == "learn_h0") c.learn_h0 = get_bool(value, key);
    if (key == "weight_norm") c.weight_norm = get_bool(value, key);
    if (key == "rnn_dropout") {
      if (value.is_null()) continue;
      if (!value.is_number()) bad(key, "must be a number, found " + value.dump());
      c.rnn_dropout = value.get<double>();
    }
    if (key == "frame_sizes") {
      if (!value.is_array()) bad(key, "must be a list of integers, found " + value.dump());
      c.frame_sizes.clear();
      for (const auto& v : value) c.frame_sizes.push_back(get_int(v, key));
    }
    if (key == "rnn_type") {
      if (!value.is_string()) bad(key, "must be \"gru\" or \"lstm\", found " + value.dump());
      const std::string t = value.get<std::string>();
      if (t == "gru" || t == "GRU") c.rnn_type = RnnType::kGru;
      else if (t == "lstm" || t == "LSTM") c.rnn_type = RnnType::kLstm;
      else bad(key, "must be \"gru\" or \"lstm\", found \"" + t + "\"");
    }
    if (key == "q_type") {
      if (!value.is_string()) bad(key, "must be \"mu-law\", \"a-law\" or \"linear\", found " + value.dump());
      c.q_type = parse_q_type(value.get<std::string>());
    }
  }
  validate(c);
  return c;
}

json read_json_file(const std::filesystem::path& path, const std::string& what, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::kConfig, "cannot open " + what + " '" + path.string() + "'", "check the " + flag + " path");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kConfig, what + " '" + path.string() + "' is not valid JSON: " + e.what());
  }
}

ModelConfig load_model_config(const std::filesystem::path& path, std::vector<std::string>* warnings) {
  const json j = read_json_file(path, "config file", "--config_file");
  try {
    return model_config_from_json(j, warnings);
  } catch (const Error& e) {
    throw Error(ErrorKind::kConfig, path.string() + ": " + e.message(), e.hint());
  }
}

json to_json(const ModelConfig& c) {
  return json{{"seq_len", c.seq_len},         {"frame_sizes", c.frame_sizes},
              {"dim", c.dim},                 {"rnn_type", rnn_type_name(c.rnn_type)},
              {"num_rnn_layers", c.num_rnn_layers}, {"q_type", q_type_name(c.q_type)},
              {"q_levels", c.q_levels},       {"emb_size", c.embedding_size()},
              {"skip_conn", c.skip_conn},     {"rnn_dropout", c.rnn_dropout},
              {"learn_h0", c.learn_h0},       {"weight_norm", c.weight_norm}};
}

std::string config_differences(const ModelConfig& a, const ModelConfig& b) {
  const json ja = to_json(a), jb = to_json(b);
  std::string out;
  for (const auto& [key, value] : ja.items()) {
    if (jb.at(key) != value) {
      if (!out.empty()) out += "; ";
      out += key + ": " + value.dump() + " != " + jb.at(key).dump();
    }
  }
  return out;
}

}  // namespace srnn
