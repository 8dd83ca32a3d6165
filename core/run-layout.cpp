#include "core/run-layout.h"

#include <algorithm>
#include <ctime>
#include <regex>
#include <system_error>

#include "core/clip-scores.h"
#include "core/error.h"
#include "core/log.h"
#include "core/tf-bundle.h"

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
  // Epochs of up to 9 digits: a longer number is not a name samplernn writes (nor fits an int).
  static const std::regex kCheckpointName(R"(model\.ckpt-(\d{1,9}))");
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

std::filesystem::path latest_checkpoint(const std::filesystem::path& id_dir) {
  const std::vector<std::filesystem::path> runs = run_folders(id_dir);
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const auto ckpts = checkpoints_in(*it);
    if (!ckpts.empty()) return ckpts.back().second;
  }
  return {};
}

void refuse_tf_checkpoint(const std::filesystem::path& path) {
  if (find_tf_checkpoint(path)) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' is a TensorFlow (PRiSM) checkpoint, not a samplernn one",
                "import it first: samplernn import-prism --checkpoint_path " + path.string() +
                    " --config_file <the run's .config.json> --output model.ckpt");
  }
}

std::filesystem::path resolve_checkpoint_path(const std::filesystem::path& path) {
  refuse_tf_checkpoint(path);
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  const std::vector<ScoredCheckpoint> scored = scored_checkpoints(path);
  if (!scored.empty()) {
    const ScoredCheckpoint& best = scored.front();
    log_info("Using " + best.path.filename().string() + " (run " + best.path.parent_path().filename().string() +
             "): the best clip score, " + fixed(best.score, 2) + ", of " + std::to_string(scored.size()) +
             " scored checkpoint" + (scored.size() == 1 ? "" : "s") + "; give a file to choose another");
    return best.path;
  }
  return latest_checkpoint_path(path);
}

std::filesystem::path latest_checkpoint_path(const std::filesystem::path& path) {
  refuse_tf_checkpoint(path);
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  const auto here = checkpoints_in(path);
  if (!here.empty()) return here.back().second;
  const std::filesystem::path latest = latest_checkpoint(path);
  if (latest.empty()) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' is a folder without checkpoints",
                "give a model.ckpt-<epoch> file, a run folder or a training id folder (logdir/<id>)");
  }
  return latest;
}

}  // namespace srnn
