#include "train/clips.h"

#include <algorithm>
#include <chrono>

#include "audio/clip-score.h"
#include "audio/quantize.h"
#include "audio/seed.h"
#include "audio/stats.h"
#include "audio/write.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/naming.h"
#include "infer/engine.h"

namespace srnn {
namespace fs = std::filesystem;

std::vector<std::int32_t> training_clip_seed(const TrainOptions& o, const ModelConfig& c, int sample_rate_hz) {
  if (o.seed.empty()) return {};
  const SeedAudio seed = load_seed(o.seed, sample_rate_hz, o.seed_offset, o.seed_dur, c.lookback());
  log_info("Clips will be primed with " + seed.description + ".");
  const Quantizer quantizer(c.q_type, c.q_levels);
  std::vector<std::int32_t> levels(seed.samples.size());
  quantizer.quantize(Span<const float>(seed.samples.data(), seed.samples.size()),
                     Span<std::int32_t>(levels.data(), levels.size()));
  return levels;
}

nlohmann::json write_training_clips(const fs::path& checkpoint, const TrainOptions& o, int sample_rate_hz,
                                    const std::vector<std::int32_t>& seed_levels, int epoch, std::uint64_t rng_seed,
                                    EventWriter& tb, std::int64_t step) {
  const fs::path dir = o.output_dir / o.id;
  ensure_directory(dir);
  const EngineWeights weights = load_engine_weights(checkpoint);
  const ModelConfig& c = weights.config;
  const Quantizer quantizer(c.q_type, c.q_levels);
  GenerateRequest g;
  g.n_samples = static_cast<std::int64_t>(o.output_file_dur) * sample_rate_hz;
  g.temperatures = expand_temperatures(o.temperature, o.max_generate_per_epoch);
  g.top_p = o.top_p;
  g.dc_guard = o.dc_guard;
  g.sample_rate_hz = sample_rate_hz;
  g.rng_seed = rng_seed + static_cast<std::uint64_t>(epoch);
  g.n_threads = o.num_threads;
  g.seed_levels = seed_levels;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::vector<std::int32_t>> levels = generate(weights, g);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int n = static_cast<int>(g.temperatures.size());
  const StatsDistribution corpus =
      weights.info.corpus_stats.is_null() ? StatsDistribution{} : distribution_from_json(weights.info.corpus_stats);
  std::vector<ClipVerdict> verdicts;
  nlohmann::json clips = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    std::vector<float> audio(levels[i].size());
    for (std::size_t j = 0; j < audio.size(); ++j) audio[j] = quantizer.dequantize(levels[i][j]);
    const fs::path path = dir / clip_name(o.id, epoch, i, n, g.temperatures[i]);
    write_audio(path, audio, sample_rate_hz);
    log_info("Generated " + path.string() + " (" + fixed(secs, 1) + " s)");
    const AudioStats stats = compute_stats(Span<const float>(audio.data(), audio.size()), sample_rate_hz);
    log_clip_stats(path.filename().string(), stats);
    tb.audio("samplernn/clips/" + path.stem().string(), step, audio, sample_rate_hz);
    verdicts.push_back(score_clip(stats, corpus));
    clips.push_back(clip_record(path.filename().string(), stats, verdicts.back()));
  }
  log_corpus_stats(weights.info.corpus_stats);
  const double score = checkpoint_score(verdicts);
  const auto passing = std::count_if(verdicts.begin(), verdicts.end(), [](const ClipVerdict& v) { return v.passes; });
  log_info("clip score " + fixed(score, 2) + " (" + std::to_string(passing) + " of " + std::to_string(n) +
           " clips pass)");
  // One temperature as a number, several as the list the clips were drawn at.
  const bool one_temperature = std::all_of(g.temperatures.begin(), g.temperatures.end(),
                                           [&](double t) { return t == g.temperatures.front(); });
  const nlohmann::json temperature =
      one_temperature ? nlohmann::json(g.temperatures.front()) : nlohmann::json(g.temperatures);
  // rng_seed and primed set these clips apart from `rank`'s, which are drawn from one seed for
  // every checkpoint, unprimed: rank scores them again rather than take them as its own.
  return {{"score", score},
          {"step", step},
          {"epoch", epoch},
          {"clips", clips},
          {"settings",
           {{"n_clips", n}, {"dur_s", o.output_file_dur}, {"temperature", temperature}, {"top_p", o.top_p}, {"dc_guard", o.dc_guard},
            {"rng_seed", g.rng_seed}, {"primed", !seed_levels.empty()}}}};
}

}  // namespace srnn
