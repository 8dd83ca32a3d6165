#include "audio/copying.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>

#include "audio/decode.h"
#include "audio/fft.h"
#include "audio/resample.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

namespace srnn {

namespace fs = std::filesystem;

// The corpus at kCopyRateHz as the correlation needs it; its samples are not kept.
struct CopyCorpus {
  int n_fft = 0;                       // a power of two >= n_samples + kCopySegmentSamples
  std::int64_t n_samples = 0;          // the gaps between files included
  std::int64_t n_file_samples = 0;     // without the gaps
  std::vector<std::int64_t> offsets;   // where each file starts
  std::vector<std::string> names;
  std::vector<float> inv_norm;         // per lag: 1 / |window|, 0 for a quiet window
  fftwf_complex* spectrum = nullptr;   // (n_fft / 2 + 1) bins of the zero-padded corpus
  fftwf_plan forward = nullptr;        // r2c of n_fft, planned out of place
  fftwf_plan inverse = nullptr;        // c2r of n_fft, planned out of place

  CopyCorpus() = default;
  CopyCorpus(const CopyCorpus&) = delete;
  CopyCorpus& operator=(const CopyCorpus&) = delete;
  ~CopyCorpus() {
    {
      std::lock_guard<std::mutex> lock(fftw_planner_mutex());
      if (forward != nullptr) fftwf_destroy_plan(forward);
      if (inverse != nullptr) fftwf_destroy_plan(inverse);
    }
    fftwf_free(spectrum);
  }
};

namespace {

constexpr int kSincHalfWidth = 16;  // taps each side of the sub-sample interpolation
constexpr double kSubSampleLags[] = {-0.5, -0.25, 0.25, 0.5};

template <typename T>
using FftwArray = std::unique_ptr<T, void (*)(void*)>;

FftwArray<float> alloc_real(std::size_t n) {
  float* p = fftwf_alloc_real(n);
  if (p == nullptr) throw std::bad_alloc();
  return {p, fftwf_free};
}

FftwArray<fftwf_complex> alloc_complex(std::size_t n) {
  fftwf_complex* p = fftwf_alloc_complex(n);
  if (p == nullptr) throw std::bad_alloc();
  return {p, fftwf_free};
}

std::string minutes_text(std::int64_t n_samples) { return fixed(n_samples / (60.0 * kCopyRateHz), 1); }

void check_corpus_length(std::int64_t n_samples) {
  if (n_samples <= kMaxCopyCorpusSamples) return;
  throw Error(ErrorKind::kUsage,
              "the corpus holds " + minutes_text(n_samples) + " minutes of audio, more than the " +
                  minutes_text(kMaxCopyCorpusSamples) + " minutes 'samplernn copies' compares a clip with",
              "pass fewer files to --corpus: the tracks the model was trained or fine-tuned on");
}

// Appends one file's samples (at kCopyRateHz) to the corpus x, after a gap of one segment of
// zeros: no window of kCopySegmentSamples then holds samples of two files.
void append_file(CopyCorpus& c, std::vector<float>& x, const std::vector<float>& samples, const std::string& name) {
  if (!x.empty()) x.resize(x.size() + kCopySegmentSamples, 0.0f);
  check_corpus_length(static_cast<std::int64_t>(x.size() + samples.size()));
  c.offsets.push_back(static_cast<std::int64_t>(x.size()));
  c.names.push_back(name);
  c.n_file_samples += static_cast<std::int64_t>(samples.size());
  x.insert(x.end(), samples.begin(), samples.end());
}

// Plans the transforms, computes the corpus spectrum and the window norms.
void finish_corpus(CopyCorpus& c, const std::vector<float>& x) {
  if (c.names.empty()) {
    throw Error(ErrorKind::kInput, "no corpus files to compare clips with", "name the training audio with --corpus");
  }
  c.n_samples = static_cast<std::int64_t>(x.size());
  if (c.n_file_samples < kCopySegmentSamples) {
    throw Error(ErrorKind::kInput,
                "the corpus holds " + fixed(static_cast<double>(c.n_file_samples) / kCopyRateHz, 2) +
                    " s of audio, less than one " + fixed(double(kCopySegmentSamples) / kCopyRateHz, 1) + " s segment",
                "name the training audio with --corpus");
  }
  std::int64_t n_fft = 1;
  while (n_fft < c.n_samples + kCopySegmentSamples) n_fft *= 2;
  c.n_fft = static_cast<int>(n_fft);
  FftwArray<float> padded = alloc_real(c.n_fft);
  c.spectrum = alloc_complex(c.n_fft / 2 + 1).release();
  {
    // FFTW_ESTIMATE leaves the arrays alone while planning.
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    c.forward = fftwf_plan_dft_r2c_1d(c.n_fft, padded.get(), c.spectrum, FFTW_ESTIMATE);
    c.inverse = fftwf_plan_dft_c2r_1d(c.n_fft, c.spectrum, padded.get(), FFTW_ESTIMATE);
  }
  if (c.forward == nullptr || c.inverse == nullptr) {
    throw Error(ErrorKind::kInternal, "FFTW could not plan a transform of " + std::to_string(c.n_fft) + " points");
  }
  std::copy(x.begin(), x.end(), padded.get());
  std::fill(padded.get() + x.size(), padded.get() + c.n_fft, 0.0f);
  fftwf_execute_dft_r2c(c.forward, padded.get(), c.spectrum);

  // Window energies by a running sum of squares. Squares of floats are exact in double, so
  // the sum drifts only by rounding; a window of digital silence may end a hair off zero,
  // far below the floor.
  const double min_energy = kCopySegmentSamples * std::pow(10.0, kCopyMinWindowDbfs / 10);
  const std::int64_t n_lags = c.n_samples - kCopySegmentSamples + 1;
  c.inv_norm.assign(std::max<std::int64_t>(n_lags, 0), 0.0f);
  double energy = 0;
  for (int i = 0; i < kCopySegmentSamples && i < c.n_samples; ++i) energy += double(x[i]) * x[i];
  for (std::int64_t lag = 0; lag < n_lags; ++lag) {
    if (energy >= min_energy) c.inv_norm[lag] = static_cast<float>(1.0 / std::sqrt(energy));
    if (lag + 1 < n_lags) energy += double(x[lag + kCopySegmentSamples]) * x[lag + kCopySegmentSamples] - double(x[lag]) * x[lag];
  }
}

// The work space of one call: a real signal and its spectrum at the corpus' FFT size.
struct Work {
  FftwArray<float> real;
  FftwArray<fftwf_complex> bins;
  explicit Work(const CopyCorpus& c) : real(alloc_real(c.n_fft)), bins(alloc_complex(c.n_fft / 2 + 1)) {}
};

// w.real[lag] = n_fft * sum_i seg[i] corpus[lag + i], circularly: lags past the end of the
// corpus read its zero padding, and w.real[n_fft - k] is lag -k.
void correlate_raw(const CopyCorpus& c, Span<const float> seg, Work& w) {
  float* real = w.real.get();
  std::copy(seg.begin(), seg.end(), real);
  std::fill(real + seg.size(), real + c.n_fft, 0.0f);
  fftwf_execute_dft_r2c(c.forward, real, w.bins.get());
  fftwf_complex* b = w.bins.get();
  // corpus x conj(segment): the correlation, not the convolution.
  for (int k = 0; k <= c.n_fft / 2; ++k) {
    const float xr = c.spectrum[k][0], xi = c.spectrum[k][1], sr = b[k][0], si = b[k][1];
    b[k][0] = xr * sr + xi * si;
    b[k][1] = xi * sr - xr * si;
  }
  fftwf_execute_dft_c2r(c.inverse, b, real);
}

// The raw correlation at lag + delta from the integer lags around it: the correlation of
// two signals band-limited below kCopyRateHz / 2 is band-limited too, so a Hann-windowed
// sinc recovers it between the samples.
double interpolate_raw(const CopyCorpus& c, const float* raw, std::int64_t lag, double delta) {
  double sum = 0;
  for (int k = -kSincHalfWidth; k <= kSincHalfWidth; ++k) {
    const double t = delta - k;
    if (std::abs(t) >= kSincHalfWidth) continue;
    const double sinc = std::sin(M_PI * t) / (M_PI * t), window = 0.5 + 0.5 * std::cos(M_PI * t / kSincHalfWidth);
    const std::int64_t i = ((lag + k) % c.n_fft + c.n_fft) % c.n_fft;
    sum += raw[i] * sinc * window;
  }
  return sum;
}

struct Match {
  double value = 0;
  std::int64_t lag = -1;
  int segment = 0;
};

Match best_match(const CopyCorpus& c, Span<const float> seg, Work& w) {
  double seg_energy = 0;
  for (float v : seg) seg_energy += double(v) * v;
  Match m;
  if (!(seg_energy > 0)) return m;
  correlate_raw(c, seg, w);
  const float* raw = w.real.get();
  const std::int64_t n_lags = static_cast<std::int64_t>(c.inv_norm.size());
  float best = -1e30f;
  for (std::int64_t lag = 0; lag < n_lags; ++lag) {
    const float v = raw[lag] * c.inv_norm[lag];
    if (v > best) best = v, m.lag = lag;
  }
  const double scale = 1.0 / (double(c.n_fft) * std::sqrt(seg_energy));
  m.value = best * scale;
  // Between the samples: the window's norm changes by one sample in 2000, so it is
  // interpolated linearly.
  for (double delta : kSubSampleLags) {
    const double at = m.lag + delta;
    const std::int64_t lo = static_cast<std::int64_t>(std::floor(at));
    if (lo < 0 || lo + 1 >= n_lags || c.inv_norm[lo] == 0 || c.inv_norm[lo + 1] == 0) continue;
    const double frac = at - lo, norm = (1 - frac) / c.inv_norm[lo] + frac / c.inv_norm[lo + 1];
    m.value = std::max(m.value, interpolate_raw(c, raw, m.lag, delta) * scale / norm);
  }
  m.value = std::min(m.value, 1.0);  // Cauchy-Schwarz; interpolation may overshoot a hair
  return m;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  return 0.5 * (upper + *std::max_element(v.begin(), v.begin() + mid));
}

}  // namespace

std::vector<fs::path> copy_corpus_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  std::string named;
  for (const std::string& in : inputs) {
    named += (named.empty() ? "'" : ", '") + in + "'";
    if (fs::is_directory(in)) {
      for (const fs::path& p : list_files_recursive(in, [](const fs::path& f) { return has_audio_extension(f); })) {
        files.push_back(p);
      }
    } else {
      files.push_back(in);
    }
  }
  if (files.empty()) {
    throw Error(ErrorKind::kInput, "no audio files in the corpus " + (named.empty() ? std::string("(none named)") : named),
                "--corpus takes the training audio: a folder (searched recursively for .wav, .flac, .ogg, ...) or files");
  }
  return files;
}

CopyDetector::CopyDetector(const std::vector<fs::path>& corpus_files) : corpus_(std::make_unique<CopyCorpus>()) {
  // Refuse an oversized corpus from the headers before decoding hours of it.
  std::int64_t announced = 0;
  for (const fs::path& f : corpus_files) {
    const AudioInfo info = probe_audio(f);
    if (info.rate_hz > 0) announced += info.n_frames * kCopyRateHz / info.rate_hz;
  }
  check_corpus_length(announced);
  std::vector<float> x;
  for (const fs::path& f : corpus_files) append_file(*corpus_, x, load_mono(f, kCopyRateHz).samples, f.string());
  finish_corpus(*corpus_, x);
}

CopyDetector::CopyDetector(const std::vector<std::vector<float>>& tracks, int rate_hz, const std::vector<std::string>& names)
    : corpus_(std::make_unique<CopyCorpus>()) {
  if (names.size() != tracks.size()) throw Error(ErrorKind::kInternal, "CopyDetector: one name per track");
  std::vector<float> x;
  for (std::size_t i = 0; i < tracks.size(); ++i) append_file(*corpus_, x, resample(tracks[i], rate_hz, kCopyRateHz), names[i]);
  finish_corpus(*corpus_, x);
}

CopyDetector::~CopyDetector() = default;

int CopyDetector::n_files() const { return static_cast<int>(corpus_->names.size()); }
std::int64_t CopyDetector::corpus_samples() const { return corpus_->n_samples; }
double CopyDetector::corpus_seconds() const { return static_cast<double>(corpus_->n_file_samples) / kCopyRateHz; }

std::vector<float> CopyDetector::correlate(Span<const float> segment) const {
  if (segment.size() != kCopySegmentSamples) {
    throw Error(ErrorKind::kInternal, "CopyDetector::correlate takes " + std::to_string(kCopySegmentSamples) +
                                          " samples, not " + std::to_string(segment.size()));
  }
  const CopyCorpus& c = *corpus_;
  std::vector<float> corr(c.inv_norm.size(), 0.0f);
  double seg_energy = 0;
  for (float v : segment) seg_energy += double(v) * v;
  if (!(seg_energy > 0)) return corr;
  Work w(c);
  correlate_raw(c, segment, w);
  const double scale = 1.0 / (double(c.n_fft) * std::sqrt(seg_energy));
  for (std::size_t lag = 0; lag < corr.size(); ++lag) corr[lag] = static_cast<float>(w.real.get()[lag] * c.inv_norm[lag] * scale);
  return corr;
}

CopyReport CopyDetector::measure(Span<const float> clip, int clip_rate_hz) const {
  if (clip_rate_hz < kMinSampleRateHz || clip_rate_hz > kMaxSampleRateHz) {
    throw Error(ErrorKind::kInput, "cannot measure a clip at " + std::to_string(clip_rate_hz) + " Hz",
                "rates from " + std::to_string(kMinSampleRateHz) + " to " + std::to_string(kMaxSampleRateHz) + " Hz are read");
  }
  const CopyCorpus& c = *corpus_;
  const std::vector<float> x = resample(clip, clip_rate_hz, kCopyRateHz);
  CopyReport r;
  r.n_segments = static_cast<int>(x.size() / kCopySegmentSamples);
  const double silence_energy = kCopySegmentSamples * std::pow(10.0, kCopySilenceDbfs / 10);
  Work w(c);
  std::vector<double> matches;
  Match best;
  int run = 0, longest = 0;
  for (int s = 0; s < r.n_segments; ++s) {
    const Span<const float> seg(x.data() + std::size_t(s) * kCopySegmentSamples, kCopySegmentSamples);
    double energy = 0;
    for (float v : seg) energy += double(v) * v;
    bool copying = false;
    if (energy < silence_energy) {
      ++r.n_silent;
    } else {
      Match m = best_match(c, seg, w);
      m.segment = s;
      matches.push_back(m.value);
      if (m.lag >= 0 && (best.lag < 0 || m.value > best.value)) best = m;
      copying = m.value >= kCopyThreshold;
    }
    run = copying ? run + 1 : 0;
    longest = std::max(longest, run);
    r.n_copying += copying;
  }
  r.copy_fraction = r.n_segments > 0 ? static_cast<double>(r.n_copying) / r.n_segments : 0.0;
  r.longest_copy_s = static_cast<double>(longest) * kCopySegmentSamples / kCopyRateHz;
  r.median_match = median_of(matches);
  if (best.lag >= 0) {
    const std::size_t file = std::upper_bound(c.offsets.begin(), c.offsets.end(), best.lag) - c.offsets.begin() - 1;
    r.best_match = best.value;
    r.best_file = c.names[file];
    r.best_file_time_s = static_cast<double>(best.lag - c.offsets[file]) / kCopyRateHz;
    r.best_clip_time_s = static_cast<double>(best.segment) * kCopySegmentSamples / kCopyRateHz;
  }
  return r;
}

std::string copy_line(const CopyReport& r) {
  std::string line = "copies " + fixed(100 * r.copy_fraction, 0) + "% (";
  if (r.n_segments == 0) return line + "no whole " + fixed(double(kCopySegmentSamples) / kCopyRateHz, 1) + " s segment)";
  line += std::to_string(r.n_copying) + " of " + std::to_string(r.n_segments) + " segments";
  if (r.n_silent > 0) line += ", " + std::to_string(r.n_silent) + " silent";
  if (r.best_file.empty()) return line + ")";
  return line + "; longest " + fixed(r.longest_copy_s, 1) + " s; best match " + fixed(r.best_match, 2) + " in " +
         fs::path(r.best_file).filename().string() + " at " + fixed(r.best_file_time_s, 1) + " s; median " +
         fixed(r.median_match, 2) + ")";
}

nlohmann::json to_json(const CopyReport& r) {
  return {{"segments", r.n_segments},
          {"copying_segments", r.n_copying},
          {"silent_segments", r.n_silent},
          {"copy_fraction", r.copy_fraction},
          {"longest_copy_s", r.longest_copy_s},
          {"median_match", r.median_match},
          {"best_match", r.best_match},
          {"best_file", r.best_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.best_file)},
          {"best_file_time_s", r.best_file_time_s},
          {"best_clip_time_s", r.best_clip_time_s}};
}

}  // namespace srnn
