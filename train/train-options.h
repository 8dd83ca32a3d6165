// What `samplernn train` decides from its options alone, torch-free: checks of the flags, the
// learning-rate schedule, the pruning asked for, the monitor's direction, the flags recorded in
// run.json and the fingerprint every rank must agree on.
//
//   srnn::check_train_options(o);  // Error(kUsage) naming the flag
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/sparsity.h"
#include "train/dataset.h"
#include "train/resume.h"
#include "train/train.h"

namespace srnn {

// Error(kUsage) naming the first flag out of range, before anything is read or written.
void check_train_options(const TrainOptions& o);

// PRiSM's scheduler, applied at the start of each epoch (0-based): from epoch N on,
// lr *= exp(-0.1) each epoch.
double lr_for_epoch(const TrainOptions& o, int epoch_index);

// The factor of --lr_half_life_steps for the step after `steps_done`: 0.5^(steps_done / N),
// 1 when N is 0. It depends on the step count alone, so a resumed run continues it exactly.
double lr_half_life_factor(const TrainOptions& o, std::int64_t steps_done);

// The pruning the flags ask for (--sparse_block parsed).
PruneOptions prune_options(const TrainOptions& o);

// True when a larger value of the monitored metric is better (accuracy).
bool higher_is_better(const std::string& monitor);

// The "flags" object of run.json: the options as the run uses them.
nlohmann::json run_flags(const TrainOptions& o, const StartPlan& plan, const DatasetOptions& data,
                         const std::string& device, int processes);

// What every rank must agree on: the config, the flags that shape training, and the data.
std::string run_fingerprint(const TrainOptions& o, const StartPlan& plan, const DataSplit& split);

}  // namespace srnn
