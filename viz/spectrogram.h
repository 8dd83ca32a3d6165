// Log-magnitude spectrogram through FFTW: Hann-windowed frames of fft_size samples every hop
// samples. Magnitudes are in dB relative to a full-scale sine (a sine of amplitude 1 at a
// bin's centre frequency reads 0 dB), floored at -120 dB.
//
//   srnn::Spectrogram s = srnn::compute_spectrogram(samples, 16000, 1024, 256);
//   float db = s.at(frame, bin);   // bin * s.bin_hz Hz, at frame * s.hop_s seconds
#pragma once

#include <vector>

#include "core/span.h"

namespace srnn {

struct Spectrogram {
  int n_frames = 0, n_bins = 0;  // n_bins = fft_size / 2 + 1
  double bin_hz = 0, hop_s = 0;
  std::vector<float> db;  // (n_frames, n_bins)
  float at(int frame, int bin) const { return db[static_cast<std::size_t>(frame) * n_bins + bin]; }
};

// Throws Error(kUsage) for a fft_size below 16 or not a power of two, or hop < 1.
Spectrogram compute_spectrogram(Span<const float> samples, int rate_hz, int fft_size, int hop);

}  // namespace srnn
