#include "core/tune-spec.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"

namespace srnn {
namespace {

using nlohmann::json;

// The one error of a bad search space: where it came from, the key, the rule.
[[noreturn]] void bad(const std::string& origin, const std::string& key, const std::string& rule,
                      const std::string& hint = "") {
  throw Error(ErrorKind::kConfig, origin + ": '" + key + "' " + rule, hint);
}

struct Reader {
  const std::string& origin;
  const std::string& key;

  std::int64_t integer(const json& j) const {
    const auto v = exact_integer(j);
    if (!v) bad(origin, key, "must be a whole number, found " + j.dump());
    return *v;
  }
  int small_int(const json& j) const {
    const std::int64_t v = integer(j);
    if (v < INT32_MIN || v > INT32_MAX) bad(origin, key, j.dump() + " is out of range");
    return static_cast<int>(v);
  }
  double number(const json& j) const {
    if (!j.is_number() || !std::isfinite(j.get<double>())) bad(origin, key, "must be a number, found " + j.dump());
    return j.get<double>();
  }
  std::string text(const json& j) const {
    if (!j.is_string()) bad(origin, key, "must be a string, found " + j.dump());
    return j.get<std::string>();
  }
  bool boolean(const json& j) const {
    if (!j.is_boolean()) bad(origin, key, "must be true or false, found " + j.dump());
    return j.get<bool>();
  }
  // A list of choices; a single value is a list of one.
  template <typename T>
  std::vector<T> list(const json& j, T (Reader::*item)(const json&) const) const {
    std::vector<T> out;
    if (!j.is_array()) {
      out.push_back((this->*item)(j));
      return out;
    }
    if (j.empty()) bad(origin, key, "needs at least one choice, found []");
    for (const json& v : j) out.push_back((this->*item)(v));
    return out;
  }
  std::vector<std::vector<int>> frame_size_lists(const json& j) const {
    const std::string shape = "must be a list of frame-size lists such as [[16, 64], [32, 128]], found " + j.dump();
    if (!j.is_array() || j.empty()) bad(origin, key, shape);
    if (!j.front().is_array()) return {list(j, &Reader::small_int)};  // one model: [16, 64]
    std::vector<std::vector<int>> out;
    for (const json& v : j) {
      if (!v.is_array() || v.empty()) bad(origin, key, shape);
      out.push_back(list(v, &Reader::small_int));
    }
    return out;
  }
};

using Setter = std::function<void(const Reader&, const json&, TuneSpec&)>;

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"data_dir", [](const Reader& r, const json& j, TuneSpec& s) { s.data_dir = r.text(j); }},
      {"id", [](const Reader& r, const json& j, TuneSpec& s) { s.id = r.text(j); }},
      {"logdir", [](const Reader& r, const json& j, TuneSpec& s) { s.logdir = r.text(j); }},
      {"verbose", [](const Reader& r, const json& j, TuneSpec& s) { s.verbose = r.small_int(j); }},
      {"num_epochs", [](const Reader& r, const json& j, TuneSpec& s) { s.num_epochs = r.small_int(j); }},
      {"type", [](const Reader& r, const json& j, TuneSpec& s) { s.type = r.text(j); }},
      {"num_cpus", [](const Reader& r, const json& j, TuneSpec& s) { s.num_cpus = r.small_int(j); }},
      {"num_gpus", [](const Reader& r, const json& j, TuneSpec& s) { s.num_gpus = r.small_int(j); }},
      {"early_stopping_patience",
       [](const Reader& r, const json& j, TuneSpec& s) { s.early_stopping_patience = r.small_int(j); }},
      {"val_frac", [](const Reader& r, const json& j, TuneSpec& s) { s.val_frac = r.number(j); }},
      {"optimizer", [](const Reader& r, const json& j, TuneSpec& s) { s.optimizer = r.text(j); }},
      {"num_trials", [](const Reader& r, const json& j, TuneSpec& s) { s.num_trials = r.small_int(j); }},
      {"frame_sizes", [](const Reader& r, const json& j, TuneSpec& s) { s.space.frame_sizes = r.frame_size_lists(j); }},
      {"batch_size", [](const Reader& r, const json& j, TuneSpec& s) { s.space.batch_size = r.list(j, &Reader::small_int); }},
      {"seq_len", [](const Reader& r, const json& j, TuneSpec& s) { s.space.seq_len = r.list(j, &Reader::small_int); }},
      {"dim", [](const Reader& r, const json& j, TuneSpec& s) { s.space.dim = r.list(j, &Reader::small_int); }},
      {"rnn_type", [](const Reader& r, const json& j, TuneSpec& s) { s.space.rnn_type = r.list(j, &Reader::text); }},
      {"num_rnn_layers",
       [](const Reader& r, const json& j, TuneSpec& s) { s.space.num_rnn_layers = r.list(j, &Reader::small_int); }},
      {"q_type", [](const Reader& r, const json& j, TuneSpec& s) { s.space.q_type = r.list(j, &Reader::text); }},
      {"rnn_dropout", [](const Reader& r, const json& j, TuneSpec& s) { s.space.rnn_dropout = r.list(j, &Reader::number); }},
      {"learning_rate",
       [](const Reader& r, const json& j, TuneSpec& s) { s.space.learning_rate = r.list(j, &Reader::number); }},
      {"momentum", [](const Reader& r, const json& j, TuneSpec& s) { s.space.momentum = r.list(j, &Reader::number); }},
      {"skip_conn", [](const Reader& r, const json& j, TuneSpec& s) { s.space.skip_conn = r.list(j, &Reader::boolean); }},
      {"config_file", [](const Reader& r, const json& j, TuneSpec& s) { s.config_file = r.text(j); }},
      {"max_steps", [](const Reader& r, const json& j, TuneSpec& s) { s.max_steps = r.integer(j); }},
      {"max_minutes", [](const Reader& r, const json& j, TuneSpec& s) { s.max_minutes = r.number(j); }},
      {"storage", [](const Reader& r, const json& j, TuneSpec& s) { s.storage = r.text(j); }},
      {"pruner", [](const Reader& r, const json& j, TuneSpec& s) { s.pruner = r.text(j); }},
      {"grace_period", [](const Reader& r, const json& j, TuneSpec& s) { s.grace_period = r.small_int(j); }},
      {"reduction_factor", [](const Reader& r, const json& j, TuneSpec& s) { s.reduction_factor = r.small_int(j); }},
      {"rng_seed", [](const Reader& r, const json& j, TuneSpec& s) { s.rng_seed = r.integer(j); }},
      {"sample_rate", [](const Reader& r, const json& j, TuneSpec& s) { s.sample_rate = r.small_int(j); }},
      {"precision", [](const Reader& r, const json& j, TuneSpec& s) { s.precision = r.text(j); }},
      {"max_checkpoints", [](const Reader& r, const json& j, TuneSpec& s) { s.max_checkpoints = r.small_int(j); }},
      {"generate", [](const Reader& r, const json& j, TuneSpec& s) { s.generate = r.boolean(j); }},
      {"output_file_dur", [](const Reader& r, const json& j, TuneSpec& s) { s.output_file_dur = r.small_int(j); }},
      {"heartbeat", [](const Reader& r, const json& j, TuneSpec& s) { s.heartbeat = r.number(j); }},
  };
  return table;
}

template <typename T>
void check_distinct(const std::string& key, const std::vector<T>& choices) {
  for (std::size_t i = 0; i < choices.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (choices[k] == choices[i]) bad("search space", key, "lists the same choice twice", "list each choice once");
    }
  }
}

template <typename T>
void check_each(const std::string& key, const std::vector<T>& choices, const std::function<bool(const T&)>& ok,
                const std::string& rule) {
  if (choices.empty()) bad("search space", key, "has no choices", "give at least one, e.g. --" + key + " <value>");
  for (const T& v : choices) {
    if (!ok(v)) bad("search space", key, "choice " + json(v).dump() + " " + rule);
  }
  check_distinct(key, choices);
}

std::string frame_sizes_text(const std::vector<int>& sizes) {
  std::string s;
  for (int v : sizes) s += (s.empty() ? "" : " ") + std::to_string(v);
  return s;
}

}  // namespace

void apply_tune_json(const json& j, const std::string& origin, TuneSpec* spec) {
  if (!j.is_object()) throw Error(ErrorKind::kConfig, origin + ": a search space must be a JSON object, found " + j.dump());
  for (const auto& [key, value] : j.items()) {
    const auto it = setters().find(key);
    if (it == setters().end()) {
      bad(origin, key, "is not a search-space key", "the keys are ray_tune.py's flags without '--'; see docs/cli.md");
    }
    it->second(Reader{origin, key}, value, *spec);
  }
}

void apply_tune_file(const std::string& path, TuneSpec* spec) {
  const json j = read_json_file(path, "search-space file", "--search_space");
  apply_tune_json(j, "search-space file '" + path + "'", spec);
}

void check_tune_spec(const TuneSpec& s, const ModelConfig& base) {
  const auto at_least = [](const std::string& key, double v, double min) {
    if (!(v >= min)) bad("the tune flags", key, "must be at least " + json(min).dump() + ", found " + json(v).dump());
  };
  if (s.data_dir.empty()) bad("the tune flags", "data_dir", "is required", "give --data_dir <folder of training audio>");
  if (s.id.empty() || s.id == "." || s.id == ".." || s.id.find('/') != std::string::npos) {
    bad("the tune flags", "id", "must be a plain name (no '/'), found '" + s.id + "'");
  }
  at_least("num_epochs", s.num_epochs, 1);
  at_least("num_trials", s.num_trials, 1);
  at_least("num_cpus", s.num_cpus, 1);
  at_least("num_gpus", s.num_gpus, 0);
  at_least("early_stopping_patience", s.early_stopping_patience, 0);
  at_least("max_steps", static_cast<double>(s.max_steps), 0);
  at_least("max_minutes", s.max_minutes, 0);
  at_least("grace_period", s.grace_period, 1);
  at_least("reduction_factor", s.reduction_factor, 2);
  at_least("max_checkpoints", s.max_checkpoints, 1);
  at_least("output_file_dur", s.output_file_dur, 0);
  at_least("heartbeat", s.heartbeat, 1);
  if (!(s.val_frac > 0 && s.val_frac < 1)) {
    bad("the tune flags", "val_frac", "must be above 0 and below 1, found " + json(s.val_frac).dump(),
        "trials are compared by their validation loss, so some files must be held out");
  }
  const auto one_of = [](const std::string& key, const std::string& v, const std::set<std::string>& names) {
    if (names.count(v) == 0) {
      std::string list;
      for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
      bad("the tune flags", key, "must be one of " + list + ", found '" + v + "'");
    }
  };
  one_of("type", s.type, {"bayesian", "random_search"});
  one_of("optimizer", s.optimizer, {"adam", "sgd", "rmsprop"});
  one_of("pruner", s.pruner, {"asha", "hyperband", "median", "none"});
  one_of("precision", s.precision, {"fp32", "bf16", "fp16"});
  if (!s.storage.empty() && s.storage.rfind("sqlite:///", 0) != 0 && s.storage.rfind("postgresql://", 0) != 0 &&
      s.storage.rfind("postgresql+psycopg2://", 0) != 0) {
    bad("the tune flags", "storage", "must be a sqlite:///<file> or postgresql://<user>@<host>/<database> URL, found '" +
                                         s.storage + "'");
  }

  const TuneSpace& p = s.space;
  if (p.frame_sizes.empty()) bad("search space", "frame_sizes", "is required", "give --frame_sizes 16 64 (once per choice)");
  if (p.batch_size.empty()) bad("search space", "batch_size", "is required", "give --batch_size 16 32 64");
  if (p.seq_len.empty()) bad("search space", "seq_len", "is required", "give --seq_len 512 1024");
  check_each<int>("batch_size", p.batch_size, [](const int& v) { return v >= 1; }, "must be at least 1");
  check_each<std::string>("rnn_type", p.rnn_type, [](const std::string& v) { return v == "gru" || v == "lstm"; },
                          "must be gru or lstm");
  check_each<std::string>("q_type", p.q_type,
                          [](const std::string& v) { return v == "mu-law" || v == "a-law" || v == "linear"; },
                          "must be mu-law, a-law or linear");
  check_each<double>("rnn_dropout", p.rnn_dropout, [](const double& v) { return v >= 0 && v < 1; }, "must be in [0, 1)");
  check_each<double>("learning_rate", p.learning_rate, [](const double& v) { return v > 0; }, "must be above 0");
  check_each<double>("momentum", p.momentum, [](const double& v) { return v >= 0 && v < 1; }, "must be in [0, 1)");
  check_each<bool>("skip_conn", p.skip_conn, [](const bool&) { return true; }, "");
  check_distinct("frame_sizes", p.frame_sizes);
  check_distinct("seq_len", p.seq_len);
  check_distinct("dim", p.dim);
  check_distinct("num_rnn_layers", p.num_rnn_layers);
  if (p.dim.empty() || p.num_rnn_layers.empty()) bad("search space", p.dim.empty() ? "dim" : "num_rnn_layers", "has no choices");

  // Every combination of the keys that constrain each other must make a model.
  const double n_models = static_cast<double>(p.frame_sizes.size()) * p.seq_len.size() * p.dim.size() *
                          p.rnn_type.size() * p.num_rnn_layers.size() * p.q_type.size();
  if (n_models > 1e6) {
    bad("search space", "frame_sizes", "with seq_len, dim, rnn_type, num_rnn_layers and q_type makes " +
                                           json(n_models).dump() + " models, more than the 1,000,000 checked",
        "list fewer choices");
  }
  for (const auto& fs : p.frame_sizes) {
    for (int seq_len : p.seq_len) {
      for (int dim : p.dim) {
        for (const std::string& rnn : p.rnn_type) {
          for (int layers : p.num_rnn_layers) {
            for (const std::string& q : p.q_type) {
              ModelConfig c = base;
              c.frame_sizes = fs;
              c.seq_len = seq_len;
              c.dim = dim;
              c.rnn_type = rnn == "gru" ? RnnType::kGru : RnnType::kLstm;
              c.num_rnn_layers = layers;
              c.q_type = parse_q_type(q);
              try {
                validate(c);
              } catch (const Error& e) {
                throw Error(ErrorKind::kConfig,
                            "search space: the model with frame_sizes [" + frame_sizes_text(fs) + "], seq_len " +
                                std::to_string(seq_len) + ", dim " + std::to_string(dim) + ", rnn_type " + rnn +
                                ", num_rnn_layers " + std::to_string(layers) + " and q_type " + q + " is invalid: " + e.message(),
                            e.hint().empty() ? "every combination of the listed choices must make a model" : e.hint());
              }
            }
          }
        }
      }
    }
  }
}

json tune_plan(const TuneSpec& s, const ModelConfig& base) {
  const TuneSpace& p = s.space;
  json space = {{"frame_sizes", p.frame_sizes}, {"batch_size", p.batch_size},   {"seq_len", p.seq_len},
                {"dim", p.dim},                 {"rnn_type", p.rnn_type},       {"num_rnn_layers", p.num_rnn_layers},
                {"q_type", p.q_type},           {"rnn_dropout", p.rnn_dropout}, {"learning_rate", p.learning_rate},
                {"skip_conn", p.skip_conn}};
  // Adam has no momentum: searching it would only spend trials.
  if (s.optimizer != "adam") space["momentum"] = p.momentum;
  // Absolute, so that workers started from other folders find the same study and data.
  const std::string logdir = absolute_normal(s.logdir);
  const std::string storage = s.storage.empty() ? "sqlite:///" + logdir + "/" + s.id + ".db" : s.storage;
  return json{{"id", s.id},
              {"data_dir", absolute_normal(s.data_dir)},
              {"logdir", logdir},
              {"verbose", s.verbose},
              {"num_epochs", s.num_epochs},
              {"type", s.type},
              {"num_cpus", s.num_cpus},
              {"num_gpus", s.num_gpus},
              {"early_stopping_patience", s.early_stopping_patience},
              {"val_frac", s.val_frac},
              {"optimizer", s.optimizer},
              {"num_trials", s.num_trials},
              {"space", space},
              {"base_config", to_json(base)},
              {"max_steps", s.max_steps},
              {"max_minutes", s.max_minutes},
              {"storage", storage},
              {"pruner", s.pruner},
              {"grace_period", s.grace_period},
              {"reduction_factor", s.reduction_factor},
              {"rng_seed", s.rng_seed},
              {"sample_rate", s.sample_rate},
              {"precision", s.precision},
              {"max_checkpoints", s.max_checkpoints},
              {"generate", s.generate},
              {"output_file_dur", s.output_file_dur},
              {"heartbeat", s.heartbeat}};
}

}  // namespace srnn
