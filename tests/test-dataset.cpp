// The training data's rules (train/dataset.h): every file in every epoch, the automatic
// batch, the validation split by time within each track, and augmentation.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "audio/quantize.h"
#include "audio/write.h"
#include "core/error.h"
#include "tests/test-util.h"
#include "train/dataset.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

void write_sine(const fs::path& path, double freq_hz, double seconds = 0.25, double amplitude = 0.3) {
  write_audio(path, test::sine(freq_hz, amplitude, 16000, static_cast<std::size_t>(seconds * 16000)), 16000);
}

DatasetOptions options_for(const fs::path& dir, int batch_size, double val_frac) {
  DatasetOptions o;
  o.data_dir = dir;
  o.batch_size = batch_size;
  o.val_frac = val_frac;
  o.rng_seed = 3;
  o.model.seq_len = 256;
  o.model.frame_sizes = {4, 16};
  return o;
}

std::multiset<std::string> names_in(const Dataset& data, const std::vector<std::vector<AudioFileEntry>>& batches) {
  std::multiset<std::string> out;
  for (const auto& b : batches) {
    for (const auto& f : b) out.insert(data.relative_name(f));
  }
  return out;
}

TEST(Dataset, EveryTrainingFileIsSeenInEveryEpoch) {
  test::TempDir dir;
  for (int i = 0; i < 10; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 200 + 10 * i);
  const Dataset data(options_for(dir.path(), 4, 0));
  ASSERT_EQ(data.train_files().size(), 10u);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    const auto batches = data.train_batches(epoch);
    ASSERT_EQ(batches.size(), 3u);  // 10 files: 4 + 4 + 2, completed with 2 seen twice
    for (const auto& b : batches) EXPECT_EQ(b.size(), 4u);
    const std::multiset<std::string> seen = names_in(data, batches);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 10u) << "a file was left out";
    EXPECT_EQ(seen.size(), 12u);
  }
  ASSERT_EQ(data.warnings().size(), 1u);
  EXPECT_NE(data.warnings()[0].find("seen twice"), std::string::npos) << data.warnings()[0];
}

TEST(Dataset, TheAutomaticBatchFitsASmallSetAndCapsALargeOne) {
  test::TempDir dir;
  for (int i = 0; i < 5; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 300 + i);
  const Dataset small(options_for(dir.path(), 0, 0));
  EXPECT_EQ(small.options().batch_size, 5);
  EXPECT_EQ(small.split().batch_size, 5);
  for (int i = 5; i < kSmallSetBatch + 7; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 300 + i);
  const Dataset large(options_for(dir.path(), 0, 0));
  EXPECT_EQ(large.options().batch_size, kSmallSetBatch);
}

TEST(Dataset, ASetSmallerThanOneBatchIsRefusedWithTheBatchThatFits) {
  test::TempDir dir;
  for (int i = 0; i < 3; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 300 + i);
  try {
    const Dataset data(options_for(dir.path(), 8, 0));
    FAIL() << "a set of 3 files took a batch of 8";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("fewer than one batch of 8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--batch_size 3"), std::string::npos) << e.what();
  }
}

TEST(Dataset, TheTimeSplitHoldsOutTheLastChunksOfEachTrack) {
  test::TempDir dir;
  // Chunk numbers past 9 sort after 9 by number, not by name.
  for (int i = 0; i < 12; ++i) write_sine(dir / ("alpha_chunk_" + std::to_string(i) + ".wav"), 200 + i);
  for (int i = 0; i < 4; ++i) write_sine(dir / ("beta_chunk_" + std::to_string(i) + ".wav"), 400 + i);
  write_sine(dir / "gamma_chunk_0.wav", 600);  // one chunk: it trains
  write_sine(dir / "loose.wav", 700);          // not a chunk: a track of its own
  DatasetOptions o = options_for(dir.path(), 4, 0.1);
  o.val_split = "time";
  const Dataset data(o);
  std::set<std::string> val;
  for (const auto& f : data.val_files()) val.insert(data.relative_name(f));
  EXPECT_EQ(val, (std::set<std::string>{"alpha_chunk_11.wav", "beta_chunk_3.wav"}));
  EXPECT_EQ(data.train_files().size(), 16u);
  // The validation batches may be partial: 2 files in one batch of 4.
  const auto batches = data.val_batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].size(), 2u);
  EXPECT_EQ(data.val_batches(4).size(), 0u);  // 4 processes cannot share 2 files evenly

  o.val_frac = 0.25;
  const Dataset quarter(o);
  val.clear();
  for (const auto& f : quarter.val_files()) val.insert(quarter.relative_name(f));
  EXPECT_EQ(val, (std::set<std::string>{"alpha_chunk_9.wav", "alpha_chunk_10.wav", "alpha_chunk_11.wav",
                                        "beta_chunk_3.wav"}));
}

// Zero crossings per second of a mono signal, for a sine's frequency.
double crossing_rate(const std::vector<std::int32_t>& levels, std::size_t from, std::size_t n, int q_zero) {
  int crossings = 0;
  for (std::size_t i = from + 1; i < from + n; ++i) {
    if ((levels[i - 1] < q_zero) != (levels[i] < q_zero)) ++crossings;
  }
  return crossings * 16000.0 / 2.0 / static_cast<double>(n);
}

TEST(Dataset, AugmentationIsDrawnPerUseAndShiftsPitchWithinItsRange) {
  test::TempDir dir;
  for (int i = 0; i < 4; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 500, 1.0);
  DatasetOptions o = options_for(dir.path(), 4, 0);
  const Dataset plain(o);
  o.augment = parse_augment("pitch");
  const Dataset shifted(o);
  const auto plain_batches = plain.train_batches(1), shifted_batches = shifted.train_batches(1);
  for (const auto& f : plain_batches[0]) EXPECT_EQ(f.augment_seed, 0u);
  const Batch p = plain.load(plain_batches[0]), s = shifted.load(shifted_batches[0]);
  // The pitch shift shortens a file by up to 2^(2/12): the windows are counted on that.
  EXPECT_EQ(p.n_windows, 62);
  EXPECT_EQ(s.n_windows, static_cast<int>((std::floor(16000 * std::exp2(-2.0 / 12)) - 64) / 256));
  const int q_zero = Quantizer(o.model.q_type, o.model.q_levels).q_zero();
  std::set<long> freqs;
  for (int r = 0; r < 4; ++r) {
    const std::size_t from = r * s.row_len() + s.lookback + 1000, n = 8000;
    const double f = crossing_rate(s.levels, from, n, q_zero);
    EXPECT_GE(f, 500 * std::exp2(-2.0 / 12) - 3) << "row " << r;
    EXPECT_LE(f, 500 * std::exp2(2.0 / 12) + 3) << "row " << r;
    freqs.insert(std::lround(f));
    EXPECT_NEAR(crossing_rate(p.levels, r * p.row_len() + p.lookback + 1000, n, q_zero), 500, 3);
  }
  EXPECT_GT(freqs.size(), 1u) << "every row got the same shift";
  // The same epoch draws the same shifts; another epoch draws others.
  EXPECT_EQ(shifted.load(shifted.train_batches(1)[0]).levels, s.levels);
  EXPECT_NE(shifted.load(shifted.train_batches(2)[0]).levels, s.levels);
}

TEST(Dataset, PolarityAndGainKeepTheSignalWithinFullScale) {
  test::TempDir dir;
  for (int i = 0; i < 8; ++i) write_sine(dir / ("f" + std::to_string(i) + ".wav"), 440, 0.25, 0.9);
  DatasetOptions o = options_for(dir.path(), 8, 0);
  o.augment = parse_augment("polarity,gain");
  EXPECT_EQ(describe(o.augment), "polarity inversion, gain within +-6 dB");
  const Dataset data(o);
  const Batch b = data.load(data.train_batches(1)[0]);
  const Quantizer quantizer(o.model.q_type, o.model.q_levels);
  int inverted = 0;
  for (int r = 0; r < 8; ++r) {
    const std::int32_t* row = b.levels.data() + r * b.row_len() + b.lookback;
    // The sine starts rising: an inverted copy starts falling.
    if (quantizer.dequantize(row[10]) < 0) ++inverted;
    float peak = 0;
    for (int i = 0; i < b.n_windows * b.seq_len; ++i) peak = std::max(peak, std::fabs(quantizer.dequantize(row[i])));
    EXPECT_LE(peak, 1.0f);
    EXPECT_GT(peak, 0.4f) << "row " << r << ": more than -6 dB";
  }
  EXPECT_GT(inverted, 0);
  EXPECT_LT(inverted, 8);
  EXPECT_THROW(parse_augment("polarity,reverb"), Error);
  EXPECT_FALSE(parse_augment("none").any());
}

}  // namespace
}  // namespace srnn
