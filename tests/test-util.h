// Helpers shared by the tests: temporary folders, synthetic signals, writing test audio
// through libsndfile, and running the samplernn binary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace srnn::test {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// amplitude * sin(2 pi f t), n samples at rate_hz.
std::vector<float> sine(double freq_hz, double amplitude, int rate_hz, std::size_t n);
// Uniform white noise in [-amplitude, amplitude] from a fixed seed.
std::vector<float> noise(double amplitude, std::size_t n, std::uint32_t seed = 1);

// A tiny training set in `dir`: data/c0.wav .. c7.wav (half-second 16 kHz sines) and
// tiny.config.json (frame sizes 4 and 16, dim 16, one GRU layer): what the CLI tests train
// their small models on.
void write_tiny_corpus(const std::filesystem::path& dir);

// Writes interleaved samples with libsndfile; format is an SF_FORMAT_* combination.
void write_sndfile(const std::filesystem::path& path, const std::vector<float>& interleaved, int rate_hz,
                   int n_channels, int format);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// A path quoted for a POSIX shell command line.
std::string shell_quote(const std::filesystem::path& p);

// Runs a shell command line, capturing its output.
CommandResult run_command(const std::string& command_line);

// Runs `command_line` in the background with its output in `log`, waits (up to a minute)
// until ready(log text) holds, sends it SIGINT as Ctrl-C would, and returns the log once it
// has ended, with "exit=<status>" as its last line. ready() false after the minute: the
// signal is sent anyway, and the log says why the test failed.
std::string interrupt_when(const std::string& command_line, const std::filesystem::path& log,
                           const std::function<bool(const std::string&)>& ready);

// Runs a command that must fail with `exit_code` and print exactly one line that starts with
// "error: " and contains `needle` (a failure of the calling test otherwise).
void expect_one_error_line(const std::string& command_line, int exit_code, const std::string& needle);

// The whole content of a file, byte for byte ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Files in a folder (not recursive), sorted by name.
std::vector<std::string> list_names(const std::filesystem::path& dir);

// TensorBoard event files, decoded independently of the writer in viz/.

// CRC-32C bit by bit (no table), and TFRecord's masking of it.
std::uint32_t crc32c_bitwise(const std::string& s);
std::uint32_t masked_crc(std::uint32_t crc);

// A decoded protobuf message: field number -> raw values (varints as numbers in `num`,
// length-delimited as bytes in `bytes`, fixed32/fixed64 as their bytes).
struct ProtoMessage {
  std::multimap<int, std::uint64_t> num;
  std::multimap<int, std::string> bytes;
  std::string first(int f) const;                  // "" when absent
  std::optional<std::uint64_t> number(int f) const;  // the first varint of field f
};
ProtoMessage parse_proto(const std::string& s);

// The records of a TFRecord file, both CRCs checked; a bad CRC or a truncated record is a
// test failure, and reading stops at a truncated one.
std::vector<std::string> read_tfrecords(const std::filesystem::path& path);

// Every summary value in the event files of a folder, by tag: (step, the Summary.Value
// message) in the order written. An absent step is proto3's default, 0.
using EventValues = std::map<std::string, std::vector<std::pair<std::int64_t, ProtoMessage>>>;
EventValues event_values(const std::filesystem::path& dir);

}  // namespace srnn::test
