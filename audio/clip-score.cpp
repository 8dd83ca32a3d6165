#include "audio/clip-score.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace srnn {
namespace {

// 1 inside [lo, hi], exp(-d^2 / 2) outside, d in units of max((hi - lo) / kClipScoreWidthUnit,
// floor). With one_sided, values above the range count as inside.
double closeness(double x, double lo, double hi, double width_floor, bool one_sided) {
  const double width = std::max((hi - lo) / kClipScoreWidthUnit, width_floor);
  double d = 0;
  if (x < lo) d = (lo - x) / width;
  if (x > hi && !one_sided) d = (x - hi) / width;
  return std::exp(-0.5 * d * d);
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f%%", 100 * fraction);
  return buf;
}

}  // namespace

ClipVerdict score_clip(const AudioStats& clip, const StatsDistribution& corpus) {
  ClipVerdict v;
  char buf[64];
  if (clip.collapse.collapsed()) v.failures.push_back("collapsed");
  if (std::fabs(clip.dc_offset) >= kMaxClipDc) {
    std::snprintf(buf, sizeof(buf), "|DC| %.3f", std::fabs(clip.dc_offset));
    v.failures.push_back(buf);
  }
  if (clip.silent_fraction > kMaxClipSilence) v.failures.push_back("silence " + percent(clip.silent_fraction));
  if (clip.clipped_fraction > kMaxClipClipped) v.failures.push_back("clipping " + percent(clip.clipped_fraction));
  if (!v.failures.empty()) return v;
  if (corpus.n_files == 0) {
    v.score = 1;
    v.passes = true;
    return v;
  }
  const auto log_partials = [](double p) { return std::log2(1 + std::max(0.0, p)); };
  const auto octaves = [](double hz) { return std::log2(std::max(hz, 1.0)); };
  const double tonal = closeness(clip.tone.tonal_fraction, corpus.tonal[0], corpus.tonal[2], 0.1, true);
  const double partials = closeness(log_partials(clip.tone.partials), log_partials(corpus.partials[0]),
                                    log_partials(corpus.partials[2]), 0.5, true);
  const double centroid = closeness(octaves(clip.spectral_centroid_hz), octaves(corpus.centroid_hz[0]),
                                    octaves(corpus.centroid_hz[2]), 0.5, false);
  // Digital silence has an RMS of -inf: as far from any corpus as it gets.
  const double rms_db = std::isfinite(clip.rms_dbfs) ? clip.rms_dbfs : -200.0;
  const double rms = closeness(rms_db, corpus.rms_dbfs[0], corpus.rms_dbfs[2], 6.0, false);
  // Held notes first, then brightness and loudness (the header says why).
  // A weighted geometric mean: loudness and brightness do not make up for missing notes.
  v.score = std::pow(tonal, 0.35) * std::pow(partials, 0.35) * std::pow(centroid, 0.15) * std::pow(rms, 0.15);
  v.passes = clip.tone.tonal_fraction >= corpus.tonal[0] && clip.tone.partials >= corpus.partials[0];
  return v;
}

double checkpoint_score(const std::vector<ClipVerdict>& clips) {
  if (clips.empty()) return 0;
  double sum = 0;
  for (const ClipVerdict& c : clips) sum += c.score;
  return sum / static_cast<double>(clips.size());
}

nlohmann::json to_json(const ClipVerdict& v) {
  return {{"score", v.score}, {"passes", v.passes}, {"failures", v.failures}};
}

nlohmann::json clip_record(const std::string& file, const AudioStats& stats, const ClipVerdict& v) {
  nlohmann::json j = {{"file", file}};
  j.update(to_json(v));
  j["tonal_fraction"] = stats.tone.tonal_fraction;
  j["partials"] = stats.tone.partials;
  j["dc_offset"] = stats.dc_offset;
  j["silent_fraction"] = stats.silent_fraction;
  j["centroid_hz"] = stats.spectral_centroid_hz;
  // JSON has no -inf: digital silence is null.
  j["rms_dbfs"] = std::isfinite(stats.rms_dbfs) ? nlohmann::json(stats.rms_dbfs) : nlohmann::json();
  return j;
}

}  // namespace srnn
