// samplernn tune: PRiSM ray_tune.py's search, run by Optuna. This command reads and checks
// the flags and the search space (core/tune-spec.h), then hands the resolved plan to
// tools/tune.py, which drives the study; each trial is a `samplernn train` run.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/tune-spec.h"

namespace srnn {
namespace {

using nlohmann::json;

// Each flag keeps its typed value; only flags given on the command line override the
// search-space file, which overrides the defaults.
struct TuneFlags {
  std::string search_space;
  json given = json::object();
  std::vector<std::function<void()>> collect;
};

template <typename T>
void add_tune_flag(CLI::App& cmd, TuneFlags& flags, const std::string& key, T initial, const std::string& help,
                   std::function<json(const T&)> to_json = [](const T& v) { return json(v); }) {
  auto value = std::make_shared<T>(std::move(initial));
  CLI::Option* opt = add_flag_option(cmd, key, *value, help);
  flags.collect.push_back([&flags, opt, value, key, to_json] {
    if (opt->count() > 0) flags.given[key] = to_json(*value);
  });
}

std::vector<std::string> bool_names(const std::vector<bool>& values) {
  std::vector<std::string> out;
  for (bool v : values) out.push_back(v ? "True" : "False");
  return out;
}

std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorKind::kInternal, "cannot find this program's path in /proc/self/exe: " + ec.message());
  return path.string();
}

[[noreturn]] void run_driver(const json& plan) {
  const char* python_env = std::getenv("SRNN_PYTHON");
  const std::string python = python_env != nullptr && *python_env != '\0' ? python_env : SRNN_DEFAULT_PYTHON;
  const std::string script = std::string(SRNN_TOOLS_DIR) + "/tune.py";
  if (!std::filesystem::is_regular_file(script)) {
    throw Error(ErrorKind::kDependency, "cannot find the Optuna driver '" + script + "'",
                "samplernn tune runs tools/tune.py of the source tree it was built from; rebuild from a full checkout");
  }
  const std::string exe = self_executable();
  const std::string plan_text = plan.dump();
  std::vector<const char*> argv = {python.c_str(), script.c_str(), "--samplernn", exe.c_str(), "--plan",
                                   plan_text.c_str(), nullptr};
  // The driver replaces this process, so Ctrl-C and the exit code reach it directly.
  ::execv(python.c_str(), const_cast<char* const*>(argv.data()));
  throw Error(ErrorKind::kDependency, "cannot run '" + python + "': " + errno_text(errno),
              "samplernn tune needs Python 3 with Optuna: run scripts/install-deps.sh, or set SRNN_PYTHON");
}

}  // namespace

CommandRunner add_tune_command(CLI::App& app) {
  auto flags = std::make_shared<TuneFlags>();
  TuneFlags& f = *flags;
  const TuneSpec d;
  CLI::App* cmd = app.add_subcommand(
      "tune", "Search hyperparameters with Optuna (PRiSM ray_tune.py flags); each trial is a samplernn train run.");
  cmd->option_defaults()->always_capture_default();
  add_flag_option(*cmd, "search_space", f.search_space,
                  "JSON file with the keys of these flags (without '--'); flags given here override it");
  add_tune_flag<std::string>(*cmd, f, "data_dir", d.data_dir, "Folder of training audio (required)");
  add_tune_flag<std::string>(*cmd, f, "id", d.id, "Name of the study; trials go to <logdir>/<id>/trial-<n>/");
  add_tune_flag<std::string>(*cmd, f, "logdir", d.logdir, "Root folder of studies");
  add_tune_flag<int>(*cmd, f, "verbose", d.verbose, "0: the table only; 1: a line per trial; 2: a line per epoch too");
  add_tune_flag<int>(*cmd, f, "num_epochs", d.num_epochs, "Epochs per trial at most");
  add_tune_flag<std::string>(*cmd, f, "type", d.type, "bayesian (Optuna's TPE) or random_search");
  add_tune_flag<int>(*cmd, f, "num_cpus", d.num_cpus, "CPU threads of each trial (its --num_threads)");
  add_tune_flag<int>(*cmd, f, "num_gpus", d.num_gpus, "Above 0: trials train on --device cuda");
  add_tune_flag<int>(*cmd, f, "early_stopping_patience", d.early_stopping_patience,
                     "A trial stops after this many epochs without a better val_loss");
  add_tune_flag<double>(*cmd, f, "val_frac", d.val_frac, "Fraction of files held out for validation");
  add_tune_flag<std::string>(*cmd, f, "optimizer", d.optimizer, "adam, sgd or rmsprop");
  add_tune_flag<int>(*cmd, f, "num_trials", d.num_trials, "Trials in the study, over all its workers");
  add_tune_flag<std::vector<std::vector<int>>>(*cmd, f, "frame_sizes", d.space.frame_sizes,
                                               "Frame sizes of one model; repeat the flag for each choice (required)");
  add_tune_flag<std::vector<int>>(*cmd, f, "batch_size", d.space.batch_size, "Batch sizes to try (required)");
  add_tune_flag<std::vector<int>>(*cmd, f, "seq_len", d.space.seq_len, "Sequence lengths to try (required)");
  add_tune_flag<std::vector<int>>(*cmd, f, "dim", d.space.dim, "RNN sizes to try");
  add_tune_flag<std::vector<std::string>>(*cmd, f, "rnn_type", d.space.rnn_type, "RNN types to try");
  add_tune_flag<std::vector<int>>(*cmd, f, "num_rnn_layers", d.space.num_rnn_layers, "RNN layer counts to try");
  add_tune_flag<std::vector<std::string>>(*cmd, f, "q_type", d.space.q_type, "Quantisations to try");
  add_tune_flag<std::vector<double>>(*cmd, f, "rnn_dropout", d.space.rnn_dropout, "RNN dropouts to try");
  add_tune_flag<std::vector<double>>(*cmd, f, "learning_rate", d.space.learning_rate, "Learning rates to try");
  add_tune_flag<std::vector<double>>(*cmd, f, "momentum", d.space.momentum,
                                     "Momentums to try (sgd and rmsprop; Adam has none)");
  add_tune_flag<std::vector<std::string>>(
      *cmd, f, "skip_conn", bool_names(d.space.skip_conn), "Skip connections to try (True, False)",
      [](const std::vector<std::string>& v) {
        json out = json::array();
        for (const std::string& s : v) out.push_back(parse_prism_bool("--skip_conn", s));
        return out;
      });
  add_tune_flag<std::string>(*cmd, f, "config_file", d.config_file,
                             "Model config for the keys the search leaves alone (q_levels, emb_size, ...)");
  add_tune_flag<std::int64_t>(*cmd, f, "max_steps", d.max_steps, "Training steps per trial at most (0: no limit)");
  add_tune_flag<double>(*cmd, f, "max_minutes", d.max_minutes, "Minutes of training per trial at most (0: no limit)");
  add_tune_flag<std::string>(*cmd, f, "storage", d.storage,
                             "Optuna storage URL: sqlite:///<file> or postgresql://... (default sqlite:///<logdir>/<id>.db)");
  add_tune_flag<std::string>(*cmd, f, "pruner", d.pruner, "asha, hyperband, median or none");
  add_tune_flag<int>(*cmd, f, "grace_period", d.grace_period, "Epochs a trial trains before it can be pruned");
  add_tune_flag<int>(*cmd, f, "reduction_factor", d.reduction_factor, "asha and hyperband: keep 1 in this many");
  add_tune_flag<std::int64_t>(*cmd, f, "rng_seed", d.rng_seed,
                              "Seed of every trial's training and of the sampler (-1: one random seed per study)");
  add_tune_flag<int>(*cmd, f, "sample_rate", d.sample_rate, "Sample rate of the data (0: the data's own)");
  add_tune_flag<std::string>(*cmd, f, "precision", d.precision, "fp32, bf16 or fp16, as for train");
  add_tune_flag<int>(*cmd, f, "max_checkpoints", d.max_checkpoints, "Checkpoints kept per trial");
  add_tune_flag<std::string>(*cmd, f, "generate", d.generate ? "True" : "False", "Write clips after each checkpoint",
                             [](const std::string& v) { return json(parse_prism_bool("--generate", v)); });
  add_tune_flag<int>(*cmd, f, "output_file_dur", d.output_file_dur, "Seconds per clip, with --generate True");
  add_tune_flag<double>(*cmd, f, "heartbeat", d.heartbeat,
                        "Seconds between a running trial's signs of life; one silent for twice this is failed and retried");
  return [flags]() -> int {
    TuneSpec spec;
    if (!flags->search_space.empty()) apply_tune_file(flags->search_space, &spec);
    for (const auto& collect : flags->collect) collect();
    apply_tune_json(flags->given, "the command line", &spec);
    // As train: the default config file is optional, a named one is not.
    ModelConfig base;
    std::vector<std::string> warnings;
    if (spec.config_file != TuneSpec{}.config_file || std::filesystem::exists(spec.config_file)) {
      base = load_model_config(spec.config_file, &warnings);
      for (const std::string& w : warnings) log_warn(spec.config_file + ": " + w);
    }
    check_tune_spec(spec, base);
    if (!std::filesystem::is_directory(spec.data_dir)) {
      throw Error(ErrorKind::kInput, "--data_dir '" + spec.data_dir + "' is not a folder",
                  "give the folder of training audio, such as the one samplernn chunk writes");
    }
    run_driver(tune_plan(spec, base));
  };
}

}  // namespace srnn
