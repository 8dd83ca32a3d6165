// Loudness helpers for float signals in [-1, 1].
//
// dBFS here is relative to a full-scale square wave: a signal of constant amplitude 1 has an
// RMS of 0 dBFS, a full-scale sine -3.01 dBFS. This is the convention pydub and PRiSM use for
// their silence threshold. Silence (all zeros, or no samples) is -infinity dBFS.
//
//   if (srnn::rms_dbfs(chunk) < -64.0) { ... }
#pragma once

#include "core/span.h"

namespace srnn {

double rms(Span<const float> x);
double rms_dbfs(Span<const float> x);
double peak(Span<const float> x);       // max |x|
double peak_dbfs(Span<const float> x);

double amplitude_to_db(double amplitude);  // 20 log10(a); -inf for 0
double db_to_amplitude(double db);         // 10^(db / 20)

}  // namespace srnn
