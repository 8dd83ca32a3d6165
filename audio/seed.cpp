#include "audio/seed.h"

#include <algorithm>
#include <cmath>

#include "audio/decode.h"
#include "core/error.h"
#include "core/log.h"

namespace srnn {

SeedAudio load_seed(const std::filesystem::path& path, int rate_hz, std::int64_t offset, double seconds,
                    int frame_samples) {
  if (offset < 0) throw Error(ErrorKind::kUsage, "--seed_offset must not be negative");
  if (!(seconds > 0) || !std::isfinite(seconds)) {
    throw Error(ErrorKind::kUsage, "--seed_dur must be a positive number of seconds, got " + fixed(seconds, 3));
  }
  const DecodedAudio a = load_mono(path, rate_hz);
  const auto available = static_cast<std::int64_t>(a.samples.size()) - offset;
  const double wanted = std::min(seconds * rate_hz, 1e12);
  std::int64_t n = std::min<std::int64_t>(available, static_cast<std::int64_t>(wanted));
  n = n / frame_samples * frame_samples;
  if (n < frame_samples) {
    throw Error(ErrorKind::kInput,
                "seed '" + path.string() + "' has fewer than " + std::to_string(frame_samples) + " samples after --seed_offset " +
                    std::to_string(offset) + " (it has " + std::to_string(a.samples.size()) + " at " +
                    std::to_string(rate_hz) + " Hz)",
                "use a longer seed or a smaller --seed_offset");
  }
  SeedAudio s;
  s.samples.assign(a.samples.begin() + offset, a.samples.begin() + offset + n);
  s.description = fixed(static_cast<double>(n) / rate_hz, 2) + " s of '" + path.string() + "' from sample " +
                  std::to_string(offset);
  if (a.source_rate_hz != rate_hz) {
    s.description += " (resampled from " + std::to_string(a.source_rate_hz) + " Hz)";
  }
  if (static_cast<double>(n) + frame_samples <= wanted) s.description += ", all the file has after the offset";
  return s;
}

}  // namespace srnn
