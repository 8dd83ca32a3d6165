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

#include <cstdint>
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

}  // namespace srnn
