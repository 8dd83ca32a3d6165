// Where a training run starts, decided before any tensor exists: which checkpoint it
// continues (if any), the options reconciled with that checkpoint, and, once the data is
// listed, whether a partly done epoch can be continued exactly. Torch-free.
//
// Rules (docs/guide.md, "Resume"):
// - --resume True continues the newest checkpoint of the id. --resume_from X continues X,
//   unless the id already holds a newer run that started from X: then that run goes on (a
//   rerun of the same command never throws away its interrupted steps).
// - Flags a resumed run was not given take the checkpoint's values: --sample_rate,
//   --batch_size, --val_frac, --rng_seed. A --sample_rate that contradicts the model is an
//   error; other differing flags are named in one line each.
// - On the checkpoint's data folder, its validation files stay in validation whatever the
//   flags; on another folder a new split is made, and said so.
// - A partly done epoch continues exactly (same batch, same window, same RNN state) only on
//   the same files, batch size and seed; otherwise the next epoch starts, and said so.
//
//   srnn::StartPlan plan = srnn::plan_start(options);
//   srnn::Dataset data(plan.dataset_options(options.data_dir));
//   srnn::TrainState state = srnn::continue_state(plan, data.split());
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/checkpoint-info.h"
#include "train/dataset.h"
#include "train/train.h"

namespace srnn {

struct StartPlan {
  std::filesystem::path checkpoint;  // empty: a fresh start
  CheckpointInfo info;               // the checkpoint's (fresh: defaults)
  ModelConfig config;
  int sample_rate_hz = 0;            // 0: the data's own rate (fresh start, not given)
  int batch_size = 0;
  double val_frac = 0;
  std::uint64_t rng_seed = 0;
  std::string origin;                // the lineage's --resume_from file
  bool same_data_dir = false;        // the checkpoint's data folder is --data_dir
  // What the user should know of these decisions, one line each: logged once the data has
  // loaded, so that bad input still gives its one error line alone.
  std::vector<std::string> notes;

  // The dataset options this plan implies.
  DatasetOptions dataset_options(const std::filesystem::path& data_dir) const;
};

// Picks the checkpoint and reconciles the options with it; one line in `notes` per decision
// the user should know about. Error(kConfig/kInput/kUsage) for contradictions.
StartPlan plan_start(const TrainOptions& options);

// The state the run starts from: the checkpoint's, moved on to the next epoch when its
// partly done epoch cannot be continued exactly on `split`; a fresh state otherwise.
// `has_rnn_state`: the checkpoint holds the RNN state of its stop inside a batch.
TrainState continue_state(const StartPlan& plan, const DataSplit& split, bool has_rnn_state);

}  // namespace srnn
