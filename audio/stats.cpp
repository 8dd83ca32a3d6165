#include "audio/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "audio/decode.h"
#include "audio/fft.h"
#include "audio/loudness.h"
#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

constexpr double kSilenceDb = -64.0;
constexpr double kClipLevel = 32767.0 / 32768.0;
constexpr int kFftSize = 2048;

double spectral_centroid(Span<const float> x, int rate_hz) {
  if (x.size() < 2) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(kFftSize, x.size()));
  RealFft fft(n);
  const std::vector<float> window = hann_window(n);
  std::vector<double> power(n / 2 + 1, 0.0);
  for (std::size_t start = 0; start + n <= x.size(); start += n / 2) {
    for (int i = 0; i < n; ++i) fft.in()[i] = x[start + i] * window[i];
    fft.forward();
    for (int k = 0; k <= n / 2; ++k) power[k] += std::norm(std::complex<double>(fft.out()[k]));
  }
  double num = 0, den = 0;
  for (int k = 0; k <= n / 2; ++k) {
    num += power[k] * k * static_cast<double>(rate_hz) / n;
    den += power[k];
  }
  return den > 0 ? num / den : 0.0;
}

std::string db_text(double db) {
  if (std::isinf(db)) return "-inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", db);
  return buf;
}

}  // namespace

AudioStats compute_stats(Span<const float> x, int rate_hz) {
  AudioStats s;
  s.rate_hz = rate_hz;
  s.n_samples = static_cast<std::int64_t>(x.size());
  s.duration_s = rate_hz > 0 ? static_cast<double>(x.size()) / rate_hz : 0;
  s.rms_dbfs = rms_dbfs(x);
  s.peak_dbfs = peak_dbfs(x);
  if (x.empty()) return s;
  double sum = 0;
  std::int64_t clipped = 0;
  for (float v : x) {
    sum += v;
    clipped += std::fabs(v) >= kClipLevel;
  }
  s.dc_offset = sum / static_cast<double>(x.size());
  s.clipped_fraction = static_cast<double>(clipped) / static_cast<double>(x.size());

  const std::size_t win = std::max<std::size_t>(1, static_cast<std::size_t>(rate_hz) / 10);  // 100 ms
  std::size_t silent = 0, run = 0, longest = 0;
  for (std::size_t b = 0; b < x.size(); b += win) {
    const std::size_t len = std::min(win, x.size() - b);
    if (rms_dbfs(x.subspan(b, len)) < kSilenceDb) {
      silent += len;
      run += len;
      longest = std::max(longest, run);
    } else {
      run = 0;
    }
  }
  s.silent_fraction = static_cast<double>(silent) / static_cast<double>(x.size());
  s.longest_silence_s = static_cast<double>(longest) / rate_hz;
  s.spectral_centroid_hz = spectral_centroid(x, rate_hz);
  s.tone = sustained_tone(x, rate_hz);
  s.collapse = find_collapse(x, rate_hz);
  return s;
}

std::string summary_line(const AudioStats& s) {
  char buf[320];
  std::snprintf(buf, sizeof(buf),
                "%.2f s, RMS %s dBFS, peak %s dBFS, DC %+.4f, clipped %.2f%%, silence %.0f%% (longest %.1f s), "
                "centroid %.0f Hz, tonal %.2f (%.1f partials)",
                s.duration_s, db_text(s.rms_dbfs).c_str(), db_text(s.peak_dbfs).c_str(), s.dc_offset,
                100 * s.clipped_fraction, 100 * s.silent_fraction, s.longest_silence_s, s.spectral_centroid_hz,
                s.tone.tonal_fraction, s.tone.partials);
  return buf;
}

std::vector<std::string> stats_warnings(const AudioStats& s) {
  std::vector<std::string> w;
  char buf[128];
  if (s.silent_fraction > 0.5) {
    std::snprintf(buf, sizeof(buf), "mostly silence: %.0f%% below %.0f dBFS", 100 * s.silent_fraction, kSilenceDb);
    w.push_back(buf);
  }
  if (s.clipped_fraction > 0.01) {
    std::snprintf(buf, sizeof(buf), "clipping: %.1f%% of samples at full scale", 100 * s.clipped_fraction);
    w.push_back(buf);
  }
  const CollapseStats& c = s.collapse;
  if (c.stuck_s >= kCollapseSeconds) {
    std::snprintf(buf, sizeof(buf), "collapsed: stuck at %+.3f for %.1f s", c.stuck_level, c.stuck_s);
    w.push_back(buf);
  }
  if (c.loop_s >= kCollapseSeconds) {
    std::snprintf(buf, sizeof(buf), "collapsed: locked in a %d-sample loop for %.1f s", c.loop_period, c.loop_s);
    w.push_back(buf);
  }
  if (c.dc_drift > kDriftLimit) {
    std::snprintf(buf, sizeof(buf), "collapsed: DC drifts to %.3f over a second", c.dc_drift);
    w.push_back(buf);
  }
  return w;
}

nlohmann::json to_json(const AudioStats& s) {
  // JSON has no infinity: digital silence reports null levels.
  auto level = [](double db) { return std::isinf(db) ? nlohmann::json(nullptr) : nlohmann::json(db); };
  return {{"duration_s", s.duration_s},         {"sample_rate", s.rate_hz},
          {"samples", s.n_samples},             {"rms_dbfs", level(s.rms_dbfs)},
          {"peak_dbfs", level(s.peak_dbfs)},    {"dc_offset", s.dc_offset},
          {"clipped_fraction", s.clipped_fraction}, {"silent_fraction", s.silent_fraction},
          {"longest_silence_s", s.longest_silence_s}, {"spectral_centroid_hz", s.spectral_centroid_hz},
          {"tonal_fraction", s.tone.tonal_fraction}, {"partials", s.tone.partials},
          {"stuck_s", s.collapse.stuck_s},      {"stuck_level", s.collapse.stuck_level},
          {"loop_s", s.collapse.loop_s},        {"loop_period", s.collapse.loop_period},
          {"dc_drift", s.collapse.dc_drift},    {"collapsed", s.collapse.collapsed()}};
}

void log_clip_stats(const std::string& name, Span<const float> samples, int rate_hz) {
  log_clip_stats(name, compute_stats(samples, rate_hz));
}

void log_clip_stats(const std::string& name, const AudioStats& s) {
  log_info("  " + name + ": " + summary_line(s));
  for (const std::string& w : stats_warnings(s)) log_warn(name + " is " + w);
}

StatsDistribution distribution_of(const std::vector<AudioStats>& stats) {
  StatsDistribution d;
  d.n_files = static_cast<int>(stats.size());
  if (stats.empty()) return d;
  const auto percentiles = [&](auto field) {
    std::vector<double> v;
    for (const AudioStats& s : stats) v.push_back(field(s));
    std::sort(v.begin(), v.end());
    const auto at = [&](double p) { return v[static_cast<std::size_t>(std::ceil(p * v.size())) - 1]; };  // p > 0
    return StatsDistribution::Percentiles{at(0.1), at(0.5), at(0.9)};
  };
  d.tonal = percentiles([](const AudioStats& s) { return s.tone.tonal_fraction; });
  d.partials = percentiles([](const AudioStats& s) { return s.tone.partials; });
  d.abs_dc = percentiles([](const AudioStats& s) { return std::fabs(s.dc_offset); });
  d.centroid_hz = percentiles([](const AudioStats& s) { return s.spectral_centroid_hz; });
  // Digital silence counts at the quietest level a 16-bit file holds.
  d.rms_dbfs = percentiles([](const AudioStats& s) { return std::isinf(s.rms_dbfs) ? -96.3 : s.rms_dbfs; });
  for (const AudioStats& s : stats) d.n_collapsed += s.collapse.collapsed();
  return d;
}

std::string distribution_line(const StatsDistribution& d) {
  char buf[384];
  std::snprintf(buf, sizeof(buf),
                "%d files: tonal %.2f (%.2f-%.2f), %.1f partials (%.1f-%.1f), |DC| %.4f (%.4f-%.4f), centroid %.0f Hz "
                "(%.0f-%.0f), RMS %.1f dBFS (%.1f to %.1f), collapsed %d of %d",
                d.n_files, d.tonal[1], d.tonal[0], d.tonal[2], d.partials[1], d.partials[0], d.partials[2], d.abs_dc[1],
                d.abs_dc[0], d.abs_dc[2], d.centroid_hz[1], d.centroid_hz[0], d.centroid_hz[2], d.rms_dbfs[1],
                d.rms_dbfs[0], d.rms_dbfs[2], d.n_collapsed, d.n_files);
  return buf;
}

nlohmann::json to_json(const StatsDistribution& d) {
  return {{"files", d.n_files},        {"collapsed", d.n_collapsed},   {"tonal_fraction", d.tonal},
          {"partials", d.partials},    {"abs_dc_offset", d.abs_dc},    {"spectral_centroid_hz", d.centroid_hz},
          {"rms_dbfs", d.rms_dbfs}};
}

StatsDistribution stats_of_files(const std::vector<std::filesystem::path>& files, int rate_hz, std::size_t max_files) {
  std::vector<AudioStats> stats;
  const std::size_t n = std::min(files.size(), max_files);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      const DecodedAudio a = load_mono(files[i * files.size() / n], rate_hz);
      stats.push_back(compute_stats(a.samples, a.rate_hz));
    } catch (const Error&) {
      // a file that cannot be read says nothing of the music; the others still do
    }
  }
  return distribution_of(stats);
}

void log_corpus_stats(const nlohmann::json& corpus_stats) {
  if (!corpus_stats.is_object()) return;
  try {
    log_info("  training data: " + distribution_line(distribution_from_json(corpus_stats)));
  } catch (const Error& e) {
    log_warn("the checkpoint's statistics of its training data are unreadable: " + e.message());
  }
}

StatsDistribution distribution_from_json(const nlohmann::json& j) {
  StatsDistribution d;
  try {
    d.n_files = j.at("files").get<int>();
    d.n_collapsed = j.at("collapsed").get<int>();
    d.tonal = j.at("tonal_fraction").get<StatsDistribution::Percentiles>();
    d.partials = j.at("partials").get<StatsDistribution::Percentiles>();
    d.abs_dc = j.at("abs_dc_offset").get<StatsDistribution::Percentiles>();
    d.centroid_hz = j.at("spectral_centroid_hz").get<StatsDistribution::Percentiles>();
    d.rms_dbfs = j.at("rms_dbfs").get<StatsDistribution::Percentiles>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInput, std::string("malformed statistics of a corpus: ") + e.what());
  }
  if (d.n_files < 0 || d.n_collapsed < 0 || d.n_collapsed > d.n_files) {
    throw Error(ErrorKind::kInput, "malformed statistics of a corpus: counts out of range");
  }
  return d;
}

}  // namespace srnn
