#include "train/clips.h"

#include <chrono>

#include "audio/decode.h"
#include "audio/quantize.h"
#include "audio/stats.h"
#include "audio/write.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/naming.h"
#include "infer/engine.h"

namespace srnn {
namespace fs = std::filesystem;

void write_training_clips(const fs::path& checkpoint, const TrainOptions& o, int epoch, std::uint64_t rng_seed,
                          EventWriter& tb, std::int64_t step) {
  const fs::path dir = o.output_dir / o.id;
  ensure_directory(dir);
  const EngineWeights weights = load_engine_weights(checkpoint);
  const ModelConfig& c = weights.config;
  const Quantizer quantizer(c.q_type, c.q_levels);
  GenerateRequest g;
  g.n_samples = static_cast<std::int64_t>(o.output_file_dur) * o.sample_rate;
  g.temperatures = expand_temperatures(o.temperature, o.max_generate_per_epoch);
  g.rng_seed = rng_seed + static_cast<std::uint64_t>(epoch);
  g.n_threads = o.num_threads;
  if (!o.seed.empty()) {
    const DecodedAudio seed = load_mono(o.seed, o.sample_rate);
    if (static_cast<std::int64_t>(seed.samples.size()) < o.seed_offset + c.lookback()) {
      throw Error(ErrorKind::kInput, "seed '" + o.seed.string() + "' is shorter than --seed_offset plus " +
                                         std::to_string(c.lookback()) + " samples");
    }
    for (std::size_t i = static_cast<std::size_t>(o.seed_offset); i < seed.samples.size(); ++i) {
      g.seed_levels.push_back(quantizer.quantize(seed.samples[i]));
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::vector<std::int32_t>> levels = generate(weights, g);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int n = static_cast<int>(g.temperatures.size());
  for (int i = 0; i < n; ++i) {
    std::vector<float> audio(levels[i].size());
    for (std::size_t j = 0; j < audio.size(); ++j) audio[j] = quantizer.dequantize(levels[i][j]);
    const fs::path path = dir / clip_name(o.id, epoch, i, n, g.temperatures[i]);
    write_audio(path, audio, o.sample_rate);
    log_info("Generated " + path.string() + " (" + fixed(secs, 1) + " s)");
    log_clip_stats(path.filename().string(), audio, o.sample_rate);
    tb.audio("clips/" + path.stem().string(), step, audio, o.sample_rate);
  }
}

}  // namespace srnn
