#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <utility>

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

float median_of_3(float a, float b, float c) { return std::max(std::min(a, b), std::min(std::max(a, b), c)); }

// A pivot among the n > 1 candidates of v. A model's probabilities are a smooth bump over
// the levels, and the candidates stay in level order, so the ends and the middle (a median
// of 3) would be two tails and the peak, dropping a few candidates a round; spread samples
// (a median of 3 medians of 3, at nine evenly spaced levels) stand for the distribution of
// values instead. From round kLateRound on, the exact median (std::nth_element, which
// reorders v) halves what is left, so no input takes more than O(n log n).
constexpr int kLateRound = 8;
float choose_pivot(float* v, int n, int round) {
  if (round >= kLateRound) {
    std::nth_element(v, v + n / 2, v + n);
    return v[n / 2];
  }
  if (n < 9) return median_of_3(v[0], v[n / 2], v[n - 1]);
  const auto at = [&](int k) { return v[static_cast<std::int64_t>(2 * k + 1) * n / 18]; };
  return median_of_3(median_of_3(at(0), at(1), at(2)), median_of_3(at(3), at(4), at(5)),
                     median_of_3(at(6), at(7), at(8)));
}

// The nucleus' threshold tau (sample_level_top_p) among the n values of v, which it
// overwrites: a selection by mass, with no sort. Each round measures the candidates against a
// pivot (the mass above it, and how many are above and equal), which says on which side of
// the pivot the boundary lies; only that side stays, compacted to the front of v. `kept` is
// the mass of the levels known to be above every candidate, always less than `need`. Both
// passes are branch-free (an unpredictable branch per level cost more than the arithmetic),
// and the mass is summed in four fixed lanes, so the result does not depend on the compiler.
// The pivot is a candidate, so each round drops at least one, and choose_pivot bounds the
// rounds.
float nucleus_threshold(float* v, int n, double need) {
  double kept = 0;
  for (int round = 0; n > 1; ++round) {
    const float pivot = choose_pivot(v, n, round);
    double mass[4] = {0, 0, 0, 0};
    int n_gt = 0, n_eq = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
      for (int j = 0; j < 4; ++j) {
        const float x = v[i + j];
        mass[j] += x > pivot ? x : 0.0f;
        n_gt += x > pivot;
        n_eq += x == pivot;
      }
    }
    for (; i < n; ++i) {
      mass[0] += v[i] > pivot ? v[i] : 0.0f;
      n_gt += v[i] > pivot;
      n_eq += v[i] == pivot;
    }
    const double mass_gt = (mass[0] + mass[1]) + (mass[2] + mass[3]);
    int m = 0;
    if (n_gt > 0 && kept + mass_gt >= need) {
      for (i = 0; i < n; ++i) {  // the boundary is above the pivot
        v[m] = v[i];
        m += v[i] > pivot;
      }
    } else {
      const double mass_ge = mass_gt + static_cast<double>(n_eq) * pivot;
      // The pivot's level ends the nucleus; or nothing is below it, where rounding kept the
      // whole mass under `need`.
      if (kept + mass_ge >= need || n_gt + n_eq == n) return pivot;
      kept += mass_ge;
      for (i = 0; i < n; ++i) {  // below the pivot
        v[m] = v[i];
        m += v[i] < pivot;
      }
    }
    n = m;
  }
  return v[0];
}

}  // namespace

int sample_level_top_p(const float* logits, int q, float inv_temperature, double top_p, double u, float* scratch) {
  if (top_p >= 1) return sample_level(logits, q, inv_temperature, u, scratch);
  float mx = logits[0];
  for (int i = 1; i < q; ++i) mx = std::max(mx, logits[i]);
  // The same float probabilities as sample_level; a copy in scratch[q, 2q) for the selection.
  float* p = scratch;
  float* v = scratch + q;
  double total = 0;
  for (int i = 0; i < q; ++i) {
    p[i] = v[i] = std::exp((logits[i] - mx) * inv_temperature);
    total += p[i];
  }
  const float tau = nucleus_threshold(v, q, top_p * total);
  // The kept mass and the walk add the same values in the same order (a level outside the
  // nucleus adds an exact 0), so the walk ends inside the nucleus, at a level of probability
  // above zero.
  double kept_total = 0;
  for (int i = 0; i < q; ++i) kept_total += p[i] >= tau ? p[i] : 0.0f;
  const double target = u * kept_total;
  double acc = 0;
  for (int i = 0; i < q; ++i) {
    acc += p[i] >= tau ? p[i] : 0.0f;
    if (acc > target) return i;
  }
  // u * kept_total rounded up to kept_total: the last kept level of probability above zero.
  for (int i = q - 1; i > 0; --i) {
    if (p[i] >= tau && p[i] > 0) return i;
  }
  return 0;
}

DcGuard::DcGuard(std::vector<float> level_values, int rate_hz)
    : values_(std::move(level_values)), alpha_(1.0 / (kDcGuardSeconds * std::max(1, rate_hz))) {}

double DcGuard::lambda() const {
  const double excess = std::fabs(mean_) - kDcGuardDeadZone;
  if (excess <= 0) return 0;
  return kDcGuardGain * (mean_ > 0 ? excess : -excess);
}

const float* DcGuard::tilt(const float* logits, float inv_temperature, float* out) const {
  const double lambda = this->lambda();
  if (lambda == 0) return logits;
  const float k = static_cast<float>(lambda / inv_temperature);
  for (std::size_t j = 0; j < values_.size(); ++j) out[j] = logits[j] - k * values_[j];
  return out;
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
