// Subcommands of the `samplernn` binary. Each add_* function registers its flags on `app`
// and returns the code that runs it once the command line has been parsed. The runner
// throws srnn::Error for failures main() reports in one line; its return value is the
// process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace srnn {

using CommandRunner = std::function<int()>;

CommandRunner add_chunk_command(CLI::App& app);
CommandRunner add_train_command(CLI::App& app);
CommandRunner add_finetune_command(CLI::App& app);
CommandRunner add_generate_command(CLI::App& app);
CommandRunner add_stats_command(CLI::App& app);
CommandRunner add_copies_command(CLI::App& app);
CommandRunner add_rank_command(CLI::App& app);
CommandRunner add_plot_command(CLI::App& app);
CommandRunner add_report_command(CLI::App& app);
CommandRunner add_eval_command(CLI::App& app);
CommandRunner add_export_command(CLI::App& app);
CommandRunner add_import_prism_command(CLI::App& app);
CommandRunner add_tune_command(CLI::App& app);

// PRiSM-style flag values: booleans as True/False (any prefix, any case), and "None" for
// "no limit" (returned as 0). Throw Error(kUsage) naming the flag.
bool parse_prism_bool(const std::string& flag, const std::string& value);
int parse_positive_or_none(const std::string& flag, const std::string& value);

// Adds an option under its PRiSM name (--input_file) and its dashed spelling (--input-file).
template <typename T>
CLI::Option* add_flag_option(CLI::App& app, const std::string& underscored, T& value, const std::string& help) {
  std::string names = "--" + underscored;
  std::string dashed = underscored;
  for (char& c : dashed) {
    if (c == '_') c = '-';
  }
  if (dashed != underscored) names += ",--" + dashed;
  return app.add_option(names, value, help);
}

}  // namespace srnn
