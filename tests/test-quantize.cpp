// Quantisation: exhaustive checks over every level of every supported type.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "audio/quantize.h"
#include "core/error.h"

namespace srnn {
namespace {

struct Case {
  QType type;
  int q_levels;
};

std::vector<Case> all_cases() {
  return {{QType::kMuLaw, 256}, {QType::kALaw, 256},   {QType::kLinear, 2},    {QType::kLinear, 3},
          {QType::kLinear, 16}, {QType::kLinear, 255}, {QType::kLinear, 256},  {QType::kLinear, 1024},
          {QType::kLinear, 65536}};
}

std::string name_of(const Case& c) { return q_type_name(c.type) + "/" + std::to_string(c.q_levels); }

// The formula of docs/design.md, computed independently in long double.
int reference_level(QType type, int q, long double x) {
  x = std::max(-1.0L, std::min(1.0L, x));
  const long double a = std::fabs(x);
  long double y = a;
  if (type == QType::kMuLaw) y = std::log(1.0L + 255.0L * a) / std::log(256.0L);
  if (type == QType::kALaw) {
    const long double A = 87.6L;
    y = a < 1.0L / A ? A * a / (1.0L + std::log(A)) : (1.0L + std::log(A * a)) / (1.0L + std::log(A));
  }
  y = x < 0 ? -y : y;
  return static_cast<int>((y + 1.0L) / 2.0L * (q - 1) + 0.5L);
}

TEST(Quantize, EveryLevelRoundTripsAndIsMonotonic) {
  for (const Case& c : all_cases()) {
    const Quantizer q(c.type, c.q_levels);
    float previous = -std::numeric_limits<float>::infinity();
    for (int level = 0; level < c.q_levels; ++level) {
      const float x = q.dequantize(level);
      ASSERT_EQ(q.quantize(x), level) << name_of(c) << " level " << level << " x=" << x;
      ASSERT_GT(x, previous) << name_of(c) << " dequantize is not increasing at level " << level;
      ASSERT_GE(x, -1.0f);
      ASSERT_LE(x, 1.0f);
      previous = x;
    }
    EXPECT_EQ(q.quantize(-1.0f), 0) << name_of(c);
    EXPECT_EQ(q.quantize(1.0f), c.q_levels - 1) << name_of(c);
    EXPECT_EQ(q.q_zero(), c.q_levels / 2);
  }
}

TEST(Quantize, RoundTripErrorIsAtMostHalfAStep) {
  // In the companded domain the levels are 2 / (q - 1) apart, so rounding moves a sample by
  // at most 1 / (q - 1). Sweep densely, including points within 1e-7 of every bin edge.
  for (const Case& c : all_cases()) {
    const Quantizer q(c.type, c.q_levels);
    const double half_step = 1.0 / (c.q_levels - 1);
    double worst = 0.0;
    int previous_level = 0;
    auto check = [&](double x) {
      const int level = q.quantize(static_cast<float>(x));
      const double err = std::fabs(q.compress(static_cast<float>(x)) - q.compress(q.dequantize(level)));
      worst = std::max(worst, err);
      return level;
    };
    const int n = 200000;
    for (int i = 0; i <= n; ++i) {
      const double x = -1.0 + 2.0 * i / n;
      const int level = check(x);
      ASSERT_GE(level, previous_level) << name_of(c) << " quantize is not monotonic at x=" << x;
      previous_level = level;
    }
    for (int level = 0; level + 1 < c.q_levels; ++level) {
      const double edge = q.expand((2.0 * level + 1.0) / (c.q_levels - 1) - 1.0);
      check(edge - 1e-7);
      check(edge + 1e-7);
    }
    EXPECT_LE(worst, half_step * (1.0 + 1e-6) + 1e-7) << name_of(c);
  }
}

TEST(Quantize, MatchesTheDesignFormula) {
  for (const Case& c : all_cases()) {
    const Quantizer q(c.type, c.q_levels);
    int mismatches = 0;
    const int n = 100003;  // odd, so the sweep avoids exact bin edges
    for (int i = 0; i <= n; ++i) {
      const float x = static_cast<float>(-1.0 + 2.0 * i / n);
      if (q.quantize(x) != reference_level(c.type, c.q_levels, x)) ++mismatches;
    }
    EXPECT_EQ(mismatches, 0) << name_of(c);
  }
}

TEST(Quantize, KnownMuLawValues) {
  const Quantizer q(QType::kMuLaw, 256);
  EXPECT_EQ(q.quantize(0.0f), 128);
  EXPECT_EQ(q.quantize(1.0f), 255);
  EXPECT_EQ(q.quantize(-1.0f), 0);
  // y = ln(1 + 255 * 0.5) / ln(256) = 0.8757; (y + 1) / 2 * 255 + 0.5 = 239.15
  EXPECT_EQ(q.quantize(0.5f), 239);
  EXPECT_NEAR(q.dequantize(255), 1.0f, 1e-6f);
  EXPECT_NEAR(q.dequantize(0), -1.0f, 1e-6f);
}

// PRiSM's linear quantiser (samplernn/utils.py, linear_quantize and linear_dequantize),
// whose levels were computed with numpy 2.4 in float32, as PRiSM runs it: 0.5 goes to level
// 23 of 32, not 24, and 1.0 to q - 1.
TEST(Quantize, PrismLinearMatchesPrismsNumpyArithmetic) {
  const std::vector<float> x = {-1.0f, -0.99f, -0.5f, -1e-7f, 0.0f, 0.3f, 0.49999f, 0.5f, 0.77f, 0.96875f, 0.999f, 1.0f};
  const std::vector<std::pair<int, std::vector<int>>> expected = {
      {32, {0, 0, 8, 15, 16, 20, 23, 23, 28, 31, 31, 31}},
      {256, {0, 1, 64, 127, 128, 166, 191, 191, 226, 251, 255, 255}}};
  for (const auto& [q_levels, levels] : expected) {
    const Quantizer q(QType::kPrismLinear, q_levels);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(q.quantize(x[i]), levels[i]) << "q " << q_levels << " x " << x[i];
    for (int level = 0; level < q_levels; ++level) {
      ASSERT_EQ(q.dequantize(level), static_cast<float>(level) / (q_levels / 2.0f) - 1.0f) << level;
    }
    EXPECT_EQ(q.quantize(2.0f), q_levels - 1);
    EXPECT_EQ(q.quantize(-2.0f), 0);
    EXPECT_EQ(q.quantize(std::numeric_limits<float>::quiet_NaN()), q.q_zero());
  }
  EXPECT_EQ(parse_q_type("prism-linear"), QType::kPrismLinear);
  EXPECT_EQ(q_type_name(QType::kPrismLinear), "prism-linear");
  EXPECT_NO_THROW(check_q_levels(QType::kPrismLinear, 32));
}

TEST(Quantize, InputBeyondFullScaleIsClampedNeverWrapped) {
  for (const Case& c : all_cases()) {
    const Quantizer q(c.type, c.q_levels);
    for (float x : {1.0000001f, 1.5f, 2.0f, 1e30f, std::numeric_limits<float>::infinity()}) {
      EXPECT_EQ(q.quantize(x), c.q_levels - 1) << name_of(c) << " x=" << x;
      EXPECT_EQ(q.quantize(-x), 0) << name_of(c) << " x=" << -x;
    }
    EXPECT_EQ(q.quantize(std::numeric_limits<float>::quiet_NaN()), q.q_zero());
    EXPECT_EQ(q.dequantize(-5), q.dequantize(0));
    EXPECT_EQ(q.dequantize(c.q_levels + 7), q.dequantize(c.q_levels - 1));
  }
}

TEST(Quantize, CompandingCurvesInvertEachOther) {
  for (QType type : {QType::kMuLaw, QType::kALaw, QType::kLinear}) {
    const Quantizer q(type, 256);
    for (int i = -1000; i <= 1000; ++i) {
      const double x = i / 1000.0;
      EXPECT_NEAR(q.expand(q.compress(x)), x, 1e-12) << q_type_name(type);
    }
  }
  // a-law is continuous where its two pieces meet, at |x| = 1/A.
  const Quantizer alaw(QType::kALaw, 256);
  EXPECT_NEAR(alaw.compress(1.0 / 87.6 - 1e-12), alaw.compress(1.0 / 87.6 + 1e-12), 1e-9);
}

// The span overloads loop over the scalar ones; what they add is the size check, and that
// they write no further than the input.
TEST(Quantize, SpanVersionsCheckTheOutputSize) {
  const Quantizer q(QType::kMuLaw, 256);
  const std::vector<float> x = {-0.5f, 0.0f, 0.25f, 1.0f};
  std::vector<std::int32_t> short_levels(x.size() - 1);
  try {
    q.quantize(x, short_levels);
    FAIL() << "quantize wrote 4 levels into 3";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("output span too small"), std::string::npos) << e.what();
  }
  std::vector<std::int32_t> levels(x.size() + 2, -7);
  q.quantize(x, levels);
  EXPECT_EQ(levels, (std::vector<std::int32_t>{q.quantize(-0.5f), q.quantize(0.0f), q.quantize(0.25f), 255, -7, -7}));

  const std::vector<std::int32_t> in = {0, 128, 255};
  std::vector<float> short_x(in.size() - 1);
  try {
    q.dequantize(in, short_x);
    FAIL() << "dequantize wrote 3 samples into 2";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("output span too small"), std::string::npos) << e.what();
  }
  std::vector<float> back(in.size() + 1, 9.0f);
  q.dequantize(in, back);
  EXPECT_EQ(back, (std::vector<float>{-1.0f, q.dequantize(128), 1.0f, 9.0f}));
}

TEST(Quantize, InvalidConfigsNameTheRule) {
  try {
    Quantizer q(QType::kMuLaw, 512);
    FAIL() << "mu-law with 512 levels was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_NE(std::string(e.what()).find("q_levels"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos);
  }
  EXPECT_THROW(Quantizer(QType::kALaw, 128), Error);
  EXPECT_THROW(Quantizer(QType::kLinear, 1), Error);
  EXPECT_THROW(Quantizer(QType::kLinear, 65537), Error);
  EXPECT_NO_THROW(Quantizer(QType::kLinear, 65536));
}

TEST(Quantize, ParsesTypeNames) {
  EXPECT_EQ(parse_q_type("mu-law"), QType::kMuLaw);
  EXPECT_EQ(parse_q_type("mu_law"), QType::kMuLaw);
  EXPECT_EQ(parse_q_type("a-law"), QType::kALaw);
  EXPECT_EQ(parse_q_type("linear"), QType::kLinear);
  EXPECT_THROW(parse_q_type("ulaw8"), Error);
}

}  // namespace
}  // namespace srnn
