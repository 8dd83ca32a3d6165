// Quantisation of samples in [-1, 1] to integer levels, and back (docs/design.md, "Quantisation").
//
//   mu-law  (q = 256, mu = 255): y = sign(x) ln(1 + mu|x|) / ln(1 + mu)
//   a-law   (q = 256, A = 87.6): y = sign(x) A|x| / (1 + ln A)            for |x| < 1/A
//                                y = sign(x) (1 + ln(A|x|)) / (1 + ln A)  otherwise
//   linear  (2 <= q <= 65536):   y = x  (no min-max normalisation)
//
// then level = int((y + 1) / 2 * (q - 1) + 0.5), i.e. rounding half up. Dequantisation
// inverts this at the level's centre: y = 2 level / (q - 1) - 1, then the inverse companding.
// prism-linear is PRiSM's linear quantiser, for imported PRiSM models (core/qtype.h):
// level = int((x + 1) / 2 * (q - 1e-5) + 5e-6) in float32, back y = level / (q / 2) - 1.
// Input beyond [-1, 1] is clamped (never wrapped); NaN maps to q_zero. q_zero = q / 2 is the
// level PRiSM uses for silence padding.
//
//   srnn::Quantizer q(srnn::QType::kMuLaw, 256);
//   int level = q.quantize(0.25f);
//   float x = q.dequantize(level);
#pragma once

#include <cstdint>
#include <string>

#include "core/qtype.h"
#include "core/span.h"

namespace srnn {

class Quantizer {
 public:
  // Throws Error(kConfig) when q_levels does not suit the type (256 for mu-law and a-law,
  // 2..65536 for linear and prism-linear).
  Quantizer(QType type, int q_levels);

  QType type() const { return type_; }
  int q_levels() const { return q_levels_; }
  int q_zero() const { return q_levels_ / 2; }

  int quantize(float x) const;
  float dequantize(int level) const;  // level is clamped to [0, q_levels)

  void quantize(Span<const float> x, Span<std::int32_t> levels) const;
  void dequantize(Span<const std::int32_t> levels, Span<float> x) const;

  // The companding curve and its inverse on [-1, 1], exposed for tests.
  double compress(double x) const;
  double expand(double y) const;

 private:
  QType type_;
  int q_levels_;
};

}  // namespace srnn
