// samplernn import-prism: a PRiSM SampleRNN checkpoint (TensorFlow, Keras save_weights) as a
// samplernn checkpoint that generates, scores and continues training, with PRiSM's Adam
// moments when the checkpoint has them (core/prism-import.h).
#include <cstdio>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/prism-import.h"
#include "core/tf-bundle.h"

namespace srnn {
namespace {
namespace fs = std::filesystem;

struct ImportArgs {
  std::string checkpoint_path, config_file, output;
  int sample_rate = 16000;
};

int run_import(const ImportArgs& a) {
  if (a.sample_rate < 1 || a.sample_rate > 1000000) {
    throw Error(ErrorKind::kUsage, "--sample_rate " + std::to_string(a.sample_rate) + " is not a sample rate",
                "give the rate the PRiSM model was trained at, in Hz (PRiSM's default: 16000)");
  }
  const TfBundle bundle(resolve_tf_checkpoint(a.checkpoint_path));
  const PrismImport im = import_prism(bundle, read_json_file(a.config_file, "config file", "--config_file"), a.sample_rate);
  log_info("Read " + bundle.prefix().string() + ".index: " + im.notes.front());
  for (std::size_t i = 1; i < im.notes.size(); ++i) log_info("Note: " + im.notes[i]);
  const fs::path target(a.output);
  if (target.has_parent_path()) ensure_directory(target.parent_path());
  save_safetensors(target, im.file);
  std::printf("Wrote %s: %zu tensors, %d Hz (PRiSM stores no rate: --sample_rate), %.1f MB\n", target.string().c_str(),
              im.file.tensors.size(), a.sample_rate, fs::file_size(target) / 1e6);
  return 0;
}

}  // namespace

CommandRunner add_import_prism_command(CLI::App& app) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand("import-prism", "Turn a PRiSM SampleRNN (TensorFlow) checkpoint into a samplernn checkpoint.");
  cmd->option_defaults()->always_capture_default();
  add_flag_option(*cmd, "checkpoint_path", a->checkpoint_path,
                  "PRiSM checkpoint: model.ckpt-<epoch>.index, its .data-00000-of-00001, the prefix, a run folder with "
                  "TensorFlow's 'checkpoint' file, or logdir/<id> (its newest run)")
      ->required();
  add_flag_option(*cmd, "config_file", a->config_file, "The PRiSM config JSON the model was trained with")->required();
  add_flag_option(*cmd, "output", a->output, "samplernn checkpoint to write (safetensors)")->required();
  add_flag_option(*cmd, "sample_rate", a->sample_rate,
                  "Sample rate the model was trained at, in Hz (PRiSM does not store it; its default is 16000)");
  return [a]() { return run_import(*a); };
}

}  // namespace srnn
