#include "audio/tone.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "audio/fft.h"

namespace srnn {
namespace {

constexpr double kMinHz = 40.0;
constexpr int kMedianHalf = 16;       // the peak's floor: the median of 2 * 16 + 1 bins
constexpr double kRangeDb = 60.0;     // peaks and frames this far below the loudest count as silence
constexpr int kPartialHalfWidth = 2;  // a partial's power: its peak bin and two on each side (Hann's main lobe)

// The power spectrogram: frames of a power of two near 100 ms or more, hop a quarter frame.
struct Spectrogram {
  int n_fft = 0, n_bins = 0;
  std::vector<std::vector<float>> power;  // [frame][bin]
};

Spectrogram power_spectrogram(Span<const float> x, int rate_hz) {
  Spectrogram s;
  s.n_fft = 256;
  while (s.n_fft < rate_hz / 10) s.n_fft *= 2;
  s.n_bins = s.n_fft / 2 + 1;
  if (x.size() < static_cast<std::size_t>(s.n_fft)) return s;
  RealFft fft(s.n_fft);
  const std::vector<float> window = hann_window(s.n_fft);
  const std::size_t hop = s.n_fft / 4;
  for (std::size_t start = 0; start + s.n_fft <= x.size(); start += hop) {
    for (int i = 0; i < s.n_fft; ++i) fft.in()[i] = x[start + i] * window[i];
    fft.forward();
    std::vector<float>& p = s.power.emplace_back(s.n_bins);
    for (int k = 0; k < s.n_bins; ++k) p[k] = std::norm(fft.out()[k]);
  }
  return s;
}

// Bins that are local maxima kPeakDb above the median of the bins around them.
std::vector<int> peaks_of(const std::vector<float>& p, int k_lo, float floor_power) {
  const int n = static_cast<int>(p.size());
  const float ratio = static_cast<float>(std::pow(10.0, kPeakDb / 10.0));
  std::vector<int> peaks;
  float around[2 * kMedianHalf + 1];
  for (int k = std::max(k_lo, 1); k + 1 < n; ++k) {
    if (!(p[k] > p[k - 1] && p[k] >= p[k + 1] && p[k] > floor_power)) continue;
    // The window keeps its width at the edges, so the floor is always a median of 33 bins.
    const int lo = std::clamp(k - kMedianHalf, k_lo, std::max(k_lo, n - 1 - 2 * kMedianHalf));
    const int m = std::min(2 * kMedianHalf + 1, n - lo);
    std::copy(p.begin() + lo, p.begin() + lo + m, around);
    std::nth_element(around, around + m / 2, around + m);
    if (p[k] > ratio * around[m / 2]) peaks.push_back(k);
  }
  return peaks;
}

}  // namespace

ToneStats sustained_tone(Span<const float> x, int rate_hz) {
  ToneStats t;
  if (rate_hz <= 0) return t;
  const Spectrogram s = power_spectrogram(x, rate_hz);
  if (s.power.empty()) return t;
  const int k_lo = static_cast<int>(std::ceil(kMinHz * s.n_fft / rate_hz));
  const double range = std::pow(10.0, -kRangeDb / 10.0);
  std::vector<double> frame_power(s.power.size(), 0.0);
  float loudest_bin = 0;
  for (std::size_t f = 0; f < s.power.size(); ++f) {
    for (int k = k_lo; k < s.n_bins; ++k) {
      frame_power[f] += s.power[f][k];
      loudest_bin = std::max(loudest_bin, s.power[f][k]);
    }
  }
  const double loudest_frame = *std::max_element(frame_power.begin(), frame_power.end());
  if (!(loudest_frame > 0)) return t;

  // Peaks, chained into tracks: a peak continues the track of the previous frame's peak
  // nearest to it within one bin, else starts a track of its own.
  struct Peak {
    int bin = 0, track = 0;
  };
  std::vector<std::vector<Peak>> peaks(s.power.size());
  std::vector<int> track_length;
  for (std::size_t f = 0; f < s.power.size(); ++f) {
    if (frame_power[f] < range * loudest_frame) continue;
    for (int k : peaks_of(s.power[f], k_lo, static_cast<float>(range * loudest_bin))) {
      int track = -1, best = 2;
      if (f > 0) {
        for (const Peak& q : peaks[f - 1]) {
          const int d = std::abs(q.bin - k);
          if (d < best) best = d, track = q.track;
        }
      }
      if (track < 0) {
        track = static_cast<int>(track_length.size());
        track_length.push_back(0);
      }
      ++track_length[track];
      peaks[f].push_back({k, track});
    }
  }
  double tonal = 0, total = 0;
  std::int64_t n_partials = 0, n_frames = 0;
  std::vector<char> in_partial(s.n_bins);
  for (std::size_t f = 0; f < s.power.size(); ++f) {
    if (frame_power[f] < range * loudest_frame) continue;
    ++n_frames;
    total += frame_power[f];
    std::fill(in_partial.begin(), in_partial.end(), 0);
    for (const Peak& q : peaks[f]) {
      if (track_length[q.track] < kMinPartialFrames) continue;
      ++n_partials;
      for (int k = std::max(k_lo, q.bin - kPartialHalfWidth); k <= std::min(s.n_bins - 1, q.bin + kPartialHalfWidth); ++k) {
        in_partial[k] = 1;
      }
    }
    for (int k = k_lo; k < s.n_bins; ++k) {
      if (in_partial[k]) tonal += s.power[f][k];
    }
  }
  t.tonal_fraction = total > 0 ? tonal / total : 0;
  t.partials = n_frames > 0 ? static_cast<double>(n_partials) / static_cast<double>(n_frames) : 0;
  return t;
}

bool CollapseStats::collapsed() const {
  return stuck_s >= kCollapseSeconds || loop_s >= kCollapseSeconds || dc_drift > kDriftLimit;
}

CollapseStats find_collapse(Span<const float> x, int rate_hz) {
  CollapseStats c;
  if (x.empty() || rate_hz <= 0) return c;
  std::vector<std::int32_t> v(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    v[i] = static_cast<std::int32_t>(std::lrint(std::clamp(x[i], -1.0f, 1.0f) * 32767.0f));
  }
  const std::size_t win = std::max<std::size_t>(1, static_cast<std::size_t>(rate_hz) / 10);
  constexpr std::int32_t kStuckRange = 1638;  // 0.05 of full scale
  std::vector<std::int32_t> sorted;
  std::size_t stuck_run = 0, loop_run = 0, stuck_from = 0;
  int run_period = 0;
  for (std::size_t b = 0; b + win <= v.size(); b += win) {
    sorted.assign(v.begin() + b, v.begin() + b + win);
    std::sort(sorted.begin(), sorted.end());
    const auto distinct = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
    const bool stuck = distinct < kStuckDistinct && sorted[distinct - 1] - sorted[0] < kStuckRange;
    // The shortest period p that nearly every sample repeats (99%: a glitch keeps the loop).
    int period = 0;
    for (int p = 2; !stuck && p <= kMaxLoop && period == 0; ++p) {
      std::size_t same = 0;
      for (std::size_t i = b; i + p < b + win; ++i) same += v[i] == v[i + p];
      if (same >= (win - p) * 99 / 100) period = p;
    }
    if (stuck) {
      if (stuck_run == 0) stuck_from = b;
      stuck_run += win;
      if (stuck_run > static_cast<std::size_t>(c.stuck_s * rate_hz + 0.5)) {
        c.stuck_s = static_cast<double>(stuck_run) / rate_hz;
        double sum = 0;
        for (std::size_t i = stuck_from; i < b + win; ++i) sum += x[i];
        c.stuck_level = sum / static_cast<double>(stuck_run);
      }
    } else {
      stuck_run = 0;
    }
    if (period != 0 && (loop_run == 0 || period == run_period)) {
      loop_run += win;
      run_period = period;
      if (loop_run > static_cast<std::size_t>(c.loop_s * rate_hz + 0.5)) {
        c.loop_s = static_cast<double>(loop_run) / rate_hz;
        c.loop_period = period;
      }
    } else {
      loop_run = period != 0 ? win : 0;
      run_period = period;
    }
  }
  // DC drift: 1 s windows every half second (the whole clip when it is shorter) whose mean
  // outweighs what varies around it; noise that wanders slowly (pink, brown) does not.
  const std::size_t second = static_cast<std::size_t>(rate_hz);
  const std::size_t span = std::min(second, x.size());
  for (std::size_t b = 0; b + span <= x.size(); b += std::max<std::size_t>(1, second / 2)) {
    double sum = 0, sum2 = 0;
    for (std::size_t i = b; i < b + span; ++i) {
      sum += x[i];
      sum2 += static_cast<double>(x[i]) * x[i];
    }
    const double mean = sum / static_cast<double>(span);
    const double ac_rms = std::sqrt(std::max(0.0, sum2 / static_cast<double>(span) - mean * mean));
    if (std::fabs(mean) > ac_rms) c.dc_drift = std::max(c.dc_drift, std::fabs(mean));
  }
  return c;
}

}  // namespace srnn
