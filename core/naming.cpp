#include "core/naming.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace srnn {

std::string clip_name(const std::string& stem, int epoch, int index, int n_sequences, double temperature) {
  std::ostringstream t;
  t << temperature;
  std::string temp = t.str();
  if (temp.find_first_of(".e") == std::string::npos) temp += ".0";  // Python's str(1.0) is "1.0"
  std::string name = stem + "_e=" + std::to_string(epoch);
  if (n_sequences > 1) name += "(" + std::to_string(index) + ")";
  return name + "_t=" + temp + ".wav";
}

std::vector<double> expand_temperatures(std::vector<double> temperatures, int n) {
  if (temperatures.empty()) temperatures.push_back(0.95);
  if (static_cast<int>(temperatures.size()) > n) temperatures.resize(static_cast<std::size_t>(n));
  while (static_cast<int>(temperatures.size()) < n) temperatures.push_back(temperatures.back());
  return temperatures;
}

void check_temperatures(const std::vector<double>& temperatures) {
  for (double t : temperatures) {
    if (!(std::isfinite(t) && t >= kMinTemperature)) {
      char text[32];
      std::snprintf(text, sizeof(text), "%g", t);
      throw Error(ErrorKind::kUsage, std::string("--temperature ") + text + " is not a finite number of at least 1e-06",
                  "1e-06 already picks the most likely level every time");
    }
  }
}

void check_top_p(double top_p) {
  if (!(top_p > 0 && top_p <= 1)) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", top_p);
    throw Error(ErrorKind::kUsage, std::string("--top_p ") + text + " is not in (0, 1]",
                "0.9 draws from the most likely levels that hold 90% of the probability; 1 turns it off");
  }
}

}  // namespace srnn
