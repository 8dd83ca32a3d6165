// samplernn eval: how well a checkpoint predicts audio it was not trained on, as the
// teacher-forced NLL in bits per sample, next to the entropy of the audio's quantised level
// histogram (the NLL of a model that knows only how often each level occurs).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "audio/decode.h"
#include "audio/quantize.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/run-layout.h"
#include "core/threads.h"
#include "infer/engine.h"

namespace srnn {
namespace {
namespace fs = std::filesystem;

struct EvalArgs {
  std::string checkpoint_path;
  std::vector<std::string> inputs;
  int sample_rate = 0;  // 0: the model's
  double segment_dur = 8.0;
  int num_threads = 1;
  std::string weights = "fp32";
  bool json = false;
  bool record = false;
  bool held_out = false;
};

// --held_out: the validation files the checkpoint records (under its data folder), which
// its run never trained on.
std::vector<fs::path> held_out_files(const fs::path& checkpoint, const TrainState& state) {
  const DataSplit& d = state.data;
  const fs::path dir(d.data_dir);
  std::vector<fs::path> out;
  for (const std::string& name : d.val_files) {
    std::error_code ec;
    if (dir.is_absolute() && fs::exists(dir / name, ec)) out.push_back(dir / name);
  }
  if (out.empty()) {
    throw Error(ErrorKind::kInput,
                "'" + checkpoint.string() + "' records no validation files that exist here" +
                    (d.val_files.empty() ? "" : " (" + std::to_string(d.val_files.size()) + " under '" + d.data_dir + "')"),
                "give the audio to score instead of --held_out");
  }
  return out;
}

double entropy_bits(const std::vector<std::int64_t>& counts) {
  std::int64_t total = 0;
  for (std::int64_t c : counts) total += c;
  double h = 0;
  for (std::int64_t c : counts) {
    if (c > 0) h -= static_cast<double>(c) / total * std::log2(static_cast<double>(c) / total);
  }
  return h;
}

// --record: evals.jsonl beside the checkpoint, where `samplernn report` finds it (a run
// folder's held-out NLL). Opened before the scoring, so that an unwritable folder costs no
// time; a line cut short by a crash is skipped by the report.
std::ofstream open_record(const fs::path& checkpoint) {
  const fs::path path = checkpoint.parent_path() / "evals.jsonl";
  std::ofstream f(path, std::ios::app);
  if (!f) {
    throw Error(ErrorKind::kIo, "cannot append to '" + path.string() + "'",
                "check that the checkpoint's folder is writable, or leave out --record");
  }
  return f;
}

void write_record(std::ofstream& f, const fs::path& checkpoint, const TrainState& state, const EvalArgs& a,
                  std::size_t n_files, double seconds, double nll_bits, double entropy_bits) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const std::string& in : a.inputs) inputs.push_back(fs::absolute(in).lexically_normal().string());
  const nlohmann::json row = {{"kind", "eval"},
                              {"time", run_folder_name_now()},
                              {"checkpoint", checkpoint.filename().string()},
                              {"epoch", state.epoch},
                              {"epoch_complete", state.epoch_complete},
                              {"step", state.step},
                              {"weights", a.weights},
                              {"inputs", inputs},
                              {"held_out", a.held_out},
                              {"files", n_files},
                              {"seconds", seconds},
                              {"nll_bits_per_sample", nll_bits},
                              {"histogram_entropy_bits", entropy_bits}};
  if (!(f << row.dump() << '\n') || !f.flush()) {
    throw Error(ErrorKind::kIo, "cannot append to '" + (checkpoint.parent_path() / "evals.jsonl").string() + "'",
                "check that the disk has room, or leave out --record");
  }
}

int run_eval(const EvalArgs& a) {
  const fs::path checkpoint = resolve_checkpoint_path(a.checkpoint_path);
  if (!(a.segment_dur >= 0.1)) throw Error(ErrorKind::kUsage, "--segment_dur must be at least 0.1 s");
  if (a.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
  if (a.sample_rate < 0) throw Error(ErrorKind::kUsage, "--sample_rate must not be negative");
  const EngineWeights weights = load_engine_weights(checkpoint, parse_weight_format(a.weights));
  std::ofstream record;
  if (a.record) record = open_record(checkpoint);
  const ModelConfig& c = weights.config;
  const Quantizer quantizer(c.q_type, c.q_levels);
  std::string rate_note;
  const int rate = model_sample_rate(weights.info, a.sample_rate, checkpoint, &rate_note);
  if (!rate_note.empty()) log_warn(rate_note);

  if (a.held_out == !a.inputs.empty()) {
    throw Error(ErrorKind::kUsage, a.held_out ? "--held_out scores the checkpoint's own validation files: give no inputs"
                                              : "give audio files or folders to score, or --held_out");
  }
  const std::vector<fs::path> files =
      a.held_out ? held_out_files(checkpoint, weights.info.train) : expand_audio_inputs(a.inputs);
  if (a.held_out) log_info("Scoring the " + std::to_string(files.size()) + " validation files the checkpoint records.");

  // Each file is quantised and cut into segments of --segment_dur (the last one shorter);
  // each segment starts from the initial RNN state, as a training file does.
  const std::int64_t seg = static_cast<std::int64_t>(a.segment_dur * rate);
  std::vector<std::vector<std::int32_t>> segments;
  std::vector<std::size_t> owner;  // segment -> file
  std::vector<std::int64_t> n_samples(files.size(), 0);
  std::vector<std::vector<std::int64_t>> counts(files.size(), std::vector<std::int64_t>(c.q_levels, 0));
  for (std::size_t f = 0; f < files.size(); ++f) {
    const DecodedAudio audio = load_mono(files[f], rate);
    std::vector<std::int32_t> levels(audio.samples.size());
    quantizer.quantize(Span<const float>(audio.samples.data(), audio.samples.size()),
                       Span<std::int32_t>(levels.data(), levels.size()));
    for (std::int32_t l : levels) ++counts[f][l];
    n_samples[f] = static_cast<std::int64_t>(levels.size());
    for (std::int64_t b = 0; b < n_samples[f]; b += seg) {
      segments.emplace_back(levels.begin() + b, levels.begin() + std::min(n_samples[f], b + seg));
      owner.push_back(f);
    }
  }
  std::int64_t total = 0;
  for (std::int64_t n : n_samples) total += n;
  log_info("Scoring " + std::to_string(files.size()) + " files (" + fixed(total / 3600.0 / rate, 2) +
           " h) with " + checkpoint.string() + " (epoch " + std::to_string(weights.info.train.epoch) + ", step " +
           std::to_string(weights.info.train.step) + ")");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<double> sums = teacher_forced_nll_sums(weights, segments, a.num_threads, [&](std::int64_t done) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_progress("Scored " + fixed(100.0 * done / total, 0) + "% (" + fixed(done / std::max(s, 1e-9), 0) + " samples/s)",
                 done == total);
  });

  std::vector<double> nll(files.size(), 0.0);
  for (std::size_t i = 0; i < segments.size(); ++i) nll[owner[i]] += sums[i];
  std::vector<std::int64_t> all_counts(c.q_levels, 0);
  double all_nll = 0;
  nlohmann::json out = {{"checkpoint", checkpoint.string()}, {"epoch", weights.info.train.epoch},
                        {"step", weights.info.train.step}, {"sample_rate", rate},
                        {"files", nlohmann::json::array()}};
  for (std::size_t f = 0; f < files.size(); ++f) {
    const double bits = nll[f] / std::log(2.0) / std::max<std::int64_t>(n_samples[f], 1);
    const double h = entropy_bits(counts[f]);
    for (int l = 0; l < c.q_levels; ++l) all_counts[l] += counts[f][l];
    all_nll += nll[f];
    out["files"].push_back({{"file", files[f].string()}, {"seconds", static_cast<double>(n_samples[f]) / rate},
                            {"nll_bits_per_sample", bits}, {"histogram_entropy_bits", h}});
    if (!a.json) {
      std::printf("%s: %.1f s, NLL %.3f bits/sample, level-histogram entropy %.3f bits\n", files[f].string().c_str(),
                  static_cast<double>(n_samples[f]) / rate, bits, h);
    }
  }
  const double all_bits = all_nll / std::log(2.0) / std::max<std::int64_t>(total, 1);
  const double all_h = entropy_bits(all_counts);
  out["nll_bits_per_sample"] = all_bits;
  out["histogram_entropy_bits"] = all_h;
  if (a.record) {
    write_record(record, checkpoint, weights.info.train, a, files.size(), total / static_cast<double>(rate), all_bits,
                 all_h);
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("All %zu files, %.2f h: NLL %.3f bits/sample, level-histogram entropy %.3f bits/sample\n", files.size(),
                total / 3600.0 / rate, all_bits, all_h);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

CommandRunner add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  a->num_threads = hardware_threads();
  CLI::App* cmd = app.add_subcommand("eval", "Score audio with a checkpoint: teacher-forced NLL in bits per sample, "
                                             "next to the entropy of the audio's level histogram.");
  cmd->option_defaults()->always_capture_default();
  add_flag_option(*cmd, "checkpoint_path", a->checkpoint_path,
                  "Checkpoint file (model.ckpt-<epoch>), or a run or id folder: its best clip score (samplernn rank), "
                  "else its latest checkpoint")
      ->required();
  cmd->add_option("inputs", a->inputs, "Audio files or folders (searched recursively)");
  cmd->add_flag("--held_out,--held-out", a->held_out,
                "Score the validation files the checkpoint records (with train --val_split time, the last part of "
                "each track), instead of inputs");
  add_flag_option(*cmd, "sample_rate", a->sample_rate,
                  "Rate the audio is resampled to; 0: the model's. Another rate than the model's is an error");
  add_flag_option(*cmd, "segment_dur", a->segment_dur, "Seconds per independently scored segment (as training files)");
  add_flag_option(*cmd, "num_threads", a->num_threads, "Threads; batches of 16 segments are shared out between them");
  add_flag_option(*cmd, "weights", a->weights, "fp32, bf16 or int8 weights (as generate --weights)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_flag("--json", a->json, "Print JSON instead of text");
  cmd->add_flag("--record", a->record,
                "Also append the result to evals.jsonl beside the checkpoint, where `samplernn report` shows it");
  return [a]() { return run_eval(*a); };
}

}  // namespace srnn
