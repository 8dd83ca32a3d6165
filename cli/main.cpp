// samplernn: prepare audio, train SampleRNN models, generate and inspect audio.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/launch.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  // A write past a file-size limit must fail with EFBIG, and a write to a closed pipe with
  // EPIPE, and be reported, not kill us.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  srnn::set_command_line(argc, argv);

  CLI::App app{"samplernn: prepare audio, train SampleRNN models and generate audio with them.", "samplernn"};
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("samplernn ") + SRNN_VERSION);
  app.footer("Run 'samplernn <command> --help' for the flags of a command.");

  std::vector<std::pair<CLI::App*, srnn::CommandRunner>> commands;
  const auto add = [&](srnn::CommandRunner (*adder)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    srnn::CommandRunner run = adder(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(run));
  };
  add(srnn::add_chunk_command);
  add(srnn::add_train_command);
  add(srnn::add_finetune_command);
  add(srnn::add_generate_command);
  add(srnn::add_eval_command);
  add(srnn::add_export_command);
  add(srnn::add_import_prism_command);
  add(srnn::add_stats_command);
  add(srnn::add_copies_command);
  add(srnn::add_rank_command);
  add(srnn::add_plot_command);
  add(srnn::add_report_command);
  add(srnn::add_tune_command);

  // As argparse does, a flag given twice takes its last value (lists included): every
  // occurrence replaces the values of the one before. Positional lists keep every value, and
  // so do lists of lists (tune's --frame_sizes 16 64 --frame_sizes 32 128, argparse's append).
  for (auto& [sub, run] : commands) {
    for (CLI::Option* opt : sub->get_options()) {
      if (opt->nonpositional() && opt != sub->get_help_ptr() && !opt->get_inject_separator()) opt->trigger_on_parse();
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string command = "samplernn";
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) command += " " + sub->get_name();
    }
    srnn::log_error(std::string(e.what()) + " (see '" + command + " --help')");
    return srnn::exit_code(srnn::ErrorKind::kUsage);
  }

  // The documentation test checks every documented command line this way.
  if (std::getenv("SRNN_CHECK_FLAGS") != nullptr) return 0;
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
    return srnn::exit_code(srnn::ErrorKind::kUsage);
  } catch (const srnn::Error& e) {
    srnn::log_error(e.what());
    return srnn::exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    srnn::log_error("out of memory (hint: ask for less: a shorter --dur, fewer --num_seqs, a smaller --batch_size "
                    "or model)");
    return srnn::exit_code(srnn::ErrorKind::kMemory);
  } catch (const std::exception& e) {
    // Library messages (LibTorch's) carry backtraces after their first line.
    std::string what = e.what();
    if (std::getenv("SRNN_DEBUG") == nullptr || std::string(std::getenv("SRNN_DEBUG")) != "1") {
      what = what.substr(0, what.find('\n'));
    }
    srnn::log_error("unexpected failure: " + what + " (hint: SRNN_DEBUG=1 prints the details; please report it)");
    return srnn::exit_code(srnn::ErrorKind::kInternal);
  }
}
