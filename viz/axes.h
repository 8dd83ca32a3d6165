// Axis helpers shared by the PNG/SVG figures and the report's charts (internal to viz/).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace srnn {

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks.
inline double nice_step(double range, int target) {
  if (!(range > 0)) return 1;
  const double raw = range / target, mag = std::pow(10.0, std::floor(std::log10(raw))), norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

// v printed with as many decimals as the step needs.
inline std::string tick_label(double v, double step) {
  char buf[32];
  const int digits = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step)));
  std::snprintf(buf, sizeof(buf), "%.*f", digits, std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return buf;
}

}  // namespace srnn
