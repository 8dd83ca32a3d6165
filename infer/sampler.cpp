#include "infer/sampler.h"

#include <algorithm>
#include <cmath>

namespace srnn {

int sample_level(const float* logits, int q, float inv_temperature, double u, float* scratch) {
  float mx = logits[0];
  for (int i = 1; i < q; ++i) mx = std::max(mx, logits[i]);
  // Unnormalised probabilities once, in float; the sums in double so the walk matches the
  // total it is compared against.
  double total = 0;
  for (int i = 0; i < q; ++i) {
    scratch[i] = std::exp((logits[i] - mx) * inv_temperature);
    total += scratch[i];
  }
  const double target = u * total;
  double acc = 0;
  for (int i = 0; i < q; ++i) {
    acc += scratch[i];
    if (acc > target) return i;
  }
  return q - 1;
}

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

SequenceRng::SequenceRng(std::uint64_t seed, std::uint64_t sequence) {
  std::uint64_t x = seed ^ (sequence * 0xd1b54a32d192ed03ULL);
  for (auto& v : s_) v = splitmix64(x);
}

double SequenceRng::uniform() {
  const auto rotl = [](std::uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

}  // namespace srnn
