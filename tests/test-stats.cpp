// Audio statistics on synthetic signals with known values.
#include <gtest/gtest.h>

#include <cmath>

#include "audio/stats.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

TEST(Stats, ToneAtKnownLevelAndPitch) {
  const std::vector<float> x = test::sine(1000.0, 0.5, 16000, 32000);
  const AudioStats s = compute_stats(x, 16000);
  EXPECT_DOUBLE_EQ(s.duration_s, 2.0);
  EXPECT_NEAR(s.rms_dbfs, 20 * std::log10(0.5 / std::sqrt(2.0)), 0.01);  // -9.03
  EXPECT_NEAR(s.peak_dbfs, 20 * std::log10(0.5), 0.01);                  // -6.02
  EXPECT_NEAR(s.dc_offset, 0.0, 1e-4);
  EXPECT_EQ(s.clipped_fraction, 0.0);
  EXPECT_EQ(s.silent_fraction, 0.0);
  EXPECT_EQ(s.longest_silence_s, 0.0);
  EXPECT_NEAR(s.spectral_centroid_hz, 1000.0, 15.0);
  EXPECT_TRUE(stats_warnings(s).empty());
}

TEST(Stats, SilenceShareAndLongestStretch) {
  // 1 s tone, 1.5 s of silence, 0.5 s tone, 0.3 s of silence.
  std::vector<float> x = test::sine(440.0, 0.3, 16000, 16000);
  x.resize(x.size() + 24000, 0.0f);
  const std::vector<float> t = test::sine(440.0, 0.3, 16000, 8000);
  x.insert(x.end(), t.begin(), t.end());
  x.resize(x.size() + 4800, 0.0f);
  const AudioStats s = compute_stats(x, 16000);
  EXPECT_NEAR(s.silent_fraction, 1.8 / 3.3, 1e-9);
  EXPECT_NEAR(s.longest_silence_s, 1.5, 1e-9);
  const auto w = stats_warnings(s);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("mostly silence: 55%"), std::string::npos) << w[0];
}

TEST(Stats, ClippingDcAndDigitalSilence) {
  std::vector<float> square(16000);
  for (std::size_t i = 0; i < square.size(); ++i) square[i] = (i / 20) % 2 ? 1.0f : -1.0f;
  const AudioStats c = compute_stats(square, 16000);
  EXPECT_DOUBLE_EQ(c.clipped_fraction, 1.0);
  EXPECT_NEAR(c.rms_dbfs, 0.0, 1e-9);
  EXPECT_NE(stats_warnings(c).at(0).find("clipping: 100.0%"), std::string::npos);

  const std::vector<float> dc(8000, 0.25f);
  EXPECT_NEAR(compute_stats(dc, 16000).dc_offset, 0.25, 1e-9);

  const std::vector<float> zeros(16000, 0.0f);
  const AudioStats z = compute_stats(zeros, 16000);
  EXPECT_TRUE(std::isinf(z.rms_dbfs));
  EXPECT_EQ(z.silent_fraction, 1.0);
  EXPECT_EQ(z.spectral_centroid_hz, 0.0);
  EXPECT_TRUE(to_json(z)["rms_dbfs"].is_null());
  EXPECT_NE(summary_line(z).find("RMS -inf dBFS"), std::string::npos) << summary_line(z);
}

TEST(Stats, CentroidFollowsTheEnergy) {
  std::vector<float> low = test::sine(200.0, 0.5, 16000, 16000), high = test::sine(4000.0, 0.5, 16000, 16000), mix(16000);
  for (std::size_t i = 0; i < mix.size(); ++i) mix[i] = 0.5f * (low[i] + high[i]);
  EXPECT_NEAR(compute_stats(low, 16000).spectral_centroid_hz, 200.0, 15.0);
  EXPECT_NEAR(compute_stats(high, 16000).spectral_centroid_hz, 4000.0, 15.0);
  EXPECT_NEAR(compute_stats(mix, 16000).spectral_centroid_hz, 2100.0, 30.0);  // equal energy at both
}

}  // namespace
}  // namespace srnn
