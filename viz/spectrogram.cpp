#include "viz/spectrogram.h"

#include <algorithm>
#include <cmath>

#include "audio/fft.h"
#include "core/error.h"

namespace srnn {
namespace {
// A sample as the spectrogram reads it: NaN is silence, anything beyond full scale is
// full scale (an infinity would make every bin of its frames infinite).
float tame(float x) { return x == x ? std::clamp(x, -1.0f, 1.0f) : 0.0f; }

// n items pooled into at most `limit` groups (0: no limit); group of item i is i * groups / n.
int groups_of(std::int64_t n, int limit) { return limit > 0 && n > limit ? limit : static_cast<int>(n); }

}  // namespace

Spectrogram compute_spectrogram(Span<const float> x, int rate_hz, int fft_size, int hop) {
  SpectrogramOptions o;
  o.fft_size = fft_size;
  o.hop = hop;
  return compute_spectrogram(x, rate_hz, o);
}

Spectrogram compute_spectrogram(Span<const float> x, int rate_hz, const SpectrogramOptions& o) {
  const int fft_size = o.fft_size, hop = o.hop;
  if (fft_size < 16 || fft_size > kMaxFftSize || (fft_size & (fft_size - 1)) != 0) {
    throw Error(ErrorKind::kUsage, "--fft_size must be a power of two from 16 to " + std::to_string(kMaxFftSize) +
                                       ", got " + std::to_string(fft_size));
  }
  if (hop < 1) throw Error(ErrorKind::kUsage, "--hop must be at least 1, got " + std::to_string(hop));
  const double fft_bin_hz = static_cast<double>(rate_hz) / fft_size;
  int all_bins = fft_size / 2 + 1;
  if (o.max_hz > 0) all_bins = std::min(all_bins, static_cast<int>(std::floor(o.max_hz / fft_bin_hz)) + 1);
  const std::int64_t all_frames =
      x.size() < static_cast<std::size_t>(fft_size) ? 1 : static_cast<std::int64_t>((x.size() - fft_size) / hop) + 1;
  Spectrogram s;
  s.n_bins = groups_of(all_bins, o.max_bins);
  s.n_frames = groups_of(all_frames, o.max_frames);
  s.bin_hz = fft_bin_hz * all_bins / s.n_bins;
  s.hop_s = static_cast<double>(hop) / rate_hz * static_cast<double>(all_frames) / s.n_frames;
  s.db.assign(static_cast<std::size_t>(s.n_frames) * s.n_bins, -120.0f);

  RealFft fft(fft_size);
  const std::vector<float> window = hann_window(fft_size);
  double window_sum = 0;
  for (float w : window) window_sum += w;
  // A sine of amplitude A gives |X| = A * sum(window) / 2 at its bin.
  const double scale = 2.0 / window_sum;
  for (std::int64_t f = 0; f < all_frames; ++f) {
    const std::size_t start = static_cast<std::size_t>(f) * hop;
    for (int i = 0; i < fft_size; ++i) fft.in()[i] = start + i < x.size() ? tame(x[start + i]) * window[i] : 0.0f;
    fft.forward();
    float* column = s.db.data() + static_cast<std::size_t>(f * s.n_frames / all_frames) * s.n_bins;
    for (int k = 0; k < all_bins; ++k) {
      const double mag = std::abs(fft.out()[k]) * scale;
      const float db = static_cast<float>(std::max(-120.0, 20 * std::log10(mag + 1e-12)));
      float& cell = column[static_cast<std::int64_t>(k) * s.n_bins / all_bins];
      cell = std::max(cell, db);
    }
  }
  return s;
}

}  // namespace srnn
