// Drawing a level from the model's logits, and the per-sequence random streams that the CPU
// engine draws with (the CUDA engine draws with Philox on the device, LibTorch with its own
// generator).
//
//   srnn::SequenceRng rng(rng_seed, sequence);
//   int level = srnn::sample_level(logits, q, 1.0f / temperature, rng.uniform(), scratch);
//   int nucleus = srnn::sample_level_top_p(logits, q, 1.0f / temperature, 0.9, rng.uniform(), scratch2);
#pragma once

#include <cstdint>
#include <vector>

namespace srnn {

// Draws a level from softmax(logits * inv_temperature) with u uniform in [0, 1): the first
// level whose cumulative probability exceeds u. scratch holds q floats.
int sample_level(const float* logits, int q, float inv_temperature, double u, float* scratch);

// Nucleus (top-p) sampling: from p = softmax(logits * inv_temperature), keeps the levels whose
// probability is at least tau, where tau is the probability of the k-th most likely level and
// k the least count whose k most likely levels hold at least top_p of the mass; draws from
// them renormalised, walking in level order as sample_level does (the first kept level whose
// cumulative kept probability exceeds u). Levels tied with tau are all kept, so the set does
// not depend on an order among equals. top_p in (0, 1]; top_p >= 1 is sample_level exactly.
// scratch holds 2 * q floats. No allocation; O(q) expected, O(q log q) at worst (a selection
// by mass, not a sort); the same u gives the same level.
int sample_level_top_p(const float* logits, int q, float inv_temperature, double top_p, double u, float* scratch);

// A guard against DC drift inside the sampling loop (GenerateRequest::dc_guard): it follows
// the running mean m of a sequence's output (one pole, time constant kDcGuardSeconds) and,
// where |m| exceeds kDcGuardDeadZone, tilts the next draw's distribution by exp(-lambda * v_j),
// v_j the value of level j and lambda = kDcGuardGain * (m - sign(m) * kDcGuardDeadZone): the
// least change of the model's distribution (in relative entropy) that moves its mean against
// the drift. A proportional pull: a model that keeps drifting settles a little beyond the
// dead zone, well under the 0.01 at which a clip fails (stats, the clip score). Music's mean
// over half a second mostly sits inside the dead zone, so the guard leaves it alone.
//
//   srnn::DcGuard guard(level_values, 16000);
//   const float* l = guard.tilt(logits, inv_temperature, tilted);  // logits, or tilted
//   int level = srnn::sample_level(l, q, inv_temperature, u, scratch);
//   guard.push(level);
constexpr double kDcGuardSeconds = 0.5;
constexpr double kDcGuardDeadZone = 0.004;
constexpr double kDcGuardGain = 1000.0;

class DcGuard {
 public:
  // level_values: the value in [-1, 1] of each of the q levels (the quantiser's).
  DcGuard(std::vector<float> level_values, int rate_hz);
  // The logits to draw from: `logits` itself inside the dead zone, else `out` (q floats)
  // holding logits - lambda * v_j / inv_temperature, so that softmax(out * inv_temperature)
  // is softmax(logits * inv_temperature) tilted by exp(-lambda * v_j).
  const float* tilt(const float* logits, float inv_temperature, float* out) const;
  // Follows the level drawn.
  void push(int level) { mean_ += alpha_ * (values_[static_cast<std::size_t>(level)] - mean_); }
  double mean() const { return mean_; }
  double lambda() const;

 private:
  std::vector<float> values_;
  double alpha_, mean_ = 0;
};

// A small, fast generator (xoshiro256**) with one independent stream per sequence, so the
// audio does not depend on how sequences are spread over threads.
class SequenceRng {
 public:
  SequenceRng(std::uint64_t seed, std::uint64_t sequence);
  double uniform();  // [0, 1)

 private:
  std::uint64_t s_[4];
};

}  // namespace srnn
