// The clip scores of a run's checkpoints: <run_dir>/clip-scores.json, one entry per
// checkpoint file name, written by `samplernn train` after each checkpoint's clips and by
// `samplernn rank`. Plain JSON, torch-free and audio-free.
//
//   {"model.ckpt-3": {"score": 0.71, "step": 1234, "epoch": 3, "clips": [...], "settings": {...}}}
//
// An entry holds at least "score" (the mean of its clips' scores, audio/clip-score.h) and
// "step". `--checkpoint_path` on a run or id folder takes the best-scored checkpoint that
// still exists (core/run-layout.h, resolve_checkpoint_path).
//
//   srnn::record_clip_score(run_dir, "model.ckpt-3", entry);
//   for (const auto& c : srnn::scored_checkpoints(id_dir)) ...  // best first
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace srnn {

inline constexpr const char* kClipScoresFile = "clip-scores.json";

// Adds or replaces the entry of `checkpoint_name`: read, modify and atomic write (a temporary
// file renamed over the old), under an exclusive flock on the run folder so that concurrent
// writers (a training and a `rank`) lose no entry. Error(kIo) when the file cannot be
// written; Error(kInput) as read_clip_scores when the old file is damaged.
void record_clip_score(const std::filesystem::path& run_dir, const std::string& checkpoint_name,
                       const nlohmann::json& entry);

// The run's scores; {} when the file is absent. Error(kInput) naming the file when it is not
// a JSON object of entries with a numeric "score".
nlohmann::json read_clip_scores(const std::filesystem::path& run_dir);

struct ScoredCheckpoint {
  std::filesystem::path path;
  double score = 0;
  std::int64_t step = 0;
};

// The existing checkpoint files of a run folder, or of every run folder of an id folder,
// that have a score: best first, ties to the later step.
std::vector<ScoredCheckpoint> scored_checkpoints(const std::filesystem::path& run_or_id_dir);

}  // namespace srnn
