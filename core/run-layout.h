// PRiSM's run layout: <logdir_root>/<id>/<DD.MM.YYYY_HH.MM.SS>/model.ckpt-<epoch>.
// Shared by training (where to resume from, what to sweep) and the report.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace srnn {

// Sort key (YYYYMMDDHHMMSS) of a run folder name, or "" when the name is not one.
std::string run_folder_key(const std::string& name);
// "DD.MM.YYYY_HH.MM.SS" for now, local time.
std::string run_folder_name_now();
// Run folders of an id, oldest first.
std::vector<std::filesystem::path> run_folders(const std::filesystem::path& id_dir);
// (epoch, path) of the model.ckpt-<epoch> files in a run folder, lowest epoch first.
std::vector<std::pair<int, std::filesystem::path>> checkpoints_in(const std::filesystem::path& run_dir);
// The newest checkpoint under an id folder: the highest epoch in the newest run folder that
// has one. Empty when there is none.
std::filesystem::path latest_checkpoint(const std::filesystem::path& id_dir);
// A --checkpoint_path as given: a file is itself. A run or id folder gives its best-scored
// checkpoint where its clips were scored (core/clip-scores.h; logs which and why), else
// latest_checkpoint_path's. Error(kInput) when a folder holds none, and for a TensorFlow
// (PRiSM) checkpoint, naming the import-prism command.
std::filesystem::path resolve_checkpoint_path(const std::filesystem::path& path);
// The same without the scores: a run folder gives its highest epoch, an id folder its latest
// checkpoint. What --resume_from takes: a run continues from its newest state.
std::filesystem::path latest_checkpoint_path(const std::filesystem::path& path);
// Error(kInput) naming the import-prism command when `path` is a TensorFlow checkpoint
// (core/tf-bundle.h, find_tf_checkpoint); nothing otherwise.
void refuse_tf_checkpoint(const std::filesystem::path& path);

}  // namespace srnn
