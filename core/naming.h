// PRiSM's rules for naming generated clips and spreading temperatures over sequences, and the
// checks of the sampling flags, shared by training (clips at checkpoints) and `samplernn
// generate`.
#pragma once

#include <string>
#include <vector>

namespace srnn {

// "<stem>_e=<epoch>_t=<temp>.wav", or with "(<index>)" after the epoch when a call writes
// several sequences. The temperature is printed as Python prints a float ("0.95", "1.0").
std::string clip_name(const std::string& stem, int epoch, int index, int n_sequences, double temperature);

// Too many values are truncated to n, too few repeat the last (0.95 when none are given).
std::vector<double> expand_temperatures(std::vector<double> temperatures, int n);

// Below this a temperature picks the most likely level every time, as this one already does;
// a smaller one would overflow the sampler's arithmetic.
constexpr double kMinTemperature = 1e-6;
// Error(kUsage) unless every value is finite and at least kMinTemperature.
void check_temperatures(const std::vector<double>& temperatures);

// Error(kUsage) unless top_p (nucleus sampling, --top_p) is in (0, 1].
void check_top_p(double top_p);

}  // namespace srnn
