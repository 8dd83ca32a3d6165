// Log-magnitude spectrogram through FFTW: Hann-windowed frames of fft_size samples every hop
// samples. Magnitudes are in dB relative to a full-scale sine (a sine of amplitude 1 at a
// bin's centre frequency reads 0 dB), floored at -120 dB. Samples beyond full scale count as
// full scale, and NaN as silence, so any float file gives a finite picture.
//
// For drawing, frames and bins can be pooled (the loudest of each group is kept) so that a
// spectrogram of an hour, or of a 65536-point FFT, fits in a bounded image and memory.
//
//   srnn::Spectrogram s = srnn::compute_spectrogram(samples, 16000, 1024, 256);
//   float db = s.at(frame, bin);   // bin * s.bin_hz Hz, at frame * s.hop_s seconds
#pragma once

#include <vector>

#include "core/span.h"

namespace srnn {

struct Spectrogram {
  int n_frames = 0, n_bins = 0;  // n_bins = fft_size / 2 + 1 (fewer when pooled or cut)
  double bin_hz = 0, hop_s = 0;  // per row and per column (of a pooled row or column)
  std::vector<float> db;  // (n_frames, n_bins)
  float at(int frame, int bin) const { return db[static_cast<std::size_t>(frame) * n_bins + bin]; }
};

constexpr int kMaxFftSize = 1 << 16;

struct SpectrogramOptions {
  int fft_size = 1024;  // a power of two in [16, kMaxFftSize]
  int hop = 256;        // >= 1
  int max_frames = 0;   // pool frames into at most this many columns (0: no pooling)
  int max_bins = 0;     // pool bins into at most this many rows (0: no pooling)
  double max_hz = 0;    // drop bins above this frequency first (0: up to Nyquist)
};

// Throws Error(kUsage) for an fft_size that is not a power of two in [16, 65536], or hop < 1.
Spectrogram compute_spectrogram(Span<const float> samples, int rate_hz, const SpectrogramOptions& options);
Spectrogram compute_spectrogram(Span<const float> samples, int rate_hz, int fft_size, int hop);

}  // namespace srnn
