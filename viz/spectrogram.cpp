#include "viz/spectrogram.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "core/error.h"

namespace srnn {
namespace {
std::mutex g_planner_mutex;  // FFTW's planner is not thread-safe
}

Spectrogram compute_spectrogram(Span<const float> x, int rate_hz, int fft_size, int hop) {
  if (fft_size < 16 || (fft_size & (fft_size - 1)) != 0) {
    throw Error(ErrorKind::kUsage, "--fft_size must be a power of two of at least 16, got " + std::to_string(fft_size));
  }
  if (hop < 1) throw Error(ErrorKind::kUsage, "--hop must be at least 1, got " + std::to_string(hop));
  Spectrogram s;
  s.n_bins = fft_size / 2 + 1;
  s.bin_hz = static_cast<double>(rate_hz) / fft_size;
  s.hop_s = static_cast<double>(hop) / rate_hz;
  s.n_frames = x.size() < static_cast<std::size_t>(fft_size) ? 1 : static_cast<int>((x.size() - fft_size) / hop) + 1;
  s.db.assign(static_cast<std::size_t>(s.n_frames) * s.n_bins, -120.0f);

  float* in = fftwf_alloc_real(fft_size);
  fftwf_complex* out = fftwf_alloc_complex(s.n_bins);
  fftwf_plan plan;
  {
    std::lock_guard<std::mutex> lock(g_planner_mutex);
    plan = fftwf_plan_dft_r2c_1d(fft_size, in, out, FFTW_ESTIMATE);
  }
  std::vector<float> window(fft_size);
  double window_sum = 0;
  for (int i = 0; i < fft_size; ++i) {
    window[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * M_PI * i / fft_size));
    window_sum += window[i];
  }
  // A sine of amplitude A gives |X| = A * sum(window) / 2 at its bin.
  const double scale = 2.0 / window_sum;
  for (int f = 0; f < s.n_frames; ++f) {
    const std::size_t start = static_cast<std::size_t>(f) * hop;
    for (int i = 0; i < fft_size; ++i) in[i] = start + i < x.size() ? x[start + i] * window[i] : 0.0f;
    fftwf_execute(plan);
    for (int k = 0; k < s.n_bins; ++k) {
      const double mag = std::hypot(out[k][0], out[k][1]) * scale;
      s.db[static_cast<std::size_t>(f) * s.n_bins + k] = static_cast<float>(std::max(-120.0, 20 * std::log10(mag + 1e-12)));
    }
  }
  {
    std::lock_guard<std::mutex> lock(g_planner_mutex);
    fftwf_destroy_plan(plan);
  }
  fftwf_free(in);
  fftwf_free(out);
  return s;
}

}  // namespace srnn
