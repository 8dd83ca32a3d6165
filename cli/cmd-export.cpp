// samplernn export: a checkpoint's weights alone, for sharing or shipping a model: no
// optimiser state or RNG (a third of the size), as bfloat16 (a sixth) or with int8 matrices
// (about a twelfth). The result generates, scores and continues training like the original
// (training restarts the optimiser's moments; an int8 file continues from its dequantised
// weights).
#include <cstdio>
#include <set>

#include "cli/commands.h"
#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/model-spec.h"
#include "core/run-layout.h"
#include "core/safetensors.h"

namespace srnn {
namespace {
namespace fs = std::filesystem;

struct ExportArgs {
  std::string checkpoint_path, output;
  std::string weights = "bf16";
  int sample_rate = 0;  // 0: the model's
};

Tensor to_bf16(const Tensor& t) {
  if (t.dtype != DType::kF32) return t;
  const std::vector<float> f = t.to_f32();
  Tensor out;
  out.dtype = DType::kBF16;
  out.shape = t.shape;
  out.bytes.resize(f.size() * 2);
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::uint16_t b = f32_to_bf16(f[i]);
    out.bytes[2 * i] = static_cast<std::uint8_t>(b & 0xff);
    out.bytes[2 * i + 1] = static_cast<std::uint8_t>(b >> 8);
  }
  return out;
}

int run_export(const ExportArgs& a) {
  const fs::path checkpoint = resolve_checkpoint_path(a.checkpoint_path);
  const TensorFile loaded = load_safetensors(checkpoint, [](const std::string& name) { return is_weight_tensor(name); });
  // The metadata is rewritten in the current format, with the model's sample rate (which
  // --sample_rate supplies for an older checkpoint that does not record it).
  CheckpointInfo info = checkpoint_info_of(loaded, checkpoint);
  std::string rate_note;
  info.sample_rate_hz = model_sample_rate(info, a.sample_rate, checkpoint, &rate_note);
  if (!rate_note.empty()) log_warn(rate_note);
  // An int8 file is read back to floats first, so any export can be exported again.
  TensorFile in = loaded;
  dequantise_matrices_int8(in, info.config, checkpoint);
  const WeightFormat format = parse_weight_format(a.weights);
  // int8 quantises the matrices it stores as int8 from their float values, and keeps the
  // rest (frame inputs, embedding, convolution, biases) as bf16: the precision the engine's
  // int8 format gives them, or more.
  std::set<std::string> quantised;
  if (format == WeightFormat::kInt8) {
    for (const WeightMatrix& m : int8_matrices(info.config)) quantised.insert(m.name);
  }
  TensorFile out;
  out.metadata = to_metadata(without_machine_paths(info));
  for (const auto& [name, t] : in.tensors) {
    // A shared model must work: weights of a diverged run are refused, not passed on.
    if (!t.all_finite()) {
      throw Error(ErrorKind::kInput, "'" + checkpoint.string() + "' holds NaN or infinite values in '" + name + "'",
                  "export an earlier checkpoint of the run");
    }
    out.put(name, format == WeightFormat::kF32 || quantised.count(name) ? t : to_bf16(t));
  }
  if (format == WeightFormat::kInt8) quantise_matrices_int8(out, info.config);
  const fs::path target(a.output);
  if (target.has_parent_path()) ensure_directory(target.parent_path());
  save_safetensors(target, out);
  std::printf("Wrote %s: %zu tensors, %s weights, %d Hz, %.1f MB (from %.1f MB)\n", target.string().c_str(),
              out.tensors.size(), a.weights.c_str(), info.sample_rate_hz, fs::file_size(target) / 1e6,
              fs::file_size(checkpoint) / 1e6);
  return 0;
}

}  // namespace

CommandRunner add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Write a checkpoint's weights alone (bfloat16, int8 or fp32), for sharing.");
  cmd->option_defaults()->always_capture_default();
  add_flag_option(*cmd, "checkpoint_path", a->checkpoint_path,
                  "Checkpoint file, or a run or id folder: its best clip score (samplernn rank), else its latest checkpoint")
      ->required();
  add_flag_option(*cmd, "output", a->output, "File to write (safetensors, same layout)")->required();
  add_flag_option(*cmd, "weights", a->weights,
                  "bf16 (half the size), int8 (int8 matrices with per-output scales, the rest bf16) or fp32")
      ->check(CLI::IsMember({"bf16", "int8", "fp32"}));
  add_flag_option(*cmd, "sample_rate", a->sample_rate,
                  "The model's sample rate, for an older checkpoint that does not record it (0: the checkpoint's, or "
                  "16000); another rate than a recorded one is an error");
  return [a]() { return run_export(*a); };
}

}  // namespace srnn
