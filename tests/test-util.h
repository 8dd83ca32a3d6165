// Helpers shared by the tests: temporary folders, synthetic signals, writing test audio
// through libsndfile, and running the samplernn binary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
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

// The whole content of a file, byte for byte ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Files in a folder (not recursive), sorted by name.
std::vector<std::string> list_names(const std::filesystem::path& dir);

}  // namespace srnn::test
