#include "audio/chunk.h"

#include <algorithm>

#include "core/error.h"
#include "audio/loudness.h"

namespace srnn {

void validate(const ChunkOptions& o) {
  if (o.chunk_length_ms <= 0) {
    throw Error(ErrorKind::kUsage, "--chunk_length must be positive, got " + std::to_string(o.chunk_length_ms) + " ms");
  }
  if (o.overlap_ms < 0 || o.overlap_ms >= o.chunk_length_ms) {
    throw Error(ErrorKind::kUsage,
                "--overlap must be in [0, chunk_length), got " + std::to_string(o.overlap_ms) + " ms with chunk_length " +
                    std::to_string(o.chunk_length_ms) + " ms");
  }
  if (o.silence_min_len_ms < 0 || o.effective_silence_min_len_ms() > o.chunk_length_ms ||
      o.effective_silence_min_len_ms() <= 0) {
    throw Error(ErrorKind::kUsage, "--silence_min_len must be in (0, chunk_length], got " +
                                       std::to_string(o.effective_silence_min_len_ms()) + " ms");
  }
}

std::size_t ms_to_sample(long long ms, int rate_hz) {
  return static_cast<std::size_t>(ms * static_cast<long long>(rate_hz) / 1000);
}

std::vector<ChunkSpan> plan_chunks(std::size_t n_samples, int rate_hz, const ChunkOptions& o) {
  validate(o);
  std::vector<ChunkSpan> chunks;
  const long long step_ms = o.chunk_length_ms - o.overlap_ms;
  for (int number = 1;; ++number) {
    const long long begin_ms = (number - 1) * step_ms;
    const std::size_t end = ms_to_sample(begin_ms + o.chunk_length_ms, rate_hz);
    if (end >= n_samples) break;  // this chunk reaches the end of the file: PRiSM drops it
    chunks.push_back(ChunkSpan{number, begin_ms, ms_to_sample(begin_ms, rate_hz), end});
  }
  return chunks;
}

SilenceDetector::SilenceDetector(Span<const float> samples, int rate_hz)
    : rate_hz_(rate_hz), n_samples_(samples.size()) {
  // Whole milliseconds, plus one partial block at the end if the length is not a whole ms.
  const long long n_ms = static_cast<long long>(samples.size()) * 1000 / rate_hz + 1;
  prefix_.assign(static_cast<std::size_t>(n_ms) + 1, 0.0);
  double total = 0.0;
  for (long long m = 0; m < n_ms; ++m) {
    const std::size_t begin = std::min(ms_to_sample(m, rate_hz), n_samples_);
    const std::size_t end = std::min(ms_to_sample(m + 1, rate_hz), n_samples_);
    double block = 0.0;
    for (std::size_t i = begin; i < end; ++i) block += static_cast<double>(samples[i]) * samples[i];
    total += block;
    prefix_[static_cast<std::size_t>(m) + 1] = total;
  }
}

double SilenceDetector::mean_square(long long begin_ms, long long end_ms) const {
  const long long last = static_cast<long long>(prefix_.size()) - 1;
  begin_ms = std::clamp(begin_ms, 0LL, last);
  end_ms = std::clamp(end_ms, begin_ms, last);
  const std::size_t n = std::min(ms_to_sample(end_ms, rate_hz_), n_samples_) -
                        std::min(ms_to_sample(begin_ms, rate_hz_), n_samples_);
  if (n == 0) return 0.0;
  return (prefix_[static_cast<std::size_t>(end_ms)] - prefix_[static_cast<std::size_t>(begin_ms)]) / static_cast<double>(n);
}

bool SilenceDetector::has_silent_window(const ChunkSpan& chunk, const ChunkOptions& o) const {
  const long long window_ms = o.effective_silence_min_len_ms();
  const double threshold = db_to_amplitude(o.silence_threshold_db);
  const double threshold_sq = threshold * threshold;
  // Windows start at every whole ms from the chunk start up to chunk_length - window.
  const long long last_start = chunk.begin_ms + o.chunk_length_ms - window_ms;
  for (long long w = chunk.begin_ms; w <= last_start; ++w) {
    if (mean_square(w, w + window_ms) <= threshold_sq) return true;
  }
  return false;
}

}  // namespace srnn
