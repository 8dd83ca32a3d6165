// Quantisation types and their level-count rules, shared by configs (core/) and the
// quantiser (audio/quantize.h).
#pragma once

#include <string>

namespace srnn {

enum class QType { kMuLaw, kALaw, kLinear };

// "mu-law", "a-law", "linear" (also "mulaw", "mu_law", "alaw", "a_law"). Throws
// Error(kConfig) naming the key for anything else.
QType parse_q_type(const std::string& name);
std::string q_type_name(QType type);

// Throws Error(kConfig) when q_levels does not suit the type: 256 for mu-law and a-law,
// 2..65536 for linear.
void check_q_levels(QType type, int q_levels);

}  // namespace srnn
