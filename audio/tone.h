// What a listener hears first in a generated clip: does it hold notes, or has it collapsed?
// Used by audio/stats.h (`samplernn stats` and the line after every clip).
//
//   srnn::ToneStats t = srnn::sustained_tone(samples, 16000);  // t.tonal_fraction in [0, 1]
//   srnn::CollapseStats c = srnn::find_collapse(samples, 16000);
//   if (c.collapsed()) ...
//
// Sustained tone (docs/cli.md, "samplernn stats"): a spectrogram of Hann-windowed frames of
// 128 ms, hop 32 ms. A bin is a peak when it is a local maximum standing kPeakDb above the
// median of the 33 bins around it, at 40 Hz or more and within 60 dB of the loudest frame. A
// peak persists when the frames before or after it have a peak within one bin; partials are
// runs of persisting peaks lasting kMinPartialFrames frames (a quarter of a second) or more.
// tonal_fraction is the share of the power above 40 Hz, in frames that are not silent, that
// lies within two bins of a partial: held notes score near one, noise of any colour near
// zero, and so does a drifting DC. partials is the mean number of partials per frame.
//
// Collapse: in 100 ms windows of the signal rounded to 16 bits,
// - stuck: fewer than kStuckDistinct distinct values (one level, a little hiss, or silence);
// - loop: every sample equal to the one kMaxLoop or fewer samples before it, for some period;
// - DC drift: the largest |mean| of a 1-second window where it exceeds the window's AC RMS
//   (a level with a little hiss, not noise that wanders).
// A clip has collapsed when it is stuck or looping for a second or more, or drifts beyond
// kDriftLimit.
#pragma once

#include <cstdint>

#include "core/span.h"

namespace srnn {

struct ToneStats {
  double tonal_fraction = 0;  // [0, 1]
  double partials = 0;        // mean partials per frame
};
constexpr double kPeakDb = 12.0;
constexpr int kMinPartialFrames = 8;

ToneStats sustained_tone(Span<const float> samples, int rate_hz);

struct CollapseStats {
  double stuck_s = 0;      // the longest stuck stretch
  double stuck_level = 0;  // its mean
  double loop_s = 0;       // the longest looping stretch
  int loop_period = 0;     // its period in samples
  double dc_drift = 0;     // the largest |mean| of a 1 s window (the whole clip when shorter) above its AC RMS
  bool collapsed() const;
};
constexpr int kStuckDistinct = 16;
constexpr int kMaxLoop = 8;
constexpr double kCollapseSeconds = 1.0;
constexpr double kDriftLimit = 0.05;

CollapseStats find_collapse(Span<const float> samples, int rate_hz);

}  // namespace srnn
