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

// Removes the temporary files AtomicFile leaves in `dir` (not recursively) when a process
// is killed before it commits: "<name>.tmp-<pid>-<n>" whose process no longer runs. Returns
// how many were removed; never throws.
int remove_stale_temp_files(const std::filesystem::path& dir);

// An exclusive lock on a folder for this process's lifetime (flock on <dir>/.lock, which
// holds the owner's pid): two trainings of one id never share a run folder. The lock dies
// with the process, however it ends.
class DirectoryLock {
 public:
  // Creates the folder if needed. Error(kUsage) naming the holder's pid when another process
  // holds the lock; `what` says what is locked ("training id 'aamgen'").
  DirectoryLock(const std::filesystem::path& dir, const std::string& what);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
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
