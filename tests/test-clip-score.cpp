// The clip score (audio/clip-score.h): failures score 0 and are named; a clip within the
// training data's ranges scores 1; the score falls as a clip moves away from them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "audio/clip-score.h"

namespace srnn {
namespace {

StatsDistribution corpus() {
  StatsDistribution d;
  d.n_files = 32;
  d.tonal = {0.4, 0.7, 0.9};
  d.partials = {4, 10, 18};
  d.centroid_hz = {250, 400, 700};
  d.rms_dbfs = {-30, -22, -16};
  d.abs_dc = {0.0001, 0.001, 0.004};
  return d;
}

AudioStats musical_clip() {
  AudioStats s;
  s.rate_hz = 16000;
  s.duration_s = 4;
  s.rms_dbfs = -21;
  s.dc_offset = 0.001;
  s.spectral_centroid_hz = 420;
  s.tone.tonal_fraction = 0.72;
  s.tone.partials = 9;
  return s;
}

TEST(ClipScore, AClipWithinTheCorpusRangesScoresOneAndPasses) {
  const ClipVerdict v = score_clip(musical_clip(), corpus());
  EXPECT_DOUBLE_EQ(v.score, 1.0);
  EXPECT_TRUE(v.passes);
  EXPECT_TRUE(v.failures.empty());
  // More tonal than the corpus's 90th percentile is not held against it.
  AudioStats s = musical_clip();
  s.tone.tonal_fraction = 0.99;
  s.tone.partials = 40;
  EXPECT_DOUBLE_EQ(score_clip(s, corpus()).score, 1.0);
}

TEST(ClipScore, EachFailureScoresZeroAndIsNamed) {
  struct Case {
    const char* name;
    void (*spoil)(AudioStats&);
  };
  const Case cases[] = {
      {"collapsed", [](AudioStats& s) { s.collapse.stuck_s = 2.0; }},
      {"|DC| 0.021", [](AudioStats& s) { s.dc_offset = -0.021; }},
      {"silence 40%", [](AudioStats& s) { s.silent_fraction = 0.4; }},
      {"clipping 2%", [](AudioStats& s) { s.clipped_fraction = 0.02; }},
  };
  for (const Case& c : cases) {
    AudioStats s = musical_clip();
    c.spoil(s);
    const ClipVerdict v = score_clip(s, corpus());
    EXPECT_EQ(v.score, 0.0) << c.name;
    EXPECT_FALSE(v.passes) << c.name;
    ASSERT_EQ(v.failures.size(), 1u) << c.name;
    EXPECT_EQ(v.failures[0], c.name);
  }
  // Just inside every limit: no failure.
  AudioStats s = musical_clip();
  s.dc_offset = 0.0099;
  s.silent_fraction = 0.25;
  s.clipped_fraction = 0.01;
  EXPECT_TRUE(score_clip(s, corpus()).failures.empty());
}

TEST(ClipScore, RumbleAndNoiseScoreLowAndFail) {
  // White noise: tonal 0.02 against a corpus 10th percentile of 0.4, no partials, bright.
  AudioStats noise = musical_clip();
  noise.tone.tonal_fraction = 0.02;
  noise.tone.partials = 0;
  noise.spectral_centroid_hz = 3000;
  const ClipVerdict n = score_clip(noise, corpus());
  EXPECT_NEAR(n.score, 0.13, 0.01);
  EXPECT_LT(n.score, 0.5);
  EXPECT_FALSE(n.passes);
  EXPECT_TRUE(n.failures.empty());  // not broken: just not the music
  // The rumble of an untuned model.
  AudioStats rumble = musical_clip();
  rumble.tone.tonal_fraction = 0.13;
  rumble.tone.partials = 0.2;
  rumble.spectral_centroid_hz = 124;
  const ClipVerdict r = score_clip(rumble, corpus());
  EXPECT_NEAR(r.score, 0.32, 0.01);
  EXPECT_FALSE(r.passes);
  // The weights are the exponents of a geometric mean: tonal alone at 0 (d = 1.6) gives its
  // term to the power 0.35.
  AudioStats untonal = musical_clip();
  untonal.tone.tonal_fraction = 0;
  EXPECT_NEAR(score_clip(untonal, corpus()).score, std::pow(std::exp(-0.5 * 1.6 * 1.6), 0.35), 1e-9);
  // Near the range, as the fine-tuned clips come: lenient, but it does not pass.
  AudioStats near = musical_clip();
  near.tone.tonal_fraction = 0.3;
  near.tone.partials = 3;
  EXPECT_NEAR(score_clip(near, corpus()).score, 0.95, 0.01);
  EXPECT_FALSE(score_clip(near, corpus()).passes);
}

TEST(ClipScore, ANarrowCorpusRangeIsNoCliff) {
  // A corpus whose clips all hold the same tone: the width floors keep the fall-off gentle.
  StatsDistribution narrow = corpus();
  narrow.tonal = {0.8, 0.8, 0.8};
  AudioStats s = musical_clip();
  s.tone.tonal_fraction = 0.75;  // d = 0.05 / 0.1
  EXPECT_NEAR(score_clip(s, narrow).score, std::pow(std::exp(-0.125), 0.35), 1e-9);
}

TEST(ClipScore, TheScoreFallsMonotonicallyAwayFromTheRange) {
  double last = 2;
  for (double tonal = 0.5; tonal >= 0; tonal -= 0.05) {
    AudioStats s = musical_clip();
    s.tone.tonal_fraction = tonal;
    const double score = score_clip(s, corpus()).score;
    EXPECT_LE(score, last) << "tonal " << tonal;
    last = score;
  }
  last = 2;
  for (double hz = 700; hz <= 8000; hz *= 1.3) {
    AudioStats s = musical_clip();
    s.spectral_centroid_hz = hz;
    const double score = score_clip(s, corpus()).score;
    EXPECT_LE(score, last) << hz << " Hz";
    last = score;
  }
  last = 2;
  for (double partials = 4; partials >= 0; partials -= 0.5) {
    AudioStats s = musical_clip();
    s.tone.partials = partials;
    const double score = score_clip(s, corpus()).score;
    EXPECT_LE(score, last) << partials << " partials";
    last = score;
  }
  last = 2;
  for (double db = -16; db <= 0; db += 2) {
    AudioStats s = musical_clip();
    s.rms_dbfs = db;
    const double score = score_clip(s, corpus()).score;
    EXPECT_LE(score, last) << db << " dBFS";
    last = score;
  }
  EXPECT_LT(last, 0.9);
  AudioStats silent = musical_clip();
  silent.rms_dbfs = -std::numeric_limits<double>::infinity();
  EXPECT_LT(score_clip(silent, corpus()).score, 1e-6);  // loudness cannot be made up for
}

TEST(ClipScore, AClipRecordHoldsItsVerdictAndFigures) {
  AudioStats s = musical_clip();
  s.dc_offset = 0.02;
  const nlohmann::json j = clip_record("a.wav", s, score_clip(s, corpus()));
  EXPECT_EQ(j["file"], "a.wav");
  EXPECT_EQ(j["score"], 0.0);
  EXPECT_EQ(j["passes"], false);
  EXPECT_EQ(j["failures"], nlohmann::json::array({"|DC| 0.020"}));
  EXPECT_EQ(j["tonal_fraction"], 0.72);
  EXPECT_EQ(j["partials"], 9.0);
  EXPECT_EQ(j["dc_offset"], 0.02);
  EXPECT_EQ(j["centroid_hz"], 420.0);
  EXPECT_EQ(j["rms_dbfs"], -21.0);
  EXPECT_TRUE(j.contains("silent_fraction"));
  s.rms_dbfs = -std::numeric_limits<double>::infinity();
  EXPECT_TRUE(clip_record("b.wav", s, ClipVerdict{}).at("rms_dbfs").is_null());
}

TEST(ClipScore, WithoutCorpusFiguresOnlyFailuresCount) {
  AudioStats s = musical_clip();
  s.tone.tonal_fraction = 0;
  EXPECT_EQ(score_clip(s, StatsDistribution{}).score, 1.0);
  EXPECT_DOUBLE_EQ(checkpoint_score({ClipVerdict{1.0, true, {}}, ClipVerdict{0.0, false, {"collapsed"}}}), 0.5);
  EXPECT_EQ(checkpoint_score({}), 0.0);
}

}  // namespace
}  // namespace srnn
