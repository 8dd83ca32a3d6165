#include "audio/loudness.h"

#include <cmath>
#include <limits>

namespace srnn {

double rms(Span<const float> x) {
  if (x.empty()) return 0.0;
  double sum_sq = 0.0;
  for (float v : x) sum_sq += static_cast<double>(v) * v;
  return std::sqrt(sum_sq / static_cast<double>(x.size()));
}

double peak(Span<const float> x) {
  double p = 0.0;
  for (float v : x) p = std::fmax(p, std::fabs(static_cast<double>(v)));
  return p;
}

double amplitude_to_db(double amplitude) {
  if (amplitude <= 0.0) return -std::numeric_limits<double>::infinity();
  return 20.0 * std::log10(amplitude);
}

double db_to_amplitude(double db) { return std::pow(10.0, db / 20.0); }

double rms_dbfs(Span<const float> x) { return amplitude_to_db(rms(x)); }
double peak_dbfs(Span<const float> x) { return amplitude_to_db(peak(x)); }

}  // namespace srnn
