// Decoding every supported input format, writing every output format, loudness helpers, and
// the clear errors for bad files.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <fstream>

#include "audio/decode.h"
#include "audio/loudness.h"
#include "audio/write.h"
#include "core/error.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Power of a frequency by correlation with a complex exponential (a single DFT bin).
double tone_power(const std::vector<float>& x, double freq_hz, int rate_hz) {
  double re = 0, im = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ph = 2.0 * M_PI * freq_hz * static_cast<double>(i) / rate_hz;
    re += x[i] * std::cos(ph);
    im += x[i] * std::sin(ph);
  }
  return (re * re + im * im) / (static_cast<double>(x.size()) * x.size());
}

struct FormatCase {
  const char* name;
  const char* ext;
  int format;
  int rate_hz;
  double max_error;  // per-sample error bound for lossless formats; < 0 for lossy
};

class DecodeFormat : public ::testing::TestWithParam<FormatCase> {};

TEST_P(DecodeFormat, DecodesAToneAtItsLevelAndPitch) {
  const FormatCase& c = GetParam();
  TempDir dir;
  const fs::path path = dir / (std::string("tone.") + c.ext);
  const int n = c.rate_hz * 2;
  const std::vector<float> x = test::sine(440.0, 0.5, c.rate_hz, n);
  std::vector<float> stereo(2 * n);
  for (int i = 0; i < n; ++i) stereo[2 * i] = stereo[2 * i + 1] = x[i];
  test::write_sndfile(path, stereo, c.rate_hz, 2, c.format);

  const AudioInfo info = probe_audio(path);
  EXPECT_EQ(info.rate_hz, c.rate_hz) << c.name;
  EXPECT_EQ(info.n_channels, 2) << c.name;

  const DecodedAudio a = load_mono(path, 0);
  EXPECT_EQ(a.rate_hz, c.rate_hz);
  EXPECT_EQ(a.source_channels, 2);
  if (c.max_error >= 0) {
    ASSERT_EQ(a.samples.size(), static_cast<std::size_t>(n)) << c.name;
    double worst = 0;
    for (int i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(a.samples[i]) - x[i]));
    EXPECT_LE(worst, c.max_error) << c.name;
  } else {
    // Lossy codecs add delay and padding: check length roughly, then level and pitch.
    EXPECT_NEAR(static_cast<double>(a.samples.size()), n, 0.1 * n) << c.name;
    EXPECT_NEAR(rms_dbfs(a.samples), rms_dbfs(x), 0.5) << c.name;
    const double p440 = tone_power(a.samples, 440.0, c.rate_hz);
    EXPECT_GT(p440, 100.0 * tone_power(a.samples, 600.0, c.rate_hz)) << c.name;
    EXPECT_GT(p440, 100.0 * tone_power(a.samples, 300.0, c.rate_hz)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, DecodeFormat,
    ::testing::Values(FormatCase{"wav-u8", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 16000, 1.0 / 128},
                      FormatCase{"wav-16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1.0 / 32768},
                      FormatCase{"wav-24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 44100, 1.0 / 8388608},
                      FormatCase{"wav-32", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 22050, 1e-7},
                      FormatCase{"wav-float", "wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 0.0},
                      FormatCase{"flac-16", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 1.0 / 32768},
                      FormatCase{"flac-24", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 48000, 1.0 / 8388608},
                      FormatCase{"aiff-16", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 16000, 1.0 / 32768},
                      FormatCase{"ogg-vorbis", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, -1},
                      FormatCase{"opus", "opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, -1},
                      FormatCase{"mp3", "mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, -1}),
    [](const ::testing::TestParamInfo<FormatCase>& info) {
      std::string name = info.param.name;
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST(Decode, MixesChannelsDownByAveraging) {
  TempDir dir;
  const int n = 1000;
  std::vector<float> stereo(2 * n);
  for (int i = 0; i < n; ++i) {
    stereo[2 * i] = 0.25f;
    stereo[2 * i + 1] = -0.75f + i * 1e-4f;
  }
  test::write_sndfile(dir / "s.wav", stereo, 16000, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const DecodedAudio a = load_mono(dir / "s.wav", 0);
  ASSERT_EQ(a.samples.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_FLOAT_EQ(a.samples[i], (stereo[2 * i] + stereo[2 * i + 1]) / 2);
}

TEST(Decode, ResamplesWhileDecoding) {
  TempDir dir;
  test::write_sndfile(dir / "t.wav", test::sine(1000, 0.5, 48000, 48000), 48000, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const DecodedAudio a = load_mono(dir / "t.wav", 16000);
  EXPECT_EQ(a.rate_hz, 16000);
  EXPECT_EQ(a.source_rate_hz, 48000);
  EXPECT_NEAR(static_cast<double>(a.samples.size()), 16000.0, 2.0);
}

void expect_input_error(const fs::path& path, const std::string& reason) {
  try {
    load_mono(path, 16000);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(reason), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "error must be one line: " << what;
  }
}

TEST(Decode, BadFilesGiveOneClearLine) {
  TempDir dir;
  expect_input_error(dir / "missing.wav", "no such file");
  std::ofstream(dir / "empty.wav").close();
  expect_input_error(dir / "empty.wav", "empty");
  std::ofstream(dir / "notes.wav") << "these are not the samples you are looking for\n";
  expect_input_error(dir / "notes.wav", "not a readable audio file");
  expect_input_error(dir.path(), "directory");

  // A WAV whose data stops inside the header.
  test::write_sndfile(dir / "good.wav", test::sine(440, 0.5, 16000, 16000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  std::ifstream in(dir / "good.wav", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.wav", std::ios::binary) << bytes.substr(0, 30);
  // The path is checked by expect_input_error; the reason is libsndfile's, passed on.
  expect_input_error(dir / "cut.wav", "not a readable audio file (libsndfile: ");
}

TEST(Decode, ATruncatedFileDecodesWhatIsThere) {
  TempDir dir;
  test::write_sndfile(dir / "good.wav", test::sine(440, 0.5, 16000, 16000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  std::ifstream in(dir / "good.wav", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "half.wav", std::ios::binary) << bytes.substr(0, 44 + 16000);  // 8000 samples
  const DecodedAudio a = load_mono(dir / "half.wav", 0);
  EXPECT_EQ(a.samples.size(), 8000u);
  // The header still announces 16000 frames: the caller can tell the user.
  EXPECT_EQ(a.header_frames, 16000);
  EXPECT_EQ(a.source_frames, 8000);
  EXPECT_TRUE(a.truncated());
  EXPECT_FALSE(load_mono(dir / "good.wav", 0).truncated());
}

TEST(Decode, HeadersThatWouldBlowUpTheFileAreRefused) {
  TempDir dir;
  // A header claiming 1 Hz: resampled to 16 kHz, 44100 frames would become 705 million samples.
  test::write_sndfile(dir / "one-hz.wav", test::sine(0.1, 0.5, 1, 44100), 1, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_input_error(dir / "one-hz.wav", "sample rate of 1 Hz, outside 1000 to 768000 Hz");
}

TEST(Decode, APipeNamedLikeAudioIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "fifo.wav").c_str(), 0600), 0);
  // Opening a FIFO for reading blocks until a writer comes; the check must come first.
  expect_input_error(dir / "fifo.wav", "not a regular file");
}

TEST(Write, Pcm16RoundTripsExactlyAndClips) {
  TempDir dir;
  std::vector<float> x = test::noise(0.9, 5000);
  for (float& v : x) v = std::round(v * 32768.0f) / 32768.0f;  // already on the 16-bit grid
  x.push_back(1.5f);
  x.push_back(-1.5f);
  x.push_back(1.0f);
  write_audio(dir / "a.wav", x, 16000);
  AudioInfo info;
  const std::vector<float> y = load_interleaved(dir / "a.wav", &info);
  EXPECT_EQ(info.rate_hz, 16000);
  EXPECT_EQ(info.n_channels, 1);
  EXPECT_NE(info.format.find("WAV"), std::string::npos);
  EXPECT_NE(info.format.find("16 bit"), std::string::npos) << info.format;
  ASSERT_EQ(y.size(), x.size());
  for (std::size_t i = 0; i < 5000; ++i) ASSERT_EQ(y[i], x[i]) << i;
  EXPECT_EQ(y[5000], 32767.0f / 32768.0f);  // clipped, not wrapped to negative
  EXPECT_EQ(y[5001], -1.0f);
  EXPECT_EQ(y[5002], 32767.0f / 32768.0f);
}

TEST(Write, FloatWavAndFlacOnRequest) {
  TempDir dir;
  const std::vector<float> x = test::sine(300, 0.7, 16000, 4000);
  write_audio(dir / "f.wav", x, 16000, parse_audio_format("wav-float"));
  write_audio(dir / "f.flac", x, 16000, parse_audio_format("flac"));
  write_audio(dir / "f24.flac", x, 16000, parse_audio_format("flac24"));
  write_audio(dir / "f24.wav", x, 16000, parse_audio_format("wav24"));
  AudioInfo info;
  const std::vector<float> f = load_interleaved(dir / "f.wav", &info);
  EXPECT_NE(info.format.find("float"), std::string::npos) << info.format;
  ASSERT_EQ(f.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(f[i], x[i]);
  const std::vector<float> flac = load_interleaved(dir / "f.flac", &info);
  EXPECT_NE(info.format.find("FLAC"), std::string::npos) << info.format;
  ASSERT_EQ(flac.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(flac[i], x[i], 0.5 / 32768 + 1e-9);
  for (const char* name : {"f24.flac", "f24.wav"}) {
    const std::vector<float> y = load_interleaved(dir / name, &info);
    ASSERT_EQ(y.size(), x.size()) << name;
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], x[i], 0.5 / 8388608 + 1e-9) << name;
  }
  EXPECT_THROW(parse_audio_format("mp4"), Error);
}

TEST(Write, OpusIsSmallCloseToTheInputAndOnlyAtItsRates) {
  TempDir dir;
  std::vector<float> x = test::sine(220, 0.3, 16000, 32000);
  const std::vector<float> h = test::sine(660, 0.1, 16000, 32000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  write_audio(dir / "a.opus", x, 16000, parse_audio_format("opus"));
  EXPECT_EQ(parse_audio_format("opus").extension(), "opus");
  // About 32 kbit/s: 8 kB for 2 s.
  EXPECT_GT(fs::file_size(dir / "a.opus"), 4000u);
  EXPECT_LT(fs::file_size(dir / "a.opus"), 12000u);
  AudioInfo info;
  const std::vector<float> y = load_interleaved(dir / "a.opus", &info);
  EXPECT_EQ(info.rate_hz, 16000);
  ASSERT_EQ(y.size(), x.size());
  double err = 0, sig = 0;
  for (std::size_t i = 1000; i < x.size() - 1000; ++i) err += (y[i] - x[i]) * (y[i] - x[i]), sig += x[i] * x[i];
  EXPECT_GT(10 * std::log10(sig / err), 15.0) << "SNR of the decoded Opus file";
  try {
    write_audio(dir / "b.opus", x, 22050, parse_audio_format("opus"));
    FAIL() << "22050 Hz Opus was written";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(e.message().find("22050 Hz"), std::string::npos) << e.message();
  }
  EXPECT_FALSE(fs::exists(dir / "b.opus"));
}

TEST(Write, Pcm16Conversion) {
  EXPECT_EQ(float_to_pcm16(0.0f), 0);
  EXPECT_EQ(float_to_pcm16(1.0f), 32767);
  EXPECT_EQ(float_to_pcm16(-1.0f), -32768);
  EXPECT_EQ(float_to_pcm16(0.5f), 16384);
  EXPECT_EQ(float_to_pcm16(100.0f), 32767);
  EXPECT_EQ(float_to_pcm16(-100.0f), -32768);
  EXPECT_EQ(float_to_pcm16(std::nanf("")), 0);
}

TEST(Write, FailureNamesThePathAndLeavesNothingBehind) {
  TempDir dir;
  const std::vector<float> x(1000, 0.1f);
  try {
    write_audio(dir / "no" / "such" / "dir" / "a.wav", x, 16000);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("a.wav"), std::string::npos);
  }
  EXPECT_TRUE(test::list_names(dir.path()).empty());
}

TEST(Write, AFailedWriteNeverReplacesAGoodFile) {
  TempDir dir;
  const fs::path path = dir / "keep.wav";
  const std::vector<float> small = test::sine(440, 0.5, 16000, 1600);
  write_audio(path, small, 16000);
  const auto good_size = fs::file_size(path);

  // Simulate a full disk: a file-size limit makes write() fail with EFBIG.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit limited = old;
  limited.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  bool threw = false;
  try {
    write_audio(path, test::sine(440, 0.5, 16000, 160000), 16000);  // 320 kB
  } catch (const Error& e) {
    threw = true;
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_TRUE(threw);
  EXPECT_EQ(fs::file_size(path), good_size);
  EXPECT_EQ(test::list_names(dir.path()), std::vector<std::string>{"keep.wav"});
  EXPECT_EQ(load_mono(path, 0).samples.size(), small.size());
}

TEST(Loudness, KnownValues) {
  const std::vector<float> half(1000, 0.5f);
  EXPECT_NEAR(rms(half), 0.5, 1e-12);
  EXPECT_NEAR(rms_dbfs(half), -6.0206, 1e-4);
  EXPECT_NEAR(peak_dbfs(half), -6.0206, 1e-4);
  const std::vector<float> s = test::sine(1000, 1.0, 16000, 16000);
  EXPECT_NEAR(rms_dbfs(s), -3.0103, 1e-3);
  EXPECT_NEAR(peak(s), 1.0, 1e-6);
  const std::vector<float> zeros(10, 0.0f);
  EXPECT_TRUE(std::isinf(rms_dbfs(zeros)) && rms_dbfs(zeros) < 0);
  EXPECT_EQ(rms(std::vector<float>{}), 0.0);
  EXPECT_NEAR(db_to_amplitude(-64.0), 6.30957e-4, 1e-9);
  EXPECT_NEAR(amplitude_to_db(db_to_amplitude(-12.5)), -12.5, 1e-12);
}

TEST(AudioExtensions, RecognisesAudioFiles) {
  EXPECT_TRUE(has_audio_extension("a/b/Song.WAV"));
  EXPECT_TRUE(has_audio_extension("x.flac"));
  EXPECT_TRUE(has_audio_extension("x.ogg"));
  EXPECT_TRUE(has_audio_extension("x.opus"));
  EXPECT_TRUE(has_audio_extension("x.mp3"));
  EXPECT_FALSE(has_audio_extension("cover.jpg"));
  EXPECT_FALSE(has_audio_extension("README"));
}

}  // namespace
}  // namespace srnn
