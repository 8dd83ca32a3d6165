// Sample-rate conversion through libsoxr at its high-quality setting (SOXR_HQ: 20-bit
// precision, pass band to 91% of Nyquist, linear phase).
//
// Resampler converts a mono stream block by block; flush() drains the filter at the end.
// resample() converts a whole signal. When both rates are equal the samples are copied.
//
//   srnn::Resampler r(44100, 16000);
//   r.process(block, out);   // appends to out
//   r.flush(out);
#pragma once

#include <memory>
#include <vector>

#include "core/span.h"

namespace srnn {

class Resampler {
 public:
  Resampler(int in_rate_hz, int out_rate_hz);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // Appends the output for `in` to `out`.
  void process(Span<const float> in, std::vector<float>& out);
  // Appends the filter's remaining output; no process() may follow.
  void flush(std::vector<float>& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::vector<float> resample(Span<const float> in, int in_rate_hz, int out_rate_hz);

}  // namespace srnn
