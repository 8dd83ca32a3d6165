// The copy measure (audio/copying.h) on synthetic orchestral-like tracks: a clip cut from a
// track copies, a clip of the same kind of music with other notes does not, half of each is
// half, the FFT correlation equals a direct loop in double, silence counts as not copying,
// and an empty or oversized corpus is refused. Every signal is made here; files are temp WAVs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "audio/copying.h"
#include "audio/write.h"
#include "core/error.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 16000;

// Orchestral-like material: three voices of harmonic notes (six partials at 1/h, random
// phases, a random detune of up to 30 cents and a 5 Hz vibrato), notes of 0.25-1 s with an
// attack, a decay and a release, over quiet low-passed noise. Seeds give different music.
std::vector<float> orchestra(double seconds, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::size_t n = static_cast<std::size_t>(seconds * kRate);
  std::vector<double> x(n, 0.0);
  for (int voice = 0; voice < 3; ++voice) {
    std::size_t start = 0;
    while (start < n) {
      const std::size_t len = static_cast<std::size_t>((0.25 + 0.75 * unit(rng)) * kRate);
      const int midi = 43 + 7 * voice + static_cast<int>(unit(rng) * 18);
      const double f0 = 440.0 * std::pow(2.0, (midi - 69 + 0.6 * (unit(rng) - 0.5)) / 12.0), amp = 0.05 + 0.07 * unit(rng);
      double phase[7];
      for (double& p : phase) p = 2 * M_PI * unit(rng);
      double cycles = 0;  // of the fundamental, vibrato included
      for (std::size_t i = start; i < std::min(n, start + len); ++i) {
        const double t = static_cast<double>(i - start) / kRate, left = static_cast<double>(start + len - i) / kRate;
        const double env = amp * std::min({1.0, t / 0.02, left / 0.05}) * std::exp(-1.5 * t);
        cycles += f0 * (1 + 0.003 * std::sin(2 * M_PI * 5 * t)) / kRate;
        for (int h = 1; h <= 6; ++h) x[i] += env / h * std::sin(2 * M_PI * h * cycles + phase[h]);
      }
      start += len;
    }
  }
  const std::vector<float> w = test::noise(1.0, n, seed + 1000);
  std::vector<float> out(n);
  double lp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    lp = 0.9 * lp + 0.1 * w[i];
    out[i] = static_cast<float>(x[i] + 0.02 * lp);
  }
  return out;
}

double rms(const std::vector<float>& x) {
  double e = 0;
  for (float v : x) e += double(v) * v;
  return std::sqrt(e / std::max<std::size_t>(x.size(), 1));
}

// x[from, from + n) times gain, with white noise at `noise_db` relative to its RMS.
std::vector<float> cut(const std::vector<float>& x, std::size_t from, std::size_t n, double gain, double noise_db,
                       std::uint32_t seed) {
  std::vector<float> y(x.begin() + from, x.begin() + from + n);
  for (float& v : y) v *= static_cast<float>(gain);
  const double level = rms(y) * std::pow(10.0, noise_db / 20) * std::sqrt(3.0);  // uniform noise: RMS = a / sqrt(3)
  const std::vector<float> w = test::noise(level, n, seed);
  for (std::size_t i = 0; i < n; ++i) y[i] += w[i];
  return y;
}

void append(std::vector<float>& x, const std::vector<float>& y) { x.insert(x.end(), y.begin(), y.end()); }

// Two tracks of 12 s, written as 16-bit WAVs; the detector reads them from the folder.
struct Corpus {
  test::TempDir dir;
  std::vector<float> track1 = orchestra(12.0, 1), track2 = orchestra(12.0, 2);
  Corpus() {
    write_audio(dir / "track1.wav", track1, kRate);
    write_audio(dir / "track2.wav", track2, kRate);
  }
};

TEST(Copying, AClipCutFromATrackCopiesIt) {
  const Corpus corpus;
  const CopyDetector detector(copy_corpus_files({corpus.dir.path().string()}));
  EXPECT_EQ(detector.n_files(), 2);
  EXPECT_NEAR(detector.corpus_seconds(), 24.0, 0.01);
  // 4 s from 5 s + 2 samples into track 2 (half a sample at 4 kHz), at -3 dB, with noise at -40 dB.
  const std::size_t from = 5 * kRate + 2;
  const CopyReport r = detector.measure(cut(corpus.track2, from, 4 * kRate, 0.7, -40.0, 7), kRate);
  EXPECT_EQ(r.n_segments, 8);
  EXPECT_EQ(r.n_silent, 0);
  EXPECT_GE(r.copy_fraction, 0.9) << copy_line(r);
  EXPECT_GT(r.median_match, 0.95) << copy_line(r);
  EXPECT_EQ(fs::path(r.best_file).filename(), "track2.wav") << copy_line(r);
  // The best segment's place in the track, less its place in the clip: where the copy began.
  EXPECT_NEAR(r.best_file_time_s - r.best_clip_time_s, static_cast<double>(from) / kRate, 0.1) << copy_line(r);
  EXPECT_NEAR(r.longest_copy_s, 4.0, 0.51) << copy_line(r);
  EXPECT_NE(copy_line(r).find("in track2.wav at"), std::string::npos) << copy_line(r);
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["segments"], 8);
  EXPECT_EQ(fs::path(j["best_file"].get<std::string>()).filename(), "track2.wav");
}

TEST(Copying, MusicOfTheSameKindAndNoiseDoNotCopy) {
  const Corpus corpus;
  const CopyDetector detector({corpus.track1, corpus.track2}, kRate, {"track1", "track2"});
  const CopyReport music = detector.measure(orchestra(4.0, 3), kRate);
  EXPECT_EQ(music.n_segments, 8);
  EXPECT_LE(music.copy_fraction, 0.1) << copy_line(music);
  EXPECT_LT(music.median_match, 0.6) << copy_line(music);
  EXPECT_GT(music.median_match, 0.0) << copy_line(music);  // threshold 0 would call it all copies
  const CopyReport noise = detector.measure(test::noise(0.3, 4 * kRate, 9), kRate);
  EXPECT_LE(noise.copy_fraction, 0.1) << copy_line(noise);
  EXPECT_LT(noise.best_match, 0.3) << copy_line(noise);
  std::printf("other music: %s\nwhite noise: %s\n", copy_line(music).c_str(), copy_line(noise).c_str());
}

TEST(Copying, TwoSecondsCopiedAndTwoNewCopyHalf) {
  const Corpus corpus;
  const CopyDetector detector({corpus.track1, corpus.track2}, kRate, {"track1", "track2"});
  std::vector<float> clip = cut(corpus.track1, 3 * kRate + 1, 2 * kRate, 1.0, -40.0, 11);
  append(clip, orchestra(2.0, 4));
  const CopyReport r = detector.measure(clip, kRate);
  EXPECT_GE(r.copy_fraction, 0.4) << copy_line(r);
  EXPECT_LE(r.copy_fraction, 0.6) << copy_line(r);
  EXPECT_NEAR(r.longest_copy_s, 2.0, 0.5) << copy_line(r);
  EXPECT_EQ(r.best_file, "track1");
  EXPECT_NEAR(r.best_file_time_s - r.best_clip_time_s, 3.0, 0.1) << copy_line(r);
  EXPECT_LT(r.best_clip_time_s, 2.0) << copy_line(r);
}

// The normalised correlation by a direct loop in double over the corpus as copying.h lays it
// out: the tracks one after another with kCopySegmentSamples zeros between them.
std::vector<double> direct_correlation(const std::vector<float>& corpus, const std::vector<float>& seg) {
  const std::size_t n = seg.size(), n_lags = corpus.size() - n + 1;
  const double min_energy = n * std::pow(10.0, kCopyMinWindowDbfs / 10);
  double seg_energy = 0;
  for (float v : seg) seg_energy += double(v) * v;
  std::vector<double> corr(n_lags, 0.0);
  for (std::size_t lag = 0; lag < n_lags; ++lag) {
    double dot = 0, energy = 0;
    for (std::size_t i = 0; i < n; ++i) {
      dot += double(seg[i]) * corpus[lag + i];
      energy += double(corpus[lag + i]) * corpus[lag + i];
    }
    if (energy >= min_energy) corr[lag] = dot / std::sqrt(seg_energy * energy);
  }
  return corr;
}

TEST(Copying, FftCorrelationEqualsADirectLoop) {
  // Two tracks at 4 kHz (nothing to resample), the first with a second of digital silence.
  std::vector<float> a = test::noise(0.2, 7000, 21), b = test::noise(0.5, 9000, 22);
  for (int i = 0; i < 9000; ++i) b[i] += static_cast<float>(0.3 * std::sin(2 * M_PI * 220 * i / kCopyRateHz));
  std::fill(a.begin() + 2000, a.begin() + 6000, 0.0f);
  const CopyDetector detector({a, b}, kCopyRateHz, {"a", "b"});
  std::vector<float> corpus = a;
  corpus.resize(corpus.size() + kCopySegmentSamples, 0.0f);
  append(corpus, b);
  ASSERT_EQ(detector.corpus_samples(), static_cast<std::int64_t>(corpus.size()));

  const std::vector<std::vector<float>> segments = {
      cut(b, 3333, kCopySegmentSamples, 0.5, -30.0, 24),  // a copy: a peak near 1 at lag 7000 + 2000 + 3333
      test::noise(0.1, kCopySegmentSamples, 25),          // no copy
  };
  for (const std::vector<float>& seg : segments) {
    const std::vector<float> fft = detector.correlate(seg);
    const std::vector<double> ref = direct_correlation(corpus, seg);
    ASSERT_EQ(fft.size(), ref.size());
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t lag = 0; lag < ref.size(); ++lag) {
      const double d = std::abs(fft[lag] - ref[lag]);
      if (d > worst) worst = d, at = lag;
    }
    // The values are normalised by |seg| |window|: a difference is relative to those norms.
    EXPECT_LT(worst, 1e-4) << "at lag " << at << ": fft " << fft[at] << ", direct " << ref[at] << "; lags 0-2: "
                           << fft[0] << "/" << ref[0] << " " << fft[1] << "/" << ref[1] << " " << fft[2] << "/" << ref[2];
    const auto fft_best = std::max_element(fft.begin(), fft.end()) - fft.begin();
    const auto ref_best = std::max_element(ref.begin(), ref.end()) - ref.begin();
    EXPECT_EQ(fft_best, ref_best);
    std::printf("FFT against the direct loop over %zu lags: largest difference %.2e\n", ref.size(), worst);
    EXPECT_EQ(ref[2500], 0.0);  // inside the silence: skipped by both
  }
  const std::vector<float> copy = detector.correlate(segments[0]);
  EXPECT_EQ(std::max_element(copy.begin(), copy.end()) - copy.begin(), 7000 + kCopySegmentSamples + 3333);
  EXPECT_GT(*std::max_element(copy.begin(), copy.end()), 0.99);
  EXPECT_THROW(detector.correlate(test::noise(0.1, 100, 26)), Error);
}

TEST(Copying, SilenceCountsAsNotCopyingAndAnEmptyCorpusIsRefused) {
  const Corpus corpus;
  const CopyDetector detector({corpus.track1, corpus.track2}, kRate, {"track1", "track2"});
  // 1 s of digital silence, 2 s copied, 1 s of noise at -70 dBFS: 8 segments, 4 silent, 4 copying.
  std::vector<float> clip(kRate, 0.0f);
  append(clip, cut(corpus.track2, 6 * kRate, 2 * kRate, 1.0, -40.0, 31));
  append(clip, test::noise(std::pow(10.0, -70.0 / 20) * std::sqrt(3.0), kRate, 32));
  const CopyReport r = detector.measure(clip, kRate);
  EXPECT_EQ(r.n_segments, 8);
  EXPECT_EQ(r.n_silent, 4) << copy_line(r);
  EXPECT_EQ(r.n_copying, 4) << copy_line(r);
  EXPECT_DOUBLE_EQ(r.copy_fraction, 0.5);
  EXPECT_NE(copy_line(r).find("(4 of 8 segments, 4 silent;"), std::string::npos) << copy_line(r);
  // All silent: nothing copies, and there is no best match.
  const CopyReport quiet = detector.measure(std::vector<float>(2 * kRate, 0.0f), kRate);
  EXPECT_EQ(quiet.n_silent, 4);
  EXPECT_EQ(quiet.copy_fraction, 0.0);
  EXPECT_TRUE(quiet.best_file.empty());
  EXPECT_TRUE(to_json(quiet)["best_file"].is_null());
  EXPECT_EQ(detector.measure(std::vector<float>(kRate / 4, 0.1f), kRate).n_segments, 0);

  const test::TempDir empty;
  fs::create_directories(empty / "sub");
  std::ofstream(empty / "sub" / "notes.txt") << "not audio\n";
  try {
    copy_corpus_files({empty.path().string()});
    ADD_FAILURE() << "an empty corpus folder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("no audio files in the corpus"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CopyDetector(std::vector<fs::path>{}), Error);
  EXPECT_THROW(CopyDetector({std::vector<float>(100, 0.1f)}, kRate, {"short"}), Error);  // under one segment
}

TEST(Copying, ACorpusOverTwoHoursIsRefusedFromItsHeader) {
  // 121 minutes at 1 kHz, the lowest rate read: 14.5 MB of WAV, refused before decoding.
  const test::TempDir dir;
  write_audio(dir / "long.wav", std::vector<float>(121 * 60 * 1000, 0.0f), 1000);
  try {
    const CopyDetector detector(copy_corpus_files({dir.path().string()}));
    ADD_FAILURE() << "a corpus of 121 minutes was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("121.0 minutes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fewer files"), std::string::npos) << e.what();
  }
}

TEST(Copying, EightSecondsAgainstThreeMinutes) {
  std::vector<std::vector<float>> tracks;
  for (std::uint32_t seed : {41, 42, 43}) tracks.push_back(orchestra(60.0, seed));
  const auto t0 = std::chrono::steady_clock::now();
  const CopyDetector detector(tracks, kRate, {"t1", "t2", "t3"});
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<float> clip = cut(tracks[2], 30 * kRate + 3, 4 * kRate, 0.8, -40.0, 44);
  append(clip, orchestra(4.0, 45));
  const CopyReport r = detector.measure(clip, kRate);
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_NEAR(r.copy_fraction, 0.5, 0.1) << copy_line(r);
  EXPECT_EQ(r.best_file, "t3");
  EXPECT_NEAR(r.best_file_time_s - r.best_clip_time_s, 30.0, 0.1) << copy_line(r);
  const double build_s = std::chrono::duration<double>(t1 - t0).count(), measure_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("3-minute corpus: built in %.3f s; an 8 s clip measured in %.3f s: %s\n", build_s, measure_s, copy_line(r).c_str());
  RecordProperty("build_ms", static_cast<int>(build_s * 1000));
  RecordProperty("measure_ms", static_cast<int>(measure_s * 1000));
}

}  // namespace
}  // namespace srnn
