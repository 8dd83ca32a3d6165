// Helpers of the libFuzzer targets: the loaders read files, so each input is written to a
// scratch file of this process first.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace srnn::fuzz {

// /tmp/srnn-fuzz-<pid>-<name>, holding `data`.
inline std::filesystem::path scratch_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("srnn-fuzz-" + std::to_string(getpid()) + "-" + name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f != nullptr) {
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace srnn::fuzz
