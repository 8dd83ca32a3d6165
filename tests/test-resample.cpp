// Resampling through libsoxr: level, pitch, alias rejection and block-size independence.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>

#include "audio/decode.h"
#include "audio/loudness.h"
#include "audio/resample.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

// Frequency from the number of rising zero crossings over a steady stretch.
double zero_crossing_frequency(const std::vector<float>& x, int rate_hz) {
  std::size_t first = 0, last = 0;
  int n = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      // Linear interpolation of the crossing inside the sample interval.
      if (n == 0) first = i;
      last = i;
      ++n;
    }
  }
  if (n < 2) return 0;
  auto crossing = [&](std::size_t i) { return (i - 1) + (-x[i - 1]) / (x[i] - x[i - 1]); };
  return (n - 1) * static_cast<double>(rate_hz) / (crossing(last) - crossing(first));
}

std::vector<float> middle(const std::vector<float>& x, double skip_fraction) {
  const std::size_t skip = static_cast<std::size_t>(x.size() * skip_fraction);
  return std::vector<float>(x.begin() + skip, x.end() - skip);
}

TEST(Resample, ToneAt44kStereoBecomes16kMonoWithFrequencyAndLevelKept) {
  test::TempDir dir;
  const int in_rate = 44100, n = in_rate * 3;
  const std::vector<float> tone = test::sine(1000.0, 0.5, in_rate, n);
  std::vector<float> stereo(2 * n);
  for (int i = 0; i < n; ++i) stereo[2 * i] = stereo[2 * i + 1] = tone[i];
  test::write_sndfile(dir / "tone.wav", stereo, in_rate, 2, SF_FORMAT_WAV | SF_FORMAT_PCM_16);

  const DecodedAudio a = load_mono(dir / "tone.wav", 16000);
  EXPECT_EQ(a.rate_hz, 16000);
  EXPECT_EQ(a.source_rate_hz, 44100);
  EXPECT_EQ(a.source_channels, 2);
  EXPECT_NEAR(static_cast<double>(a.samples.size()), 48000.0, 2.0);

  const std::vector<float> steady = middle(a.samples, 0.05);
  EXPECT_NEAR(rms_dbfs(steady), rms_dbfs(middle(tone, 0.05)), 0.1);
  EXPECT_NEAR(zero_crossing_frequency(steady, 16000), 1000.0, 0.1);
}

TEST(Resample, RemovesFrequenciesAboveTheNewNyquist) {
  // 10 kHz cannot exist at 16 kHz; it must be filtered, not folded to 6 kHz.
  const std::vector<float> high = test::sine(10000.0, 0.5, 44100, 44100);
  const std::vector<float> y = resample(high, 44100, 16000);
  // An empty or all-zero output would pass the level check below.
  ASSERT_NEAR(static_cast<double>(y.size()), 16000.0, 2.0);
  EXPECT_LT(rms_dbfs(middle(y, 0.05)), rms_dbfs(high) - 60.0);
  // A 5 kHz tone in the same signal is inside the pass band (91% of 8 kHz) and keeps its level.
  const std::vector<float> pass = test::sine(5000.0, 0.25, 44100, 44100);
  std::vector<float> mix(high.size());
  for (std::size_t i = 0; i < mix.size(); ++i) mix[i] = high[i] + pass[i];
  const std::vector<float> z = resample(mix, 44100, 16000);
  ASSERT_NEAR(static_cast<double>(z.size()), 16000.0, 2.0);
  EXPECT_NEAR(rms_dbfs(middle(z, 0.05)), rms_dbfs(middle(pass, 0.05)), 0.1);
  EXPECT_NEAR(zero_crossing_frequency(middle(z, 0.05), 16000), 5000.0, 0.1);
}

TEST(Resample, BlockSizeDoesNotChangeTheOutput) {
  const std::vector<float> x = test::noise(0.5, 30011, 7);
  const std::vector<float> whole = resample(x, 44100, 16000);
  for (std::size_t block : {1u, 7u, 1000u, 4097u}) {
    Resampler r(44100, 16000);
    std::vector<float> out;
    for (std::size_t i = 0; i < x.size(); i += block) {
      r.process(Span<const float>(x.data() + i, std::min(block, x.size() - i)), out);
    }
    r.flush(out);
    ASSERT_EQ(out.size(), whole.size()) << "block " << block;
    float worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(out[i] - whole[i]));
    EXPECT_LE(worst, 1e-6f) << "block " << block;
  }
}

TEST(Resample, EqualRatesCopy) {
  const std::vector<float> x = test::noise(0.5, 1000);
  EXPECT_EQ(resample(x, 16000, 16000), x);
}

TEST(Resample, UpsamplingKeepsTheTone) {
  const std::vector<float> x = test::sine(440.0, 0.25, 16000, 16000);
  const std::vector<float> y = resample(x, 16000, 48000);
  EXPECT_NEAR(static_cast<double>(y.size()), 48000.0, 2.0);
  EXPECT_NEAR(rms_dbfs(middle(y, 0.05)), rms_dbfs(middle(x, 0.05)), 0.1);
  EXPECT_NEAR(zero_crossing_frequency(middle(y, 0.05), 48000), 440.0, 0.1);
}

}  // namespace
}  // namespace srnn
