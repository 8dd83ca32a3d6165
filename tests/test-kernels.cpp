// SIMD kernels against their scalar reference, over sizes around the vector widths.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "infer/kernels.h"
#include "infer/thread-team.h"
#include "infer/weights.h"

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
  for (std::size_t M : {1u, 2u, 4u, 5u, 6u}) {
    for (std::size_t N : {1u, 17u, 64u, 130u}) {
      const std::size_t K = 33;
      const auto x = random_vector(M * K, 9), bias = random_vector(N, 10);
      std::vector<float> b = random_vector(K * N, 11);
      const PackedMatrix p = pack_matrix(b.data(), K, N, WeightFormat::kBf16);
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

// What an int8 product must equal: quantise x's rows and W's columns as documented, multiply
// in double, scale back. Independent of the packed layout and of every kernel.
std::vector<double> int8_reference(std::size_t M, std::size_t N, std::size_t K, const std::vector<float>& x,
                                   const std::vector<float>& b, const std::vector<float>& bias,
                                   const std::vector<float>& y_in, bool accumulate) {
  std::vector<double> y(M * N);
  for (std::size_t n = 0; n < N; ++n) {
    float wmax = 0;
    for (std::size_t k = 0; k < K; ++k) wmax = std::max(wmax, std::fabs(b[k * N + n]));
    for (std::size_t m = 0; m < M; ++m) {
      float xmax = 0;
      for (std::size_t k = 0; k < K; ++k) xmax = std::max(xmax, std::fabs(x[m * K + k]));
      double sum = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double xq = xmax > 0 ? std::nearbyint(x[m * K + k] * (127.0f / xmax)) : 0;
        const double wq = wmax > 0 ? std::nearbyint(b[k * N + n] * (127.0f / wmax)) : 0;
        sum += xq * wq;
      }
      y[m * N + n] = sum * (xmax / 127.0f) * (wmax / 127.0f) + bias[n] + (accumulate ? y_in[m * N + n] : 0.0);
    }
  }
  return y;
}

using GemmInt8 = AtLevel;

TEST_P(GemmInt8, MatchesTheQuantisedProductAndTheScalarTwinExactly) {
  const KernelLevel level = GetParam();
  if (level == KernelLevel::kAvx512 && !int8_vnni_available()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  for (std::size_t M : {1u, 2u, 4u, 5u, 9u}) {
    for (std::size_t N : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 200u}) {
      for (std::size_t K : {1u, 3u, 4u, 5u, 31u, 32u, 33u, 64u, 65u, 300u}) {
        for (bool accumulate : {false, true}) {
          const auto x = random_vector(M * K, 12), b = random_vector(K * N, 13), bias = random_vector(N, 14);
          const PackedMatrix p = pack_matrix(b.data(), K, N, WeightFormat::kInt8);
          ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p.data8.data()) % 64, 0u);
          const std::vector<float> y_in = random_vector(M * N, 15);
          std::vector<float> y0 = y_in, y1 = y_in;
          gemm_packed_at(KernelLevel::kScalar, M, p, x.data(), K, bias.data(), y0.data(), N, accumulate, 0,
                         p.n_stripes());
          const std::size_t half = p.n_stripes() / 2;  // in two parts, as a thread team splits it
          gemm_packed_at(level, M, p, x.data(), K, bias.data(), y1.data(), N, accumulate, 0, half);
          gemm_packed_at(level, M, p, x.data(), K, bias.data(), y1.data(), N, accumulate, half, p.n_stripes());
          const std::vector<double> ref = int8_reference(M, N, K, x, b, bias, y_in, accumulate);
          for (std::size_t i = 0; i < y0.size(); ++i) {
            // The integer sums are exact at every level and share one epilogue.
            ASSERT_EQ(y0[i], y1[i]) << kernel_level_name(level) << " M=" << M << " N=" << N << " K=" << K
                                    << " acc=" << accumulate << " at " << i;
            ASSERT_NEAR(y0[i], ref[i], 1e-5 * (1.0 + std::fabs(ref[i]))) << " M=" << M << " N=" << N << " K=" << K;
          }
        }
      }
    }
  }
}

TEST_P(GemmInt8, WidestValuesNeitherSaturateNorOverflow) {
  // Every weight and activation at +-max quantises to +-127: AVX2's pairwise int16 sums are
  // then 2 * 127 * 127, the largest there can be, and K = 4096 takes the int32 sums to 66M.
  const KernelLevel level = GetParam();
  if (level == KernelLevel::kAvx512 && !int8_vnni_available()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  const std::size_t M = 3, N = 70, K = 4096;
  std::vector<float> x(M * K), b(K * N), bias(N, 0.0f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i % 3 == 0) ? -2.0f : 2.0f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = (i % 5 == 0) ? -0.5f : 0.5f;
  const PackedMatrix p = pack_matrix(b.data(), K, N, WeightFormat::kInt8);
  std::vector<float> y(M * N);
  gemm_packed_at(level, M, p, x.data(), K, bias.data(), y.data(), N, false, 0, p.n_stripes());
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      double exact = 0;
      for (std::size_t k = 0; k < K; ++k) exact += double(x[m * K + k]) * b[k * N + n];
      ASSERT_NEAR(y[m * N + n], exact, 1e-4 * std::fabs(exact) + 1e-3) << kernel_level_name(level) << " " << m << "," << n;
    }
  }
}

TEST_P(GemmInt8, QuantisedRowsEqualTheScalarOnesExactly) {
  const KernelLevel level = GetParam();
  std::vector<float> x = random_vector(9 * 1030, 30);
  for (std::size_t k = 0; k < 1030; ++k) x[1 * 1030 + k] = 0.0f;  // zeros
  x[2 * 1030 + 7] = std::numeric_limits<float>::infinity();
  x[3 * 1030 + 1029] = std::numeric_limits<float>::quiet_NaN();  // in the last, partial vector
  for (std::size_t k = 0; k < 1030; ++k) x[4 * 1030 + k] = (k % 2 ? 0.5f : -0.5f) * (1.0f + k / 1030.0f);  // ties
  x[5 * 1030 + 3] = 1e-30f;  // tiny scale
  for (std::size_t K : {1u, 15u, 16u, 17u, 33u, 1024u, 1030u}) {
    const std::size_t ldq = (K + 3) / 4 * 4;
    std::vector<std::int8_t> q0(9 * ldq, 99), q1(9 * ldq, 77);
    std::vector<float> s0(9), s1(9);
    quantize_rows_at(KernelLevel::kScalar, 9, K, x.data(), 1030, q0.data(), ldq, s0.data());
    quantize_rows_at(level, 9, K, x.data(), 1030, q1.data(), ldq, s1.data());
    ASSERT_EQ(q0, q1) << kernel_level_name(level) << " K=" << K;
    ASSERT_EQ(s0, s1) << kernel_level_name(level) << " K=" << K;
  }
  std::vector<std::int8_t> q(1032);
  float s = -1;
  quantize_rows_at(level, 1, 1030, x.data() + 3 * 1030, 1030, q.data(), 1032, &s);
  EXPECT_EQ(s, 0.0f);  // a NaN makes the row zeros
  EXPECT_EQ(std::count(q.begin(), q.end(), 0), 1032);
}

TEST(GemmInt8Scalar, ZeroRowsColumnsAndNonFiniteInputsGiveZerosNotNaN) {
  const std::size_t M = 3, N = 5, K = 6;
  std::vector<float> x(M * K, 0.5f), b(K * N, 0.25f), bias(N, 1.0f);
  for (std::size_t k = 0; k < K; ++k) x[0 * K + k] = 0.0f;  // a row of zeros
  x[2 * K + 1] = std::numeric_limits<float>::infinity();    // a row with an infinity
  for (std::size_t k = 0; k < K; ++k) b[k * N + 3] = 0.0f;  // a column of zeros
  const PackedMatrix p = pack_matrix(b.data(), K, N, WeightFormat::kInt8);
  std::vector<float> y(M * N);
  gemm_packed_at(KernelLevel::kScalar, M, p, x.data(), K, bias.data(), y.data(), N, false, 0, p.n_stripes());
  for (std::size_t n = 0; n < N; ++n) {
    EXPECT_EQ(y[0 * N + n], 1.0f);
    EXPECT_EQ(y[2 * N + n], 1.0f);
    EXPECT_NEAR(y[1 * N + n], n == 3 ? 1.0f : 1.0f + K * 0.5f * 0.25f, 1e-5f);
  }
}

TEST(WeightFormat, NamesRoundTripAndUnknownIsAUsageError) {
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBf16, WeightFormat::kInt8}) {
    EXPECT_EQ(parse_weight_format(weight_format_name(f)), f);
  }
  EXPECT_THROW(parse_weight_format("int4"), Error);
}

// A (K, N) matrix with about `sparsity` of its 16 x 4 tiles zeroed, and a few zeros inside
// the tiles kept.
std::vector<float> tile_pruned(std::size_t K, std::size_t N, double sparsity, std::uint32_t seed) {
  std::vector<float> b = random_vector(K * N, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t t = 0; t < (K + 3) / 4; ++t) {
    for (std::size_t g = 0; g < (N + 15) / 16; ++g) {
      if (u(rng) >= sparsity) continue;
      for (std::size_t k = 4 * t; k < std::min(K, 4 * t + 4); ++k) {
        for (std::size_t n = 16 * g; n < std::min(N, 16 * g + 16); ++n) b[k * N + n] = 0.0f;
      }
    }
  }
  for (std::size_t i = 0; i < b.size(); i += 7) b[i] = 0.0f;
  return b;
}

using GemmSparse = AtLevel;

TEST_P(GemmSparse, EveryFormatMatchesTheDenseProduct) {
  const KernelLevel level = GetParam();
  for (std::size_t M : {1u, 3u, 4u, 5u, 9u}) {
    for (std::size_t N : {1u, 15u, 16u, 17u, 64u, 65u, 200u}) {
      for (std::size_t K : {4u, 8u, 64u, 68u, 256u}) {
        for (bool accumulate : {false, true}) {
          const auto x = random_vector(M * K, 16), bias = random_vector(N, 17), y_in = random_vector(M * N, 18);
          const std::vector<float> b = tile_pruned(K, N, 0.8, static_cast<std::uint32_t>(K * 1000 + N));
          const auto check = [&](WeightFormat format, const std::vector<float>& expected, double tolerance) {
            const PackedMatrix p = pack_matrix(b.data(), K, N, format, Layout::kSparse);
            ASSERT_TRUE(p.sparse);
            std::vector<float> y = y_in;
            const std::size_t half = p.n_stripes() / 2;  // in two parts, as a thread team splits it
            gemm_packed_at(level, M, p, x.data(), K, bias.data(), y.data(), N, accumulate, 0, half);
            gemm_packed_at(level, M, p, x.data(), K, bias.data(), y.data(), N, accumulate, half, p.n_stripes());
            for (std::size_t i = 0; i < y.size(); ++i) {
              ASSERT_NEAR(y[i], expected[i], tolerance * (1.0 + std::fabs(expected[i])))
                  << weight_format_name(format) << " " << kernel_level_name(level) << " M=" << M << " N=" << N
                  << " K=" << K << " acc=" << accumulate << " at " << i;
            }
          };
          std::vector<float> dense = y_in;
          gemm_small_scalar(M, N, K, x.data(), K, b.data(), N, bias.data(), dense.data(), N, accumulate);
          check(WeightFormat::kF32, dense, 1e-5);
          std::vector<float> rounded = b, dense16 = y_in;
          for (float& v : rounded) v = bf16_to_f32(f32_to_bf16(v));
          gemm_small_scalar(M, N, K, x.data(), K, rounded.data(), N, bias.data(), dense16.data(), N, accumulate);
          check(WeightFormat::kBf16, dense16, 1e-5);
          // int8: the same integer sums as the dense int8 product, so the same floats.
          if (level == KernelLevel::kAvx512 && !int8_vnni_available()) continue;
          std::vector<float> dense8 = y_in;
          const PackedMatrix d8 = pack_matrix(b.data(), K, N, WeightFormat::kInt8, Layout::kDense);
          ASSERT_FALSE(d8.sparse);
          gemm_packed_at(KernelLevel::kScalar, M, d8, x.data(), K, bias.data(), dense8.data(), N, accumulate, 0,
                         d8.n_stripes());
          check(WeightFormat::kInt8, dense8, 0.0);
        }
      }
    }
  }
}

TEST(PackMatrix, GoesSparseFromAThirdOfZeroTilesAndOnlyWhenRowsComeInFours) {
  const std::size_t K = 64, N = 128;
  for (double sparsity : {0.0, 0.2, 0.5, 0.9}) {
    const std::vector<float> b = tile_pruned(K, N, sparsity, 21);
    const double zero = zero_tile_fraction(b.data(), K, N);
    EXPECT_NEAR(zero, sparsity, 0.12);
    const PackedMatrix p = pack_matrix(b.data(), K, N, WeightFormat::kBf16);
    EXPECT_EQ(p.sparse, zero >= kSparseFrom) << sparsity;
    if (p.sparse) {
      EXPECT_EQ(p.n_tiles(), static_cast<std::size_t>(std::lround((1 - zero) * (K / 4) * (N / 16))));
      // What it streams shrinks with the tiles it drops (indices included).
      EXPECT_LT(p.bytes(), (1 - zero + 0.05) * K * N * 2) << sparsity;
    }
  }
  std::vector<float> odd = tile_pruned(66, N, 0.9, 22);
  EXPECT_FALSE(pack_matrix(odd.data(), 66, N, WeightFormat::kF32, Layout::kSparse).sparse);
}

TEST(UnpackMatrix, GivesBackWhatWasPackedInEveryLayoutAndFormat) {
  for (std::size_t K : {1u, 4u, 7u, 64u, 68u}) {
    for (std::size_t N : {1u, 17u, 64u, 65u, 200u}) {
      const std::vector<float> b = tile_pruned(K, N, K % 4 == 0 ? 0.8 : 0.0, static_cast<std::uint32_t>(K * 1000 + N));
      std::vector<float> rounded = b;
      for (float& v : rounded) v = bf16_to_f32(f32_to_bf16(v));
      for (Layout layout : {Layout::kDense, Layout::kSparse}) {
        for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kBf16, WeightFormat::kInt8}) {
          const PackedMatrix p = pack_matrix(b.data(), K, N, format, layout);
          const std::vector<float> u = unpack_matrix(p);
          ASSERT_EQ(u.size(), K * N);
          const std::vector<float>& want = format == WeightFormat::kBf16 ? rounded : b;
          // int8 keeps each column to within half a step of its scale (max |column| / 127).
          for (std::size_t n = 0; n < N; ++n) {
            float col_max = 0;
            for (std::size_t k = 0; k < K; ++k) col_max = std::max(col_max, std::fabs(b[k * N + n]));
            const double tolerance = format == WeightFormat::kInt8 ? 0.51 * col_max / 127 + 1e-7 : 0.0;
            for (std::size_t k = 0; k < K; ++k) {
              ASSERT_NEAR(u[k * N + n], want[k * N + n], tolerance)
                  << weight_format_name(format) << (p.sparse ? " sparse" : " dense") << " K=" << K << " N=" << N
                  << " at (" << k << ", " << n << ")";
            }
          }
        }
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
INSTANTIATE_TEST_SUITE_P(AllLevels, GemmSparse,
                         ::testing::Values(KernelLevel::kScalar, KernelLevel::kAvx2, KernelLevel::kAvx512), level_name);
// int8 at the avx512 level is VNNI; its scalar twin is the reference.
INSTANTIATE_TEST_SUITE_P(Simd, GemmInt8, ::testing::Values(KernelLevel::kAvx2, KernelLevel::kAvx512), level_name);

}  // namespace
}  // namespace srnn
