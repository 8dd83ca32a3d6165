// The memory bandwidth the engine's kernels reach, for the roofline of generation at one
// sequence (docs/benchmarks.md): one row times a matrix far larger than the L3 cache (read
// from DRAM) and one that fits in it, in fp32, bf16 and int8, on 1 and 2 threads that split
// the stripes as the engine's thread team does.
//
//   build/bench/bench-bandwidth
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "infer/kernels.h"

namespace {

// GB/s of matrix read by `reps` products of one row, split over `threads`.
double gb_per_s(const srnn::PackedMatrix& p, int threads, const std::vector<float>& x, std::vector<float>& y,
                int reps) {
  const auto body = [&](int i) {
    const std::size_t S = p.n_stripes();
    for (int r = 0; r < reps; ++r) {
      srnn::gemm_packed(1, p, x.data(), p.K, nullptr, y.data(), p.N, false, S * i / threads, S * (i + 1) / threads);
    }
  };
  body(0);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> others;
  for (int i = 1; i < threads; ++i) others.emplace_back(body, i);
  body(0);
  for (auto& t : others) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(p.bytes()) * reps / s / 1e9;
}

struct Case {
  std::size_t K, N;
  int reps;
  const char* where;
};

}  // namespace

int main() {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (const Case c : {Case{4096, 16384, 10, "DRAM (a 256 MB fp32 matrix)"}, Case{1024, 2048, 400, "L3 (an 8 MB fp32 matrix)"}}) {
    std::vector<float> b(c.K * c.N), x(c.K), y(c.N);
    for (float& v : b) v = d(rng);
    for (float& v : x) v = d(rng);
    for (srnn::WeightFormat f : {srnn::WeightFormat::kF32, srnn::WeightFormat::kBf16, srnn::WeightFormat::kInt8}) {
      const srnn::PackedMatrix p = srnn::pack_matrix(b.data(), c.K, c.N, f);
      std::printf("%s, %s: 1 thread %.1f GB/s, 2 threads %.1f GB/s\n", c.where, srnn::weight_format_name(f),
                  gb_per_s(p, 1, x, y, c.reps), gb_per_s(p, 2, x, y, c.reps));
    }
  }
  return 0;
}
