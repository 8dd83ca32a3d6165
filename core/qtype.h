// Quantisation types and their level-count rules, shared by configs (core/) and the
// quantiser (audio/quantize.h).
#pragma once

#include <string>

namespace srnn {

// kPrismLinear is PRiSM's own linear quantiser (samplernn/utils.py), kept for imported PRiSM
// models: level = int((x + 1) / 2 * (q - 1e-5) + 5e-6) in float32, and back
// level / (q / 2) - 1. kLinear is the same curve quantised as mu-law is (round to the
// nearest of q levels spanning [-1, 1]); the two differ by up to a level.
enum class QType { kMuLaw, kALaw, kLinear, kPrismLinear };

// "mu-law", "a-law", "linear", "prism-linear" (also "mulaw", "mu_law", "alaw", "a_law"). Throws
// Error(kConfig) naming the key for anything else.
QType parse_q_type(const std::string& name);
std::string q_type_name(QType type);

// Throws Error(kConfig) when q_levels does not suit the type: 256 for mu-law and a-law,
// 2..65536 for linear and prism-linear.
void check_q_levels(QType type, int q_levels);

}  // namespace srnn
