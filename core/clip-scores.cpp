#include "core/clip-scores.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "core/error.h"
#include "core/fs.h"
#include "core/run-layout.h"

namespace srnn {
namespace fs = std::filesystem;

nlohmann::json read_clip_scores(const fs::path& run_dir) {
  const fs::path path = run_dir / kClipScoresFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return nlohmann::json::object();
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::kInput, "cannot read '" + path.string() + "': " + errno_text(errno));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  bool ok = j.is_object();
  for (auto it = j.begin(); ok && it != j.end(); ++it) {
    ok = it->is_object() && it->contains("score") && it->at("score").is_number();
  }
  if (!ok) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' is not a samplernn clip-scores file",
                "delete it and run `samplernn rank " + run_dir.string() + "` to score the checkpoints again");
  }
  return j;
}

namespace {

// An exclusive flock on the run folder itself while its scores are read, changed and
// written, so that a training and a `rank` of the same run never lose each other's entries.
class RunFolderLock {
 public:
  explicit RunFolderLock(const fs::path& run_dir) : fd_(::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ < 0) throw Error(ErrorKind::kIo, "cannot open the run folder '" + run_dir.string() + "': " + errno_text(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        throw Error(ErrorKind::kIo, "cannot lock '" + run_dir.string() + "': " + errno_text(err));
      }
    }
  }
  ~RunFolderLock() { ::close(fd_); }  // closing releases the lock
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_;
};

}  // namespace

void record_clip_score(const fs::path& run_dir, const std::string& checkpoint_name, const nlohmann::json& entry) {
  const RunFolderLock lock(run_dir);
  nlohmann::json all = read_clip_scores(run_dir);
  all[checkpoint_name] = entry;
  AtomicFile out(run_dir / kClipScoresFile);
  {
    std::ofstream f(out.temp_path());
    f << all.dump(1) << '\n';
    if (!f.flush()) throw Error(ErrorKind::kIo, "cannot write '" + out.temp_path().string() + "'", "is the disk full?");
  }
  out.commit();
}

std::vector<ScoredCheckpoint> scored_checkpoints(const fs::path& run_or_id_dir) {
  std::vector<fs::path> runs = run_folders(run_or_id_dir);
  if (runs.empty()) runs.push_back(run_or_id_dir);
  std::vector<ScoredCheckpoint> out;
  for (const fs::path& run : runs) {
    const nlohmann::json scores = read_clip_scores(run);
    for (const auto& [epoch, path] : checkpoints_in(run)) {
      const auto it = scores.find(path.filename().string());
      if (it == scores.end()) continue;
      out.push_back({path, it->at("score").get<double>(), it->value("step", std::int64_t{0})});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const ScoredCheckpoint& a, const ScoredCheckpoint& b) {
    return a.score != b.score ? a.score > b.score : a.step > b.step;
  });
  return out;
}

}  // namespace srnn
