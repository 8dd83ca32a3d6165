#include "core/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <regex>
#include <system_error>

#include "core/error.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

fs::path make_temp_path(const fs::path& final_path) {
  static std::atomic<unsigned> counter{0};
  const std::string suffix =
      ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  fs::path temp = final_path;
  temp += suffix;
  return temp;
}

void fsync_file(const fs::path& path, bool is_dir) {
  const int fd = ::open(path.c_str(), is_dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw Error(ErrorKind::kIo, "cannot open '" + path.string() + "' to flush it: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(ErrorKind::kIo, "cannot flush '" + path.string() + "' to disk: " + errno_text(err),
                           "is the disk full?");
}

}  // namespace

AtomicFile::AtomicFile(fs::path final_path)
    : final_path_(std::move(final_path)), temp_path_(make_temp_path(final_path_)) {}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_path_, ec);  // best effort: the file may never have been created
  }
}

void AtomicFile::commit(bool durable) {
  if (durable) fsync_file(temp_path_, false);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    throw Error(ErrorKind::kIo, "cannot rename '" + temp_path_.string() + "' to '" + final_path_.string() +
                                    "': " + errno_text(errno));
  }
  committed_ = true;
  if (durable) {
    const fs::path dir = final_path_.has_parent_path() ? final_path_.parent_path() : fs::path(".");
    fsync_file(dir, true);
  }
}

DirectoryLock::DirectoryLock(const fs::path& dir, const std::string& what) {
  ensure_directory(dir);
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(ErrorKind::kIo, "cannot open the lock file '" + path.string() + "': " + errno_text(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
    ::close(fd_);
    fd_ = -1;
    const std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    throw Error(ErrorKind::kUsage,
                what + " is in use by another samplernn process (pid " + holder.substr(0, holder.find('\n')) + ")",
                "wait for it to finish or stop it, or use another --id");
  }
  // Should this fail, the lock still holds; only a second process's message lacks the pid.
  const std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

int remove_stale_temp_files(const fs::path& dir) {
  static const std::regex kTempName(R"(.+\.tmp-(\d{1,9})-\d+)");
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, kTempName) || !e.is_regular_file(ec)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(m[1].str()));
    // kill(pid, 0) fails with ESRCH only when no such process exists.
    if (pid == getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

void ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  if (fs::exists(dir, ec)) {
    throw Error(ErrorKind::kIo, "'" + dir.string() + "' exists but is not a directory",
                "choose another output directory");
  }
  fs::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorKind::kIo, "cannot create directory '" + dir.string() + "': " + ec.message(),
                "check the path and its permissions");
  }
}

std::vector<fs::path> list_files_recursive(const fs::path& dir,
                                           const std::function<bool(const fs::path&)>& keep) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    throw Error(ErrorKind::kInput, "directory '" + dir.string() + "' does not exist");
  }
  if (!fs::is_directory(dir, ec)) {
    throw Error(ErrorKind::kInput, "'" + dir.string() + "' is not a directory");
  }
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw Error(ErrorKind::kInput, "cannot read directory '" + dir.string() + "': " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(ErrorKind::kInput, "cannot read directory '" + dir.string() + "': " + ec.message());
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && keep(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string absolute_normal(const fs::path& path) {
  std::error_code ec;
  const fs::path a = fs::absolute(path, ec);
  return (ec ? path : a).lexically_normal().string();
}

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace srnn
