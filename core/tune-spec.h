// The hyperparameter search of `samplernn tune`: PRiSM ray_tune.py's flags as a typed spec.
// The same keys come from the command line or a JSON file; everything is checked here, once,
// before the first trial, so a search space that cannot train fails in one line instead of
// trial after trial.
//
//   srnn::TuneSpec spec;                                     // PRiSM's defaults
//   srnn::apply_tune_json(nlohmann::json::parse(R"({"frame_sizes": [[16, 64], [32, 128]],
//                            "seq_len": [512], "batch_size": [16, 32], "data_dir": "chunks"})"),
//                         "space.json", &spec);
//   srnn::check_tune_spec(spec, srnn::ModelConfig{});        // throws Error(kConfig)
//   nlohmann::json plan = srnn::tune_plan(spec, srnn::ModelConfig{});  // for tools/tune.py
//
// Errors: Error(kConfig) naming the origin (a file, or "the command line"), the key, and the
// value that breaks a rule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace srnn {

// The choices of every searched key. Model keys go into each trial's *.config.json, the rest
// are `samplernn train` flags. Defaults are ray_tune.py's; skip_conn is searched there too.
struct TuneSpace {
  std::vector<std::vector<int>> frame_sizes;  // required
  std::vector<int> batch_size;                // required
  std::vector<int> seq_len;                   // required
  std::vector<int> dim = {1024, 2048};
  std::vector<std::string> rnn_type = {"gru", "lstm"};
  std::vector<int> num_rnn_layers = {1, 2, 4, 8};
  std::vector<std::string> q_type = {"mu-law", "linear"};
  std::vector<double> rnn_dropout = {0.2, 0.4, 0.6};
  std::vector<double> learning_rate = {1e-2, 1e-3, 1e-4};
  std::vector<double> momentum = {0.1, 0.5, 0.9};  // searched only for sgd and rmsprop
  std::vector<bool> skip_conn = {true, false};
};

struct TuneSpec {
  // ray_tune.py's flags.
  std::string data_dir;  // required
  std::string id = "default";
  std::string logdir = "./tune";
  int verbose = 2;  // 0: the table only; 1: a line per trial; 2: a line per epoch too
  int num_epochs = 30;
  std::string type = "bayesian";  // bayesian (Optuna's TPE) or random_search
  int num_cpus = 1;               // --num_threads of each trial
  int num_gpus = 0;               // > 0: trials train on --device cuda
  int early_stopping_patience = 3;
  double val_frac = 0.1;
  std::string optimizer = "adam";
  int num_trials = 10;
  TuneSpace space;
  // samplernn's own.
  std::string config_file = "./default.config.json";  // the keys the search leaves alone
  std::int64_t max_steps = 0;                         // per trial; 0: none
  double max_minutes = 0;                             // per trial, wall clock; 0: none
  std::string storage;                                // "": sqlite:///<logdir>/<id>.db
  std::string pruner = "asha";                        // asha, hyperband, median or none
  int grace_period = 1;                               // epochs before a trial can be pruned
  int reduction_factor = 3;
  std::int64_t rng_seed = -1;  // -1: one random seed for the study, kept in its storage
  int sample_rate = 0;
  std::string precision = "fp32";
  int max_checkpoints = 1;  // per trial
  bool generate = false;
  int output_file_dur = 3;
  double heartbeat = 60;  // seconds; a trial silent for twice this is failed and retried
};

// Sets the keys of `j` (an object) on *spec, checking each value's type. A list key also
// takes a single value, and frame_sizes a single list. `origin` names where j came from.
void apply_tune_json(const nlohmann::json& j, const std::string& origin, TuneSpec* spec);

// Reads a search-space file: an object with the keys of apply_tune_json.
void apply_tune_file(const std::string& path, TuneSpec* spec);

// Checks every value, and every combination of the model keys on top of `base` against
// validate(ModelConfig). Throws Error(kConfig) for the first that fails.
void check_tune_spec(const TuneSpec& spec, const ModelConfig& base);

// What tools/tune.py runs: the spec with defaults resolved, the space as lists, and the
// base config. Call after check_tune_spec.
nlohmann::json tune_plan(const TuneSpec& spec, const ModelConfig& base);

}  // namespace srnn
