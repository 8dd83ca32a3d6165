// `samplernn chunk` end to end, through the binary, on audio the test writes itself.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include "audio/decode.h"
#include "core/error.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;
using test::TempDir;

const std::string kBin = SRNN_BIN;

std::string q(const fs::path& p) { return test::shell_quote(p); }

// seconds of a -20 dBFS tone at rate_hz, stereo, silent in [gap_begin_s, gap_end_s).
void write_tone(const fs::path& path, int seconds, int rate_hz, int format, double gap_begin_s = -1,
                double gap_end_s = -1) {
  fs::create_directories(path.parent_path());
  std::vector<float> mono = test::sine(330.0, 0.1, rate_hz, static_cast<std::size_t>(seconds) * rate_hz);
  for (std::size_t i = 0; i < mono.size(); ++i) {
    const double t = static_cast<double>(i) / rate_hz;
    if (t >= gap_begin_s && t < gap_end_s) mono[i] = 0.0f;
  }
  std::vector<float> stereo(2 * mono.size());
  for (std::size_t i = 0; i < mono.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = mono[i];
  test::write_sndfile(path, stereo, rate_hz, 2, format);
}

// Parses "N chunks processed, M were silent. Saved K chunks to DIR."
struct Summary {
  int n = -1, silent = -1, saved = -1;
  std::string dir;
};
Summary parse_summary(const std::string& out) {
  static const std::regex re(R"((\d+) chunks processed, (\d+) were silent\. Saved (\d+) chunks to (.*)\.)");
  Summary s;
  std::smatch m;
  if (std::regex_search(out, m, re)) s = {std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]), m[4]};
  return s;
}

TEST(CliChunk, HelpListsEveryFlagWithItsDefault) {
  const auto r = run_command(kBin + " chunk --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--input_file", "--input_dir", "--output_dir", "--chunk_length", "--overlap",
                           "--sample_rate", "--silence_threshold", "--silence_min_len", "--format", "--num_threads"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
  for (const char* def : {"INT=8000", "INT=0", "INT=16000", "FLOAT=-64", "TEXT=wav"}) {
    EXPECT_NE(r.output.find(def), std::string::npos) << def;
  }
  const auto top = run_command(kBin + " --help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.output.find("chunk"), std::string::npos);
}

TEST(CliChunk, OneFileAsPrismDoes) {
  TempDir dir;
  write_tone(dir / "album.wav", 30, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8.0, 14.0);
  const fs::path out = dir / "chunks";  // created by the command
  const auto r = run_command(kBin + " chunk --input_file " + q(dir / "album.wav") + " --output_dir " + q(out) +
                             " --overlap 1000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Finished chunking"), std::string::npos) << r.output;
  const Summary s = parse_summary(r.output);
  EXPECT_EQ(s.n, 4);
  EXPECT_EQ(s.silent, 1);
  EXPECT_EQ(s.saved, 3);
  EXPECT_EQ(s.dir, out.string());
  EXPECT_EQ(test::list_names(out),
            (std::vector<std::string>{"album_chunk_1.wav", "album_chunk_3.wav", "album_chunk_4.wav"}));
  for (const auto& name : test::list_names(out)) {
    const AudioInfo info = probe_audio(out / name);
    EXPECT_EQ(info.rate_hz, 16000);
    EXPECT_EQ(info.n_channels, 1);
    EXPECT_EQ(info.n_frames, 128000);
  }
}

TEST(CliChunk, DashedFlagsAndOtherRatesAndFormats) {
  TempDir dir;
  write_tone(dir / "a.ogg", 5, 44100, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  const auto r = run_command(kBin + " chunk --input-file " + q(dir / "a.ogg") + " --output-dir " + q(dir / "o") +
                             " --chunk-length 2000 --sample-rate 22050 --format flac");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::list_names(dir / "o"), (std::vector<std::string>{"a_chunk_1.flac", "a_chunk_2.flac"}));
  const AudioInfo info = probe_audio(dir / "o" / "a_chunk_1.flac");
  EXPECT_EQ(info.rate_hz, 22050);
  EXPECT_EQ(info.n_frames, 44100);
}

TEST(CliChunk, AFolderWithBadFilesGoesOnAndFailsAtTheEnd) {
  TempDir dir;
  const fs::path in = dir / "albums";
  fs::create_directories(in / "disc2");
  write_tone(in / "one.wav", 20, 48000, SF_FORMAT_WAV | SF_FORMAT_PCM_24);
  write_tone(in / "disc2" / "two.flac", 20, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_tone(in / "disc2" / "three.ogg", 12, 44100, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  std::ofstream(in / "cover.jpg") << "not audio, not an audio extension";
  std::ofstream(in / "broken.wav") << "RIFF but not really";
  std::ofstream(in / "disc2" / "empty.mp3").close();
  const fs::path out = dir / "chunks";

  const auto r = run_command(kBin + " chunk --input_dir " + q(in) + " --output_dir " + q(out) + " --overlap 1000");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("broken.wav"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("empty.mp3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 of 5 files could not be chunked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[5/5 files]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("x real time"), std::string::npos) << r.output;

  // 20 s with 8 s chunks every 7 s: chunks at 0 and 7 s (the one at 14 s reaches the end);
  // 12 s: one chunk.
  const Summary s = parse_summary(r.output);
  EXPECT_EQ(s.n, 5);
  EXPECT_EQ(s.silent, 0);
  EXPECT_EQ(s.saved, 5);
  const auto names = test::list_names(out);
  EXPECT_EQ(static_cast<int>(names.size()), s.saved);
  EXPECT_EQ(names, (std::vector<std::string>{"one_chunk_1.wav", "one_chunk_2.wav", "three_chunk_1.wav",
                                             "two_chunk_1.wav", "two_chunk_2.wav"}));
  // The inputs are untouched.
  EXPECT_EQ(probe_audio(in / "one.wav").n_frames, 20 * 48000);
}

TEST(CliChunk, RerunningIntoASubfolderOfTheInputIgnoresEarlierChunks) {
  TempDir dir;
  write_tone(dir / "a.wav", 20, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string cmd = kBin + " chunk --input_dir " + q(dir.path()) + " --output_dir " + q(dir / "chunks");
  ASSERT_EQ(run_command(cmd).exit_code, 0);
  const auto second = run_command(cmd);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(parse_summary(second.output).n, 2);
  EXPECT_EQ(test::list_names(dir / "chunks"), (std::vector<std::string>{"a_chunk_1.wav", "a_chunk_2.wav"}));
}

TEST(CliChunk, NeverOverwritesAnInput) {
  TempDir dir;
  write_tone(dir / "a.wav", 20, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_tone(dir / "a_chunk_1.wav", 3, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);  // an input that looks like output
  const auto r = run_command(kBin + " chunk --input_dir " + q(dir.path()) + " --output_dir " + q(dir.path()));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("refusing to overwrite the input file"), std::string::npos) << r.output;
  EXPECT_EQ(probe_audio(dir / "a_chunk_1.wav").n_frames, 3 * 16000);
  // The inputs are checked before any chunk is written: a_chunk_2.wav must not appear either.
  EXPECT_EQ(test::list_names(dir.path()), (std::vector<std::string>{"a.wav", "a_chunk_1.wav"}));
}

TEST(CliChunk, UsageErrors) {
  TempDir dir;
  write_tone(dir / "a.wav", 3, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const int usage = exit_code(ErrorKind::kUsage);
  auto r = run_command(kBin + " chunk --output_dir " + q(dir / "o"));
  EXPECT_EQ(r.exit_code, usage);
  EXPECT_NE(r.output.find("--input_file or --input_dir"), std::string::npos) << r.output;
  r = run_command(kBin + " chunk --input_file " + q(dir / "a.wav") + " --input_dir " + q(dir.path()) +
                  " --output_dir " + q(dir / "o"));
  EXPECT_EQ(r.exit_code, usage);
  r = run_command(kBin + " chunk --input_file " + q(dir / "a.wav") + " --output_dir " + q(dir / "o") +
                  " --overlap 8000");
  EXPECT_EQ(r.exit_code, usage);
  EXPECT_NE(r.output.find("--overlap"), std::string::npos) << r.output;
  r = run_command(kBin + " chunk --input_file " + q(dir / "a.wav") + " --output_dir " + q(dir / "o") +
                  " --format mp4");
  EXPECT_EQ(r.exit_code, usage);
  r = run_command(kBin + " frobnicate");
  EXPECT_EQ(r.exit_code, usage);
  r = run_command(kBin);
  EXPECT_EQ(r.exit_code, usage);
}

TEST(CliChunk, MissingInputIsOneLine) {
  TempDir dir;
  const auto r = run_command(kBin + " chunk --input_file " + q(dir / "nope.wav") + " --output_dir " + q(dir / "o"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("nope.wav"), std::string::npos);
  EXPECT_NE(r.output.find("no such file"), std::string::npos);
  const auto empty = run_command(kBin + " chunk --input_dir " + q(dir.path()) + " --output_dir " + q(dir / "o"));
  EXPECT_EQ(empty.exit_code, exit_code(ErrorKind::kInput));
  EXPECT_NE(empty.output.find("no audio files"), std::string::npos) << empty.output;
}

TEST(CliChunk, WriteErrorsAreReportedAndLeaveNoPartialFiles) {
  TempDir dir;
  write_tone(dir / "a.wav", 20, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  // The output "directory" is a file.
  std::ofstream(dir / "taken") << "x";
  auto r = run_command(kBin + " chunk --input_file " + q(dir / "a.wav") + " --output_dir " + q(dir / "taken"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kIo)) << r.output;
  EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;

  // A full disk, simulated by a 100 kB file-size limit: each 256 kB chunk fails to write.
  fs::create_directories(dir / "full");
  r = run_command("ulimit -f 100; " + kBin + " chunk --input_file " + q(dir / "a.wav") + " --output_dir " +
                  q(dir / "full"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kIo)) << r.output;
  EXPECT_NE(r.output.find("cannot write"), std::string::npos) << r.output;
  EXPECT_TRUE(test::list_names(dir / "full").empty());
}

TEST(CliChunk, InputsWhoseChunksWouldCollideAreRefusedBeforeWriting) {
  TempDir dir;
  write_tone(dir / "in" / "a.wav", 10, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_tone(dir / "in" / "a.flac", 10, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  test::expect_one_error_line(kBin + " chunk --input_dir " + q(dir / "in") + " --output_dir " + q(dir / "out"),
                              exit_code(ErrorKind::kUsage), "a.flac' and '");
  EXPECT_FALSE(fs::exists(dir / "out"));
  // x/a.wav is named x_a once another a.wav is there; so is x_a.wav.
  fs::remove(dir / "in" / "a.flac");
  write_tone(dir / "in" / "x" / "a.wav", 10, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_tone(dir / "in" / "x_a.wav", 10, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  test::expect_one_error_line(kBin + " chunk --input_dir " + q(dir / "in") + " --output_dir " + q(dir / "out"),
                              exit_code(ErrorKind::kUsage), "would both write x_a_chunk_<n>.wav");
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(CliChunk, ShortAndCutOffInputsAreNamed) {
  TempDir dir;
  write_tone(dir / "in" / "short.wav", 3, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_tone(dir / "full.wav", 20, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string bytes = test::read_file(dir / "full.wav");
  std::ofstream(dir / "in" / "cut.wav", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto r = run_command(kBin + " chunk --input_dir " + q(dir / "in") + " --output_dir " + q(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cut.wav' ends after 10.00 s, before the 20.00 s its header announces"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("short.wav' (3.00 s) is shorter than one chunk (8.00 s)"), std::string::npos) << r.output;
}

TEST(CliChunk, CtrlCStopsBetweenChunksAndLeavesOnlyWholeOnes) {
  TempDir dir;
  // Twenty minutes in 250 ms FLAC chunks: seconds of work, stopped early. A stale temporary of
  // a killed run (its pid cannot exist) is cleared on the way.
  test::write_sndfile(dir / "long.wav", test::sine(330, 0.1, 16000, 1200 * 16000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out" / "long_chunk_9.flac.tmp-999999999-0") << "x";
  const std::string text = test::interrupt_when(
      kBin + " chunk --input_file " + q(dir / "long.wav") + " --output_dir " + q(dir / "out") +
          " --chunk_length 250 --format flac",
      dir / "log", [&](const std::string&) { return test::list_names(dir / "out").size() >= 3; });
  EXPECT_NE(text.find("exit=130"), std::string::npos) << text;
  EXPECT_NE(text.find("error: interrupted after writing "), std::string::npos) << text;
  const auto names = test::list_names(dir / "out");
  EXPECT_LT(names.size(), 4700u) << "it did not stop early";
  for (const auto& name : names) {
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << "a temporary file is left: " << name;
    EXPECT_EQ(probe_audio(dir / "out" / name).n_frames, 4000) << name;  // whole chunks only
  }
}

}  // namespace
}  // namespace srnn
