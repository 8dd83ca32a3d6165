// Audio statistics on synthetic signals with known values, and the sustained-tone and
// collapse measures on tones, chords, noise of three colours, a drifting DC, a stuck level, a
// loop of a few samples, and real corpus chunks where the corpus is installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "audio/decode.h"
#include "audio/quantize.h"
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
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("mostly silence: 55%"), std::string::npos) << w[0];
  // 1.5 s of one level is what a collapsed model makes too.
  EXPECT_NE(w[1].find("collapsed: stuck at +0.000 for 1.5 s"), std::string::npos) << w[1];
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

constexpr int kRate = 16000;

// Notes of `partials` harmonics, each decaying, one after another (two at a time overlap).
std::vector<float> harmonic_notes(double seconds, int partials, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> pitch(110.0, 440.0);
  const std::size_t n = static_cast<std::size_t>(seconds * kRate), note = kRate;  // a second each
  std::vector<float> x(n, 0.0f);
  for (std::size_t start = 0; start < n; start += note / 2) {
    const double f0 = pitch(rng);
    for (std::size_t i = start; i < std::min(n, start + note); ++i) {
      const double t = static_cast<double>(i - start) / kRate, env = 0.25 * std::exp(-2.0 * t);
      for (int h = 1; h <= partials; ++h) x[i] += static_cast<float>(env / h * std::sin(2 * M_PI * f0 * h * t));
    }
  }
  return x;
}

// Pink (Paul Kellet's filter) and brown (leaky integration) noise from white noise.
std::vector<float> coloured_noise(std::size_t n, int colour, std::uint32_t seed) {
  const std::vector<float> w = test::noise(1.0, n, seed);
  std::vector<float> x(n);
  double b0 = 0, b1 = 0, b2 = 0, y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (colour == 0) {
      x[i] = 0.3f * w[i];
    } else if (colour == 1) {
      b0 = 0.99765 * b0 + w[i] * 0.0990460;
      b1 = 0.96300 * b1 + w[i] * 0.2965164;
      b2 = 0.57000 * b2 + w[i] * 1.0526913;
      x[i] = static_cast<float>(0.1 * (b0 + b1 + b2 + w[i] * 0.1848));
    } else {
      y = 0.995 * y + 0.02 * w[i];
      x[i] = static_cast<float>(y);
    }
  }
  return x;
}

TEST(SustainedTone, HeldNotesScoreNearOneWithTheirPartials) {
  const AudioStats one = compute_stats(test::sine(440.0, 0.3, kRate, 3 * kRate), kRate);
  EXPECT_GT(one.tone.tonal_fraction, 0.95);
  EXPECT_NEAR(one.tone.partials, 1.0, 0.1);
  EXPECT_FALSE(one.collapse.collapsed());
  const AudioStats notes = compute_stats(harmonic_notes(8.0, 5, 1), kRate);
  EXPECT_GT(notes.tone.tonal_fraction, 0.8);
  EXPECT_GT(notes.tone.partials, 5.0);  // two notes of five harmonics sound at once
  EXPECT_FALSE(notes.collapse.collapsed());
  EXPECT_NE(summary_line(notes).find("tonal 0."), std::string::npos) << summary_line(notes);
}

TEST(SustainedTone, NoiseOfAnyColourScoresNearZero) {
  for (int colour : {0, 1, 2}) {
    const AudioStats s = compute_stats(coloured_noise(8 * kRate, colour, 7 + colour), kRate);
    EXPECT_LT(s.tone.tonal_fraction, 0.02) << "colour " << colour;
    EXPECT_LT(s.tone.partials, 0.05) << "colour " << colour;
    EXPECT_FALSE(s.collapse.collapsed()) << "colour " << colour << ": drift " << s.collapse.dc_drift << " stuck "
                                         << s.collapse.stuck_s << " loop " << s.collapse.loop_s;
  }
  // A slow DC drift under a little noise: no tone, but a collapse.
  std::vector<float> drift = coloured_noise(6 * kRate, 0, 3);
  for (std::size_t i = 0; i < drift.size(); ++i) drift[i] = 0.1f * drift[i] + 0.2f * i / drift.size();
  const AudioStats d = compute_stats(drift, kRate);
  EXPECT_LT(d.tone.tonal_fraction, 0.02);
  EXPECT_TRUE(d.collapse.collapsed());
  EXPECT_NEAR(d.collapse.dc_drift, 0.2 * 5.5 / 6, 0.005);  // the last second's mean
  const auto w = stats_warnings(d);
  ASSERT_EQ(w.size(), 1u) << summary_line(d);
  EXPECT_NE(w[0].find("DC drifts to 0.18"), std::string::npos) << w[0];
}

TEST(Collapse, AStuckLevelWithALittleHissIsFoundWithItsLengthAndLevel) {
  // Two seconds of notes, then three around mu-law levels 207-211 (+0.13), as collapsed clips end.
  const Quantizer mu(QType::kMuLaw, 256);
  std::vector<float> x = harmonic_notes(2.0, 5, 2);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> level(207, 211);
  for (int i = 0; i < 3 * kRate; ++i) x.push_back(mu.dequantize(level(rng)));
  const AudioStats s = compute_stats(x, kRate);
  EXPECT_NEAR(s.collapse.stuck_s, 3.0, 0.1);
  EXPECT_NEAR(s.collapse.stuck_level, mu.dequantize(209), 0.005);
  EXPECT_EQ(s.collapse.loop_s, 0.0);
  EXPECT_TRUE(s.collapse.collapsed());
  const auto w = stats_warnings(s);
  ASSERT_FALSE(w.empty());
  EXPECT_NE(w[0].find("collapsed: stuck at +0.13"), std::string::npos) << w[0];
  EXPECT_TRUE(to_json(s)["collapsed"].get<bool>());
  // Half a second of silence is a held breath, not a collapse.
  std::vector<float> short_stuck = harmonic_notes(3.0, 5, 2);
  std::fill(short_stuck.begin() + kRate, short_stuck.begin() + kRate + kRate / 2, 0.0f);
  EXPECT_FALSE(compute_stats(short_stuck, kRate).collapse.collapsed());
}

TEST(Collapse, ALoopOfFourLevelsIsFoundAndQuietMusicIsNot) {
  // Levels 238, 238, 18, 18, ...: a 4 kHz square wave at +-0.5, after a second of notes.
  const Quantizer mu(QType::kMuLaw, 256);
  std::vector<float> x = harmonic_notes(1.0, 5, 3);
  for (int i = 0; i < 4 * kRate; ++i) x.push_back(mu.dequantize(i % 4 < 2 ? 238 : 18));
  const AudioStats s = compute_stats(x, kRate);
  EXPECT_EQ(s.collapse.loop_period, 4);
  EXPECT_NEAR(s.collapse.loop_s, 4.0, 0.1);
  EXPECT_EQ(s.collapse.stuck_s, 0.0);
  EXPECT_TRUE(s.collapse.collapsed());
  bool said = false;
  for (const auto& w : stats_warnings(s)) said |= w.find("collapsed: locked in a 4-sample loop for 4.0 s") != std::string::npos;
  EXPECT_TRUE(said) << summary_line(s);
  // Notes at -45 dBFS, through mu-law as a model makes them, are neither stuck nor a loop.
  std::vector<float> quiet = harmonic_notes(4.0, 5, 4);
  for (float& v : quiet) v = mu.dequantize(mu.quantize(v * 0.02f));
  const CollapseStats q = compute_stats(quiet, kRate).collapse;
  EXPECT_FALSE(q.collapsed()) << q.stuck_s << " " << q.loop_s;
}

// The corpus the main job trains on, where it is installed (scripts/install-deps.sh --corpus):
// real orchestral music holds partials and has not collapsed.
TEST(SustainedTone, RealCorpusTracksHoldPartials) {
  const std::filesystem::path dir = "/usr/share/games/wesnoth/1.16/data/core/music";
  if (!std::filesystem::exists(dir / "northerners.ogg")) GTEST_SKIP() << "the Wesnoth soundtrack is not installed";
  for (const char* track : {"northerners.ogg", "journeys_end.ogg"}) {
    DecodedAudio a = load_mono((dir / track).string(), kRate);
    a.samples.resize(std::min<std::size_t>(a.samples.size(), 30 * kRate));  // its first 30 s
    const AudioStats s = compute_stats(a.samples, kRate);
    EXPECT_GT(s.tone.tonal_fraction, 0.2) << track;
    EXPECT_GT(s.tone.partials, 2.0) << track;
    EXPECT_LT(s.collapse.dc_drift, 0.01) << track;
    EXPECT_EQ(s.collapse.loop_s, 0.0) << track;
  }
}

}  // namespace
}  // namespace srnn
