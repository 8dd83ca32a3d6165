// One score for a generated clip, set against the statistics of the music the model learnt
// from: what `samplernn rank`, `train --checkpoint_policy Clips` and `--checkpoint_path` on a
// folder choose checkpoints by, and what `stats --against` prints.
//
//   srnn::ClipVerdict v = srnn::score_clip(srnn::compute_stats(clip, 16000), corpus);
//   if (!v.passes) for (const auto& f : v.failures) ...
//
// Definition (docs/cli.md, "The clip score"):
// - Failures, each named in `failures`, each making the score 0 and the clip fail: collapsed
//   (CollapseStats::collapsed(): stuck, looping or drifting), |DC| >= 0.01, silence over 25%
//   of the clip, clipping over 1% of its samples.
// - Otherwise the weighted geometric mean of four closeness terms in [0, 1], each 1 inside the
//   corpus's [10th, 90th] percentile range and exp(-d^2 / 2) outside it, d the distance
//   beyond the range in units of the range's half-width (kClipScoreWidthUnit), never less
//   than a floor, so that a narrow corpus range is no cliff:
//     tonal fraction   0.35  linear         floor 0.1   one-sided: only below the range counts
//     partials         0.35  log2(1 + p)    floor 0.5   one-sided
//     centroid         0.15  log2 Hz        floor 0.5 (octave)
//     RMS              0.15  dBFS           floor 6 dB  (digital silence counts as -200 dBFS)
// - passes: no failure, and tonal fraction and partials at least the corpus's 10th
//   percentile: the clip is within the set's own range.
// - With no corpus figures (n_files 0), only failures count: a clip without one scores 1
//   and passes.
// Why: a listener hears failure first (collapse, DC, dropouts, distortion: not music at
// all), then whether notes are held as in the music (tonal fraction and partials, the
// figures that separate music from rumble and noise), then brightness and loudness. A clip
// more tonal than the corpus is not held back for it. A geometric mean, so that loudness and
// brightness do not make up for missing notes, and half-width units: against a corpus as
// wide as real ones (tonal 0.4-0.9, 4-18 partials, 250-700 Hz), white noise (tonal 0.02, no
// partials, 3 kHz) scores 0.13 and an untuned model's rumble (tonal 0.13, 0.2 partials,
// 124 Hz) 0.32, while a clip just short of the range (tonal 0.3, 3 partials) still scores
// 0.95. (An arithmetic mean in full widths gives the noise 0.64 and the rumble 0.77.)
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/stats.h"

namespace srnn {

struct ClipVerdict {
  double score = 0;  // [0, 1]
  bool passes = false;
  std::vector<std::string> failures;  // "collapsed", "|DC| 0.021", "silence 40%", "clipping 2%"
};

constexpr double kMaxClipDc = 0.01;        // |DC| at or above this fails
constexpr double kMaxClipSilence = 0.25;   // silent_fraction above this fails
constexpr double kMaxClipClipped = 0.01;   // clipped_fraction above this fails
// d is measured in (90th - 10th percentile) / kClipScoreWidthUnit, or the floor if larger.
constexpr double kClipScoreWidthUnit = 2;

ClipVerdict score_clip(const AudioStats& clip, const StatsDistribution& corpus);
// The mean of the clips' scores (0 for none): a checkpoint whose clips sometimes fail is
// worse than one whose clips never do.
double checkpoint_score(const std::vector<ClipVerdict>& clips);
// {"score", "passes", "failures"}.
nlohmann::json to_json(const ClipVerdict& v);
// One clip as core/clip-scores.h records it: {"file", "score", "passes", "failures",
// "tonal_fraction", "partials", "dc_offset", "silent_fraction", "centroid_hz", "rms_dbfs"}
// (rms_dbfs null for digital silence).
nlohmann::json clip_record(const std::string& file, const AudioStats& stats, const ClipVerdict& v);

}  // namespace srnn
