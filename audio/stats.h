// Statistics of an audio signal, for `samplernn stats` and the line printed after every
// generated clip: is it mostly silence, is it clipping, where does its energy sit?
//
//   srnn::AudioStats s = srnn::compute_stats(samples, 16000);
//   std::puts(srnn::summary_line(s).c_str());
//   for (const auto& w : srnn::stats_warnings(s)) srnn::log_warn(w);
//
// Definitions (docs/cli.md, "samplernn stats"):
// - RMS and peak in dBFS (a full-scale square wave is 0 dBFS); DC offset is the mean.
// - Clipped: samples with |x| >= 32767/32768, the 16-bit full scale.
// - Silence: non-overlapping 100 ms windows whose RMS is below -64 dBFS; the share of
//   silence is their share of the duration, the longest silent stretch the longest run.
// - Spectral centroid: sum f P(f) / sum P(f) of the average power spectrum (Hann-windowed
//   2048-sample frames, hop 1024, through FFTW).
// - Sustained tone (tonal share of the power, partials per frame) and collapse (stuck on a
//   level, locked in a loop of a few samples, drifting DC): audio/tone.h.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/tone.h"
#include "core/span.h"

namespace srnn {

struct AudioStats {
  int rate_hz = 0;
  std::int64_t n_samples = 0;
  double duration_s = 0;
  double rms_dbfs = 0;   // -inf for digital silence
  double peak_dbfs = 0;  // -inf for digital silence
  double dc_offset = 0;
  double clipped_fraction = 0;
  double silent_fraction = 0;
  double longest_silence_s = 0;
  double spectral_centroid_hz = 0;  // 0 when there is no energy
  ToneStats tone;
  CollapseStats collapse;
};

AudioStats compute_stats(Span<const float> samples, int rate_hz);

// One line: "3.00 s, RMS -18.2 dBFS, peak -3.1 dBFS, DC +0.0001, clipped 0.00%, silence 12%
// (longest 0.4 s), centroid 1234 Hz, tonal 0.42 (3.1 partials)".
std::string summary_line(const AudioStats& s);

// Warnings for a clip that is mostly silence (more than half), clipping (over 1% of its
// samples at full scale) or collapsed (stuck, looping or drifting: CollapseStats); empty
// when none of these.
std::vector<std::string> stats_warnings(const AudioStats& s);

nlohmann::json to_json(const AudioStats& s);

// Logs "<name>: <summary line>" and a warning line for each of stats_warnings(): what is
// printed after every generated clip.
void log_clip_stats(const std::string& name, Span<const float> samples, int rate_hz);
// The same for statistics already measured.
void log_clip_stats(const std::string& name, const AudioStats& stats);

// Many files' statistics as a distribution: the 10th, 50th and 90th percentiles of each
// figure (nearest rank), and how many collapsed. What `stats` prints for a folder, and what a
// checkpoint records of its training data, so that clips can be set beside it.
struct StatsDistribution {
  int n_files = 0, n_collapsed = 0;
  using Percentiles = std::array<double, 3>;  // 10th, median, 90th
  Percentiles tonal{}, partials{}, abs_dc{}, centroid_hz{}, rms_dbfs{};
};
StatsDistribution distribution_of(const std::vector<AudioStats>& stats);
// "32 files: tonal 0.66 (0.34-0.89), 12.4 partials (4.0-20.4), |DC| 0.0010 (0.0001-0.0040),
// centroid 540 Hz (300-900), RMS -20.1 dBFS (-30.2 to -14.0), collapsed 1 of 32"
std::string distribution_line(const StatsDistribution& d);
nlohmann::json to_json(const StatsDistribution& d);
// Error(kInput) for JSON that is not a distribution.
StatsDistribution distribution_from_json(const nlohmann::json& j);

// The distribution over at most max_files of `files`, evenly spaced through the list, each
// decoded at rate_hz; files that fail to decode are left out.
StatsDistribution stats_of_files(const std::vector<std::filesystem::path>& files, int rate_hz, std::size_t max_files);
constexpr std::size_t kCorpusStatsFiles = 32;

// Logs "  training data: <distribution line>" for a checkpoint's corpus_stats, to set the
// clips above it beside the music they learnt from; nothing when it is null.
void log_corpus_stats(const nlohmann::json& corpus_stats);

}  // namespace srnn
