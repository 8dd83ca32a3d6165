#include "audio/quantize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace srnn {
namespace {

constexpr double kMu = 255.0;
constexpr double kA = 87.6;

}  // namespace

Quantizer::Quantizer(QType type, int q_levels) : type_(type), q_levels_(q_levels) { check_q_levels(type, q_levels); }

double Quantizer::compress(double x) const {
  x = std::clamp(x, -1.0, 1.0);
  const double a = std::fabs(x);
  double y = a;
  switch (type_) {
    case QType::kMuLaw: y = std::log1p(kMu * a) / std::log1p(kMu); break;
    case QType::kALaw:
      y = a < 1.0 / kA ? kA * a / (1.0 + std::log(kA)) : (1.0 + std::log(kA * a)) / (1.0 + std::log(kA));
      break;
    case QType::kLinear:
    case QType::kPrismLinear: break;
  }
  return std::copysign(y, x);
}

double Quantizer::expand(double y) const {
  y = std::clamp(y, -1.0, 1.0);
  const double a = std::fabs(y);
  double x = a;
  switch (type_) {
    case QType::kMuLaw: x = std::expm1(a * std::log1p(kMu)) / kMu; break;
    case QType::kALaw: {
      const double d = 1.0 + std::log(kA);
      x = a < 1.0 / d ? a * d / kA : std::exp(a * d - 1.0) / kA;
      break;
    }
    case QType::kLinear:
    case QType::kPrismLinear: break;
  }
  return std::copysign(x, y);
}

int Quantizer::quantize(float x) const {
  if (std::isnan(x)) return q_zero();
  if (type_ == QType::kPrismLinear) {
    // numpy's float32 arithmetic, step by step, then astype(int32): truncation.
    float y = std::clamp(x, -1.0f, 1.0f) + 1.0f;
    y /= 2.0f;
    y *= static_cast<float>(q_levels_ - 1e-5);
    y += 5e-6f;
    return std::clamp(static_cast<int>(y), 0, q_levels_ - 1);
  }
  const double y = compress(static_cast<double>(x));
  const int level = static_cast<int>((y + 1.0) / 2.0 * (q_levels_ - 1) + 0.5);
  return std::clamp(level, 0, q_levels_ - 1);
}

float Quantizer::dequantize(int level) const {
  level = std::clamp(level, 0, q_levels_ - 1);
  if (type_ == QType::kPrismLinear) return static_cast<float>(level) / (static_cast<float>(q_levels_) / 2.0f) - 1.0f;
  const double y = 2.0 * level / (q_levels_ - 1) - 1.0;
  return static_cast<float>(expand(y));
}

void Quantizer::quantize(Span<const float> x, Span<std::int32_t> levels) const {
  if (levels.size() < x.size()) throw Error(ErrorKind::kInternal, "quantize: output span too small");
  for (std::size_t i = 0; i < x.size(); ++i) levels[i] = quantize(x[i]);
}

void Quantizer::dequantize(Span<const std::int32_t> levels, Span<float> x) const {
  if (x.size() < levels.size()) throw Error(ErrorKind::kInternal, "dequantize: output span too small");
  for (std::size_t i = 0; i < levels.size(); ++i) x[i] = dequantize(levels[i]);
}

}  // namespace srnn
