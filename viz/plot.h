// Figures of audio files, drawn with cairo: for each file a waveform panel (time in seconds,
// amplitude in [-1, 1], long files drawn as the min/max of each pixel column) and a
// log-magnitude spectrogram (frequency in Hz, time in seconds, a dB colour bar), under the
// file name as title. PNG or SVG by the output's extension.
//
//   srnn::PlotOptions o;  o.fft_size = 1024;
//   srnn::plot_audio({{"clip.wav", samples, 16000}}, "clip.png", o);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/span.h"

namespace srnn {

struct PlotOptions {
  int width = 1200;    // pixels
  int height = 600;    // pixels per file
  int fft_size = 1024;
  int hop = 256;
  double max_freq_hz = 0;  // 0: Nyquist
};

struct PlotInput {
  std::string title;
  std::vector<float> samples;  // mono
  int rate_hz = 0;
};

// Draws every input stacked into one figure. Throws Error(kUsage) for bad options and
// Error(kIo) when the file cannot be written (written atomically).
void plot_audio(const std::vector<PlotInput>& inputs, const std::filesystem::path& output, const PlotOptions& options);

}  // namespace srnn
