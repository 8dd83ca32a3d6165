// File-system helpers: atomic writes, directory creation and recursive listing.
//
// AtomicFile gives a temporary path next to the final one. Write the whole file there, then
// commit(): the temporary file is renamed over the final name, so a reader (or a crash) sees
// either the old file or the complete new one, never a partial file under the final name. If
// commit() is not reached (an exception, a failed write) the destructor removes the
// temporary file.
//
//   srnn::AtomicFile out("chunks/a_chunk_1.wav");
//   write_wav(out.temp_path(), samples, rate_hz);  // throws on a short write
//   out.commit();
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace srnn {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& temp_path() const { return temp_path_; }
  const std::filesystem::path& final_path() const { return final_path_; }

  // Renames the temporary file to the final path. With durable, the data and the directory
  // entry are flushed to disk first (fsync), as checkpoints need. Throws Error(kIo).
  void commit(bool durable = false);

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  bool committed_ = false;
};

// Creates `dir` and its parents if needed. Throws Error(kIo) naming the path when it cannot,
// or when the path exists and is not a directory.
void ensure_directory(const std::filesystem::path& dir);

// Regular files under `dir` (recursively, following no symlinked directories) for which
// `keep` returns true, sorted by path so runs are reproducible. Throws Error(kInput) when
// `dir` does not exist or is not a directory.
std::vector<std::filesystem::path> list_files_recursive(
    const std::filesystem::path& dir,
    const std::function<bool(const std::filesystem::path&)>& keep);

// `path` made absolute and normalised ("a/./b/../c" -> "/cwd/a/c"), as run records store
// folders; symbolic links are not resolved.
std::string absolute_normal(const std::filesystem::path& path);

// Lower-case extension without the dot: "Song.FLAC" -> "flac".
std::string lower_extension(const std::filesystem::path& path);

}  // namespace srnn
