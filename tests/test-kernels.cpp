// SIMD kernels against their scalar reference, over sizes around the vector widths.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/safetensors.h"
#include "infer/kernels.h"
#include "infer/thread-team.h"

namespace srnn {
namespace {

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Each SIMD level is its own test; a level this CPU cannot run is reported as skipped, so a
// run on such a CPU never passes by comparing the scalar code with itself.
class AtLevel : public ::testing::TestWithParam<KernelLevel> {
 protected:
  void SetUp() override {
    if (!kernel_level_available(GetParam())) {
      GTEST_SKIP() << "this CPU cannot run " << kernel_level_name(GetParam()) << " kernels";
    }
  }
};

std::string level_name(const ::testing::TestParamInfo<KernelLevel>& info) { return kernel_level_name(info.param); }

using GemmSmall = AtLevel;

TEST_P(GemmSmall, MatchesScalar) {
  const std::size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1023};
  const KernelLevel level = GetParam();
  for (std::size_t M : {1u, 2u, 3u, 4u, 5u, 7u, 8u, 16u, 17u}) {
    for (std::size_t N : sizes) {
      for (std::size_t K : {1u, 7u, 16u, 17u, 256u}) {
        for (bool accumulate : {false, true}) {
          const std::size_t ldx = K + 3, ldb = N + 5, ldy = N + 2;  // strides wider than rows
          const auto x = random_vector(M * ldx, 1), b = random_vector(K * ldb, 2), bias = random_vector(N, 3);
          std::vector<float> y0 = random_vector(M * ldy, 4), y1 = y0;
          gemm_small_scalar(M, N, K, x.data(), ldx, b.data(), ldb, bias.data(), y0.data(), ldy, accumulate);
          gemm_small_at(level, M, N, K, x.data(), ldx, b.data(), ldb, bias.data(), y1.data(), ldy, accumulate);
          double worst = 0, scale = 1e-30;
          std::size_t worst_at = 0;
          for (std::size_t i = 0; i < y0.size(); ++i) {
            const double d = std::fabs(double(y0[i]) - y1[i]);
            if (d > worst) {
              worst = d;
              worst_at = i;
            }
            scale = std::max(scale, std::fabs(double(y0[i])));
          }
          ASSERT_LE(worst, 1e-5 * scale * std::sqrt(double(K)))
              << kernel_level_name(level) << " M=" << M << " N=" << N << " K=" << K << " acc=" << accumulate
              << " worst at " << worst_at << ": " << y0[worst_at] << " vs " << y1[worst_at];
        }
      }
    }
  }
}

using GemmPacked = AtLevel;

TEST_P(GemmPacked, MatchesScalarOnTheUnpackedMatrix) {
  const KernelLevel level = GetParam();
  for (std::size_t M : {1u, 3u, 4u, 5u, 16u}) {
    for (std::size_t N : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 200u, 1023u}) {
      for (std::size_t K : {1u, 9u, 256u}) {
        for (bool accumulate : {false, true}) {
          const auto x = random_vector(M * K, 5), b = random_vector(K * N, 6), bias = random_vector(N, 7);
          const PackedMatrix p = pack_matrix(b.data(), K, N);
          ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p.data.data()) % 64, 0u);
          std::vector<float> y0 = random_vector(M * N, 8), y1 = y0;
          gemm_small_scalar(M, N, K, x.data(), K, b.data(), N, bias.data(), y0.data(), N, accumulate);
          // In two halves by stripes, as a thread team splits it.
          const std::size_t half = p.n_stripes() / 2;
          gemm_packed_at(level, M, p, x.data(), K, bias.data(), y1.data(), N, accumulate, 0, half);
          gemm_packed_at(level, M, p, x.data(), K, bias.data(), y1.data(), N, accumulate, half, p.n_stripes());
          double worst = 0, scale = 1e-30;
          for (std::size_t i = 0; i < y0.size(); ++i) {
            worst = std::max(worst, std::fabs(double(y0[i]) - y1[i]));
            scale = std::max(scale, std::fabs(double(y0[i])));
          }
          ASSERT_LE(worst, 1e-5 * scale * std::sqrt(double(K)))
              << kernel_level_name(level) << " M=" << M << " N=" << N << " K=" << K << " acc=" << accumulate;
        }
      }
    }
  }
}

TEST_P(GemmPacked, Bf16WeightsMatchScalarOnTheRoundedMatrix) {
  const KernelLevel level = GetParam();
  for (std::size_t M : {1u, 4u, 6u}) {
    for (std::size_t N : {1u, 17u, 64u, 130u}) {
      const std::size_t K = 33;
      const auto x = random_vector(M * K, 9), bias = random_vector(N, 10);
      std::vector<float> b = random_vector(K * N, 11);
      const PackedMatrix p = pack_matrix(b.data(), K, N, /*bf16=*/true);
      for (float& v : b) v = bf16_to_f32(f32_to_bf16(v));  // what the packed matrix holds
      std::vector<float> y0(M * N), y1(M * N);
      gemm_small_scalar(M, N, K, x.data(), K, b.data(), N, bias.data(), y0.data(), N, false);
      gemm_packed_at(level, M, p, x.data(), K, bias.data(), y1.data(), N, false, 0, p.n_stripes());
      for (std::size_t i = 0; i < y0.size(); ++i) {
        ASSERT_NEAR(y0[i], y1[i], 1e-5f * (1.0f + std::fabs(y0[i]))) << kernel_level_name(level) << " M=" << M << " N=" << N;
      }
    }
  }
}

TEST(ThreadTeam, EveryMemberRunsEachJobOnce) {
  for (int n : {1, 2, 3}) {
    ThreadTeam team(n);
    std::vector<std::atomic<int>> hits(n);
    for (int job = 0; job < 1000; ++job) team.run([&](int i, int size) {
      ASSERT_EQ(size, n);
      hits[i]++;
    });
    for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1000);
  }
}

// 2x3 . 3x2 by hand, without a bias.
void expect_small_case(KernelLevel level) {
  const float x[] = {1, 2, 3, 4, 5, 6};
  const float b[] = {1, 0, 0, 1, 1, 1};
  float y[4];
  gemm_small_at(level, 2, 2, 3, x, 3, b, 2, nullptr, y, 2, false);
  EXPECT_EQ(y[0], 4);
  EXPECT_EQ(y[1], 5);
  EXPECT_EQ(y[2], 10);
  EXPECT_EQ(y[3], 11);
}

TEST(GemmSmallScalar, NullBiasAndExactSmallCase) { expect_small_case(KernelLevel::kScalar); }
TEST_P(GemmSmall, NullBiasAndExactSmallCase) { expect_small_case(GetParam()); }

// gemm_small's scalar form is the reference itself: only the SIMD levels are compared with it.
INSTANTIATE_TEST_SUITE_P(Simd, GemmSmall, ::testing::Values(KernelLevel::kAvx2, KernelLevel::kAvx512), level_name);
// The packed kernels have a scalar form of their own, compared too.
INSTANTIATE_TEST_SUITE_P(AllLevels, GemmPacked,
                         ::testing::Values(KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512), level_name);

}  // namespace
}  // namespace srnn
