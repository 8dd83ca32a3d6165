// samplernn rank: every checkpoint of a run or id folder scored by the clips it generates
// (audio/clip-score.h), recorded in each run's clip-scores.json (core/clip-scores.h) and
// printed best first, with the one `--checkpoint_path FOLDER` now takes marked.
//
// Every checkpoint draws the same clips (one --rng_seed, unprimed) on the torch-free engine,
// so that they compare fairly.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "audio/clip-score.h"
#include "audio/quantize.h"
#include "audio/stats.h"
#include "audio/write.h"
#include "cli/commands.h"
#include "core/clip-scores.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/naming.h"
#include "core/run-layout.h"
#include "core/threads.h"
#include "infer/engine.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

struct RankArgs {
  std::string folder, output_dir;
  int num_clips = 4;
  double dur = 4;  // seconds per clip
  double temperature = 0.95;
  double top_p = 1.0;
  std::string dc_guard = "False";
  long long rng_seed = 1;
  int num_threads = hardware_threads();
  bool rescore = false;
  bool json = false;
};

constexpr int kMaxClips = 256;

struct Checkpoint {
  fs::path run, path;
  int epoch = 0;
};

// One row of the table, from a checkpoint's recorded entry.
struct Row {
  fs::path path;
  std::string name;  // "model.ckpt-3", or "<run>/model.ckpt-3" for an id folder
  std::int64_t step = 0;
  int epoch = 0;
  double score = 0;
  int n_clips = 0, n_passing = 0;
  double median_tonal = NAN, median_partials = NAN, max_abs_dc = NAN;  // NaN: not recorded
  bool chosen = false;
};

void check_rank_args(const RankArgs& a) {
  if (a.num_clips < 1 || a.num_clips > kMaxClips) {
    throw Error(ErrorKind::kUsage, "--num_clips must be in [1, " + std::to_string(kMaxClips) + "]");
  }
  if (!(a.dur > 0 && a.dur <= 3600)) throw Error(ErrorKind::kUsage, "--dur must be a number of seconds in (0, 3600]");
  check_temperatures({a.temperature});
  check_top_p(a.top_p);
  if (a.rng_seed < 0) {
    throw Error(ErrorKind::kUsage, "--rng_seed must be at least 0",
                "rank draws the same clips for every checkpoint; a random seed would not compare them fairly");
  }
  if (a.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
}

// The checkpoints of a run folder, or of every run folder of an id folder, oldest first.
std::vector<Checkpoint> checkpoints_under(const fs::path& folder) {
  refuse_tf_checkpoint(folder);
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw Error(ErrorKind::kInput, "'" + folder.string() + "' is not a folder",
                fs::exists(folder, ec) ? "rank takes a run or id folder; score one checkpoint with "
                                         "`samplernn stats --against <checkpoint> <clips>`"
                                       : "give a run folder (logdir/<id>/<DD.MM.YYYY_HH.MM.SS>) or an id folder (logdir/<id>)");
  }
  std::vector<fs::path> runs = run_folders(folder);
  if (runs.empty()) runs.push_back(folder);
  std::vector<Checkpoint> out;
  for (const fs::path& run : runs) {
    for (const auto& [epoch, path] : checkpoints_in(run)) out.push_back({run, path, epoch});
  }
  if (out.empty()) {
    throw Error(ErrorKind::kInput, "'" + folder.string() + "' holds no checkpoints (model.ckpt-<epoch>)",
                "give a run folder (logdir/<id>/<DD.MM.YYYY_HH.MM.SS>) or an id folder (logdir/<id>) that training "
                "wrote checkpoints to");
  }
  return out;
}

nlohmann::json settings_of(const RankArgs& a) {
  return {{"n_clips", a.num_clips}, {"dur_s", a.dur},   {"temperature", a.temperature},
          {"top_p", a.top_p},       {"dc_guard", parse_prism_bool("--dc_guard", a.dc_guard)},
          {"rng_seed", a.rng_seed}};
}

// Generates and scores the clips of one checkpoint; returns its entry. Keeps the clips as
// WAV in output_dir when one is given. `progress` starts the progress line on a terminal.
nlohmann::json score_checkpoint(const RankArgs& a, const Checkpoint& c, const std::string& progress) {
  const EngineWeights weights = load_engine_weights(c.path);
  std::string rate_note;
  const int rate = model_sample_rate(weights.info, 0, c.path, &rate_note);
  if (!rate_note.empty()) log_warn(rate_note);
  StatsDistribution corpus;
  if (weights.info.corpus_stats.is_null()) {
    log_warn(c.path.string() + " records no figures of its training data (an older checkpoint): its clips are "
             "scored from failures alone (collapse, DC, silence, clipping)");
  } else {
    corpus = distribution_from_json(weights.info.corpus_stats);
  }
  const Quantizer quantizer(weights.config.q_type, weights.config.q_levels);
  GenerateRequest g;
  g.n_samples = std::max<std::int64_t>(1, std::llround(a.dur * rate));
  g.temperatures.assign(static_cast<std::size_t>(a.num_clips), a.temperature);
  g.top_p = a.top_p;
  g.dc_guard = parse_prism_bool("--dc_guard", a.dc_guard);
  g.sample_rate_hz = rate;
  g.rng_seed = static_cast<std::uint64_t>(a.rng_seed);
  g.n_threads = a.num_threads;
  g.stop = &interrupt_flag();
  if (stderr_is_tty()) {  // redrawn in place; in a log, the line per checkpoint is enough
    g.on_progress = [&](std::int64_t done) {
      log_progress(progress + fixed(100.0 * static_cast<double>(done) / static_cast<double>(g.n_samples), 0) + "%");
    };
  }
  const std::vector<std::vector<std::int32_t>> levels = generate(weights, g);
  if (interrupted()) throw Error(ErrorKind::kInterrupted, "interrupted while generating the clips of " + c.path.string());

  std::vector<ClipVerdict> verdicts;
  nlohmann::json clips = nlohmann::json::array();
  for (int i = 0; i < a.num_clips; ++i) {
    std::vector<float> audio(levels[i].size());
    for (std::size_t j = 0; j < audio.size(); ++j) audio[j] = quantizer.dequantize(levels[i][j]);
    const std::string file =
        c.run.filename().string() + "_" + c.path.filename().string() + "_" + std::to_string(i) + ".wav";
    if (!a.output_dir.empty()) write_audio(fs::path(a.output_dir) / file, audio, rate);
    const AudioStats stats = compute_stats(Span<const float>(audio.data(), audio.size()), rate);
    verdicts.push_back(score_clip(stats, corpus));
    clips.push_back(clip_record(file, stats, verdicts.back()));
  }
  return {{"score", checkpoint_score(verdicts)},
          {"step", weights.info.train.step},
          {"epoch", c.epoch},
          {"clips", clips},
          {"settings", settings_of(a)}};
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Row row_of(const Checkpoint& c, const nlohmann::json& entry, bool id_folder) {
  Row r;
  r.path = c.path;
  r.name = id_folder ? (c.run.filename() / c.path.filename()).string() : c.path.filename().string();
  r.epoch = c.epoch;
  r.score = entry.at("score").get<double>();
  if (entry.contains("step") && entry["step"].is_number()) r.step = entry["step"].get<std::int64_t>();
  std::vector<double> tonal, partials;
  const nlohmann::json clips = entry.value("clips", nlohmann::json::array());
  for (const nlohmann::json& clip : clips) {
    if (!clip.is_object()) continue;
    ++r.n_clips;
    if (clip.value("passes", false)) ++r.n_passing;
    if (clip.contains("tonal_fraction") && clip["tonal_fraction"].is_number()) tonal.push_back(clip["tonal_fraction"]);
    if (clip.contains("partials") && clip["partials"].is_number()) partials.push_back(clip["partials"]);
    if (clip.contains("dc_offset") && clip["dc_offset"].is_number()) {
      const double dc = std::fabs(clip["dc_offset"].get<double>());
      r.max_abs_dc = std::isnan(r.max_abs_dc) ? dc : std::max(r.max_abs_dc, dc);
    }
  }
  r.median_tonal = median(tonal);
  r.median_partials = median(partials);
  return r;
}

std::string figure(double v, int digits) { return std::isnan(v) ? "-" : fixed(v, digits); }

nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

void print_table(const std::vector<Row>& rows) {
  std::size_t width = 10;
  for (const Row& r : rows) width = std::max(width, r.name.size());
  std::printf("%-*s %10s %6s %6s %6s %8s %8s\n", static_cast<int>(width), "checkpoint", "step", "score", "pass",
              "tonal", "partials", "max|DC|");
  for (const Row& r : rows) {
    const std::string pass = std::to_string(r.n_passing) + "/" + std::to_string(r.n_clips);
    std::printf("%-*s %10lld %6s %6s %6s %8s %8s%s\n", static_cast<int>(width), r.name.c_str(),
                static_cast<long long>(r.step), fixed(r.score, 2).c_str(), pass.c_str(),
                figure(r.median_tonal, 2).c_str(), figure(r.median_partials, 1).c_str(),
                figure(r.max_abs_dc, 4).c_str(), r.chosen ? "  <- --checkpoint_path takes this" : "");
  }
  std::printf("tonal and partials: the clips' medians; score: the mean clip score (docs/cli.md, \"The clip score\")\n");
}

int run_rank(const RankArgs& a) {
  check_rank_args(a);
  // Absolute, without a trailing slash: the run folder's name goes into the clips' names.
  fs::path folder = fs::absolute(fs::path(a.folder)).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();
  const std::vector<Checkpoint> checkpoints = checkpoints_under(folder);
  const bool id_folder = !run_folders(folder).empty();
  if (!a.output_dir.empty()) ensure_directory(a.output_dir);
  const nlohmann::json settings = settings_of(a);
  const InterruptScope interrupt;  // Ctrl-C stops after the clips in progress; what is recorded stays
  log_info("Ranking " + std::to_string(checkpoints.size()) + " checkpoint" + (checkpoints.size() == 1 ? "" : "s") +
           " of " + folder.string() + ": " + std::to_string(a.num_clips) + " clips of " + fixed(a.dur, 1) +
           " s each, temperature " + fixed(a.temperature, 2) + ", rng_seed " + std::to_string(a.rng_seed) + ", " +
           std::to_string(a.num_threads) + " threads");
  std::vector<Row> rows;
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    const Checkpoint& c = checkpoints[i];
    const std::string name = id_folder ? (c.run.filename() / c.path.filename()).string() : c.path.filename().string();
    const std::string counter = "[" + std::to_string(i + 1) + "/" + std::to_string(checkpoints.size()) + "] ";
    const nlohmann::json scores = read_clip_scores(c.run);
    const auto old = scores.find(c.path.filename().string());
    nlohmann::json entry;
    if (!a.rescore && old != scores.end() && old->value("settings", nlohmann::json()) == settings) {
      entry = *old;
      log_info(counter + name + ": clip score " + fixed(entry.at("score").get<double>(), 2) +
               ", scored before with these settings (--rescore to score it again)");
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      // Keys rank does not write (the minutes into training, say) stay.
      entry = old != scores.end() ? *old : nlohmann::json::object();
      entry.update(score_checkpoint(a, c, counter + name + ": generating "));
      record_clip_score(c.run, c.path.filename().string(), entry);
      const Row r = row_of(c, entry, id_folder);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log_info(counter + name + ": clip score " + fixed(r.score, 2) + " (" + std::to_string(r.n_passing) + " of " +
               std::to_string(r.n_clips) + " clips pass), " + fixed(secs, 1) + " s");
    }
    rows.push_back(row_of(c, entry, id_folder));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    return x.score != y.score ? x.score > y.score : x.step > y.step;
  });
  const std::vector<ScoredCheckpoint> scored = scored_checkpoints(folder);
  for (Row& r : rows) r.chosen = !scored.empty() && r.path == scored.front().path;
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Row& r : rows) {
      out.push_back({{"checkpoint", r.path.string()},
                     {"step", r.step},
                     {"epoch", r.epoch},
                     {"score", r.score},
                     {"n_clips", r.n_clips},
                     {"n_passing", r.n_passing},
                     {"median_tonal_fraction", number_or_null(r.median_tonal)},
                     {"median_partials", number_or_null(r.median_partials)},
                     {"max_abs_dc", number_or_null(r.max_abs_dc)},
                     {"chosen", r.chosen}});
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    print_table(rows);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

CommandRunner add_rank_command(CLI::App& app) {
  auto a = std::make_shared<RankArgs>();
  CLI::App* cmd = app.add_subcommand(
      "rank", "Score every checkpoint of a run or id folder by the clips it generates, against its training data, "
              "and print them best first; --checkpoint_path on the folder then takes the best.");
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("folder", a->folder, "A run folder (logdir/<id>/<DD.MM.YYYY_HH.MM.SS>) or an id folder (logdir/<id>)")
      ->required();
  add_flag_option(*cmd, "num_clips", a->num_clips, "Clips generated per checkpoint");
  add_flag_option(*cmd, "dur", a->dur, "Seconds per clip");
  add_flag_option(*cmd, "temperature", a->temperature, "Sampling temperature of the clips");
  add_flag_option(*cmd, "top_p", a->top_p, "Nucleus (top-p) of the clips, in (0, 1]; 1: plain temperature sampling");
  add_flag_option(*cmd, "dc_guard", a->dc_guard, "Guard the clips against DC drift (generate --dc_guard)");
  add_flag_option(*cmd, "rng_seed", a->rng_seed,
                  "Seed of the sampling generator: the same clips' draws for every checkpoint, so they compare fairly");
  add_flag_option(*cmd, "num_threads", a->num_threads, "Threads; the clips are shared out between them");
  cmd->add_flag("--rescore", a->rescore,
                "Generate and score again checkpoints that already have a score with the same settings");
  add_flag_option(*cmd, "output_dir", a->output_dir, "Keep the clips as WAV here, named <run>_<checkpoint>_<i>.wav");
  cmd->add_flag("--json", a->json, "Print the table as JSON, best first");
  return [a]() { return run_rank(*a); };
}

}  // namespace srnn
