// Chunk boundaries, silence decisions and the one-file chunking pipeline, on synthetic audio.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <random>

#include "audio/chunk-file.h"
#include "audio/chunk.h"
#include "audio/decode.h"
#include "audio/loudness.h"
#include "core/error.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

ChunkOptions options(int chunk_ms, int overlap_ms, int min_len_ms = 0) {
  ChunkOptions o;
  o.chunk_length_ms = chunk_ms;
  o.overlap_ms = overlap_ms;
  o.silence_min_len_ms = min_len_ms;
  return o;
}

TEST(PlanChunks, StartEveryChunkLengthMinusOverlap) {
  const auto chunks = plan_chunks(16000 * 30, 16000, options(8000, 1000));
  ASSERT_EQ(chunks.size(), 4u);  // starts at 0, 7, 14, 21 s; the one at 28 s reaches the end
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].number, static_cast<int>(i) + 1);
    EXPECT_EQ(chunks[i].begin_ms, static_cast<long long>(i) * 7000);
    EXPECT_EQ(chunks[i].begin, i * 7 * 16000);
    EXPECT_EQ(chunks[i].end, chunks[i].begin + 128000);
  }
}

TEST(PlanChunks, TheChunkThatReachesTheEndIsNotWritten) {
  EXPECT_TRUE(plan_chunks(128000, 16000, options(8000, 0)).empty());  // ends exactly at the end
  EXPECT_EQ(plan_chunks(128001, 16000, options(8000, 0)).size(), 1u);
  EXPECT_EQ(plan_chunks(256000, 16000, options(8000, 0)).size(), 1u);
  EXPECT_EQ(plan_chunks(256001, 16000, options(8000, 0)).size(), 2u);
  EXPECT_TRUE(plan_chunks(0, 16000, options(8000, 0)).empty());
}

TEST(PlanChunks, RatesThatAreNotWholeSamplesPerMillisecond) {
  const auto chunks = plan_chunks(22050 * 10, 22050, options(1000, 300));
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].begin, 15435u);  // floor(700 ms * 22.05)
  EXPECT_EQ(chunks[1].end, 37485u);    // floor(1700 ms * 22.05)
}

TEST(PlanChunks, InvalidOptionsNameTheFlag) {
  auto expect_usage = [](const ChunkOptions& o, const char* flag) {
    try {
      validate(o);
      FAIL() << "accepted invalid " << flag;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  expect_usage(options(0, 0), "--chunk_length");
  expect_usage(options(8000, 8000), "--overlap");
  expect_usage(options(8000, -1), "--overlap");
  expect_usage(options(8000, 0, 9000), "--silence_min_len");
  expect_usage(options(8000, 0, -5), "--silence_min_len");
}

// A -20 dBFS tone with [gap_begin_ms, gap_begin_ms + gap_ms) set to zero.
std::vector<float> tone_with_gap(int seconds, long long gap_begin_ms, long long gap_ms, int rate_hz = 16000) {
  std::vector<float> x = test::sine(440.0, 0.1, rate_hz, static_cast<std::size_t>(seconds) * rate_hz);
  for (std::size_t i = ms_to_sample(gap_begin_ms, rate_hz); i < ms_to_sample(gap_begin_ms + gap_ms, rate_hz); ++i) {
    x[i] = 0.0f;
  }
  return x;
}

std::vector<bool> silent_flags(const std::vector<float>& x, int rate_hz, const ChunkOptions& o) {
  const SilenceDetector det(x, rate_hz);
  std::vector<bool> flags;
  for (const ChunkSpan& c : plan_chunks(x.size(), rate_hz, o)) flags.push_back(det.has_silent_window(c, o));
  return flags;
}

TEST(Silence, AGapOfHalfAChunkInsideItMakesItSilent) {
  const ChunkOptions o = options(8000, 0);  // windows of 4000 ms
  // Chunks: [0,8) [8,16) [16,24) s in a 30 s file.
  EXPECT_EQ(silent_flags(tone_with_gap(30, 9000, 4000), 16000, o), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(silent_flags(tone_with_gap(30, 9000, 3999), 16000, o), (std::vector<bool>{false, false, false}));
  EXPECT_EQ(silent_flags(tone_with_gap(30, 12000, 4000), 16000, o), (std::vector<bool>{false, true, false}));
  // 5 s of silence across the border at 8 s: 2.5 s in each chunk, neither is silent.
  EXPECT_EQ(silent_flags(tone_with_gap(30, 5500, 5000), 16000, o), (std::vector<bool>{false, false, false}));
  // With 4 s overlap the chunks are [0,8) [4,12) [8,16) [12,20) ...: only [8,16) holds all of
  // the gap [9,13); [4,12) and [12,20) hold 3 s and 1 s of it.
  EXPECT_EQ(silent_flags(tone_with_gap(30, 9000, 4000), 16000, options(8000, 4000)),
            (std::vector<bool>{false, false, true, false, false, false}));
  // An 8 s gap [8,16) gives [4,12) and [12,20) exactly 4 s of silence each: silent too.
  EXPECT_EQ(silent_flags(tone_with_gap(30, 8000, 8000), 16000, options(8000, 4000)),
            (std::vector<bool>{false, true, true, true, false, false}));
}

TEST(Silence, ThresholdIsInDbfsOfTheRms) {
  const ChunkOptions o = options(1000, 0);
  const std::size_t n = 16000 * 5;
  const std::vector<float> quiet(n, static_cast<float>(db_to_amplitude(-64.5)));
  const std::vector<float> louder(n, static_cast<float>(db_to_amplitude(-63.5)));
  // Chunks [0,1) .. [3,4) s; [4,5) reaches the end and is not planned.
  EXPECT_EQ(silent_flags(quiet, 16000, o), std::vector<bool>(4, true));
  EXPECT_EQ(silent_flags(louder, 16000, o), std::vector<bool>(4, false));
  ChunkOptions lower = o;
  lower.silence_threshold_db = -70.0;
  EXPECT_EQ(silent_flags(quiet, 16000, lower), std::vector<bool>(4, false));
}

// The definition, checked window by window without prefix sums.
bool naive_silent(const std::vector<float>& x, int rate_hz, const ChunkSpan& c, const ChunkOptions& o) {
  const double threshold = db_to_amplitude(o.silence_threshold_db);
  const long long len = o.effective_silence_min_len_ms();
  for (long long w = c.begin_ms; w + len <= c.begin_ms + o.chunk_length_ms; ++w) {
    const std::size_t b = ms_to_sample(w, rate_hz), e = ms_to_sample(w + len, rate_hz);
    double sum = 0;
    for (std::size_t i = b; i < e; ++i) sum += double(x[i]) * x[i];
    if (std::sqrt(sum / double(e - b)) <= threshold) return true;
  }
  return false;
}

TEST(Silence, PrefixSumsAgreeWithARescanOfEveryWindow) {
  std::mt19937 rng(42);
  // Both answers must occur, or agreement would not show that the fast path decides anything.
  int total_silent = 0, total = 0;
  for (int rate : {16000, 22050, 8000}) {
    for (int trial = 0; trial < 4; ++trial) {
      // Noise bursts at random levels around the threshold with random quiet gaps.
      std::vector<float> x = test::noise(0.05, static_cast<std::size_t>(rate) * 6, rng());
      std::uniform_int_distribution<int> pos(0, 5500), len(50, 900);
      std::uniform_real_distribution<double> level(-80.0, -55.0);
      for (int g = 0; g < 6; ++g) {
        const long long b = pos(rng), l = len(rng);
        const float a = static_cast<float>(db_to_amplitude(level(rng)) * std::sqrt(3.0));
        for (std::size_t i = ms_to_sample(b, rate); i < std::min(x.size(), ms_to_sample(b + l, rate)); ++i) {
          x[i] *= a / 0.05f;
        }
      }
      const ChunkOptions o = options(1000, 250, 300);
      const SilenceDetector det(x, rate);
      for (const ChunkSpan& c : plan_chunks(x.size(), rate, o)) {
        const bool fast = det.has_silent_window(c, o);
        ASSERT_EQ(fast, naive_silent(x, rate, c, o)) << "rate " << rate << " chunk " << c.number;
        total_silent += fast;
        ++total;
      }
    }
  }
  EXPECT_GT(total_silent, 0) << "of " << total << " chunks";
  EXPECT_LT(total_silent, total);
}

TEST(ChunkFile, WritesNumberedChunksAndSkipsSilentOnes) {
  test::TempDir dir;
  // 30 s of 44.1 kHz stereo, silent from 9 to 14 s: chunk 2 of [0,8) [7,15) [14,22) [21,29).
  const int in_rate = 44100;
  std::vector<float> mono = tone_with_gap(30, 8000, 6000, in_rate);
  std::vector<float> stereo(2 * mono.size());
  for (std::size_t i = 0; i < mono.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = mono[i];
  test::write_sndfile(dir / "album.flac", stereo, in_rate, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);

  ChunkJob job;
  job.output_dir = dir / "out";
  job.chunk.overlap_ms = 1000;
  fs::create_directories(job.output_dir);
  const ChunkFileResult r = chunk_file(dir / "album.flac", "album", job);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.n_chunks, 4);
  EXPECT_EQ(r.n_silent, 1);
  EXPECT_EQ(r.n_saved, 3);
  EXPECT_NEAR(r.audio_seconds, 30.0, 1e-3);
  EXPECT_EQ(test::list_names(job.output_dir),
            (std::vector<std::string>{"album_chunk_1.wav", "album_chunk_3.wav", "album_chunk_4.wav"}));

  const DecodedAudio whole = load_mono(dir / "album.flac", 16000);
  AudioInfo info;
  const std::vector<float> c3 = load_interleaved(job.output_dir / "album_chunk_3.wav", &info);
  EXPECT_EQ(info.rate_hz, 16000);
  EXPECT_EQ(info.n_channels, 1);
  ASSERT_EQ(c3.size(), 128000u);
  for (std::size_t i = 0; i < c3.size(); ++i) {
    ASSERT_NEAR(c3[i], whole.samples[14 * 16000 + i], 0.5 / 32768 + 1e-7) << i;
  }
}

TEST(ChunkFile, StemsOnlyGrowWhereTheyCollide) {
  const std::vector<fs::path> in = {"/m/a/song.ogg", "/m/b/song.ogg", "/m/b/other.mp3"};
  EXPECT_EQ(output_stems(in, "/m"), (std::vector<std::string>{"a_song", "b_song", "other"}));
}

}  // namespace
}  // namespace srnn
