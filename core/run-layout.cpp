#include "core/run-layout.h"

#include <algorithm>
#include <ctime>
#include <regex>
#include <system_error>

namespace srnn {
namespace fs = std::filesystem;

std::string run_folder_key(const std::string& name) {
  static const std::regex kRunDirName(R"((\d{2})\.(\d{2})\.(\d{4})_(\d{2})\.(\d{2})\.(\d{2}))");
  std::smatch m;
  if (!std::regex_match(name, m, kRunDirName)) return "";
  return m[3].str() + m[2].str() + m[1].str() + m[4].str() + m[5].str() + m[6].str();
}

std::string run_folder_name_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%d.%m.%Y_%H.%M.%S", &tm);
  return buf;
}

std::vector<fs::path> run_folders(const fs::path& id_dir) {
  std::vector<std::pair<std::string, fs::path>> runs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(id_dir, ec)) {
    const std::string key = run_folder_key(e.path().filename().string());
    if (!key.empty() && e.is_directory(ec)) runs.emplace_back(key, e.path());
  }
  std::sort(runs.begin(), runs.end());
  std::vector<fs::path> out;
  for (auto& r : runs) out.push_back(r.second);
  return out;
}

std::vector<std::pair<int, fs::path>> checkpoints_in(const fs::path& run_dir) {
  static const std::regex kCheckpointName(R"(model\.ckpt-(\d+))");
  std::vector<std::pair<int, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, kCheckpointName)) out.emplace_back(std::stoi(m[1]), e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace srnn
