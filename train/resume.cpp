#include "train/resume.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/run-layout.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

bool given(const TrainOptions& o, const char* flag) { return o.given.count(flag) > 0; }

std::string where(const fs::path& checkpoint, const TrainState& s) {
  return checkpoint.string() + " (epoch " + std::to_string(s.epoch) + (s.epoch_complete ? "" : ", partly done") +
         ", step " + std::to_string(s.step) + ")";
}

// The checkpoint to continue: the newest of the id, or --resume_from's checkpoint unless the
// id holds a newer run that started from it.
fs::path pick_checkpoint(const TrainOptions& o, std::string* origin, std::vector<std::string>* notes) {
  if (!o.resume) return {};
  const fs::path latest = latest_checkpoint(o.logdir_root / o.id);
  if (o.resume_from.empty()) return latest;
  // A file, or a run or id folder for its newest checkpoint (not its best-scored: a run
  // continues from where it stopped).
  const fs::path from = latest_checkpoint_path(o.resume_from);
  *origin = absolute_normal(from);
  if (latest.empty() || absolute_normal(latest) == *origin) return from;
  try {
    const CheckpointInfo newer = read_checkpoint_info(latest);
    if (newer.train.origin == *origin) {
      notes->push_back("--resume_from " + from.string() + ": continuing the newer run that started from it, " +
                       where(latest, newer.train) + "; use a new --id to start again from " + from.string() + ".");
      return latest;
    }
  } catch (const Error& e) {
    log_warn("cannot read the newest checkpoint of '" + o.id + "' (" + e.message() + "); resuming from " +
             from.string());
  }
  return from;
}

ModelConfig pick_config(const TrainOptions& o, const StartPlan& plan) {
  std::vector<std::string> warnings;
  ModelConfig config;
  if (!plan.checkpoint.empty()) {
    config = plan.info.config;
    if (o.config_file_given) {
      const std::string diff = config_differences(config, load_model_config(o.config_file, &warnings));
      if (!diff.empty()) {
        throw Error(ErrorKind::kConfig, "--config_file disagrees with checkpoint '" + plan.checkpoint.string() +
                                            "' (checkpoint != file): " + diff,
                    "drop --config_file to use the checkpoint's config, or pass --resume False to start afresh");
      }
    }
  } else if (o.config_file_given || fs::exists(o.config_file)) {
    config = load_model_config(o.config_file, &warnings);
  }
  for (const auto& w : warnings) log_warn(w);
  return config;
}

// A resumed run's flags against the checkpoint's: taken when not given, named when they
// differ. The model's sample rate cannot change.
void reconcile_flags(const TrainOptions& o, StartPlan& plan) {
  const TrainState& s = plan.info.train;
  const int model_rate = plan.info.sample_rate_hz;
  if (model_rate > 0 && given(o, "sample_rate") && o.sample_rate != model_rate) {
    throw Error(ErrorKind::kConfig,
                "--sample_rate " + std::to_string(o.sample_rate) + " contradicts checkpoint '" + plan.checkpoint.string() +
                    "', a model of " + std::to_string(model_rate) + " Hz audio",
                "drop --sample_rate, and prepare the data at " + std::to_string(model_rate) +
                    " Hz (samplernn chunk --sample_rate " + std::to_string(model_rate) + ")");
  }
  // A format-1 checkpoint does not record its rate: --sample_rate as given (16000 by default).
  plan.sample_rate_hz = model_rate > 0 ? model_rate : o.sample_rate;
  if (o.rng_seed < 0) plan.rng_seed = s.rng_seed;
  if (!s.data.recorded()) return;
  // An automatic batch (0) is chosen anew for the data at hand.
  if (!given(o, "batch_size") && o.batch_size != 0) plan.batch_size = s.data.batch_size;
  if (!given(o, "val_frac")) plan.val_frac = s.data.val_frac;
  plan.same_data_dir = s.data.data_dir == absolute_normal(o.data_dir);
  if (!plan.same_data_dir) {
    plan.notes.push_back("Continuing on other data: '" + o.data_dir.string() + "' (the checkpoint trained on '" +
                         s.data.data_dir + "'), with a new train/validation split.");
    return;
  }
  std::vector<std::string> changed;
  if (plan.batch_size != 0 && plan.batch_size != s.data.batch_size) {
    changed.push_back("--batch_size " + std::to_string(plan.batch_size) + " (checkpoint: " +
                      std::to_string(s.data.batch_size) + ")");
  }
  if (plan.val_frac != s.data.val_frac) {
    changed.push_back("--val_frac " + fixed(plan.val_frac, 3) + " (checkpoint: " + fixed(s.data.val_frac, 3) + ")");
  }
  if (plan.rng_seed != s.data.rng_seed) {
    changed.push_back("--rng_seed " + std::to_string(plan.rng_seed) + " (checkpoint: " + std::to_string(s.data.rng_seed) +
                      ")");
  }
  for (const std::string& c : changed) {
    plan.notes.push_back(c + ": the checkpoint's " + std::to_string(s.data.val_files.size()) +
                         " validation files stay in validation; use --resume False for a new split.");
  }
}

}  // namespace

DatasetOptions StartPlan::dataset_options(const fs::path& data_dir) const {
  DatasetOptions d;
  d.data_dir = data_dir;
  d.batch_size = batch_size;
  d.val_frac = val_frac;
  d.sample_rate_hz = sample_rate_hz;
  d.rng_seed = rng_seed;
  d.model = config;
  d.keep_val_files = same_data_dir;
  if (same_data_dir) d.val_files = info.train.data.val_files;
  return d;
}

StartPlan plan_start(const TrainOptions& o) {
  StartPlan plan;
  plan.checkpoint = pick_checkpoint(o, &plan.origin, &plan.notes);
  plan.batch_size = o.batch_size;
  plan.val_frac = o.val_frac;
  if (!plan.checkpoint.empty()) {
    plan.info = read_checkpoint_info(plan.checkpoint);
    // A plain resume carries the lineage on; --resume_from's own file starts one.
    if (o.resume_from.empty() || absolute_normal(plan.checkpoint) != plan.origin) plan.origin = plan.info.train.origin;
  }
  plan.config = pick_config(o, plan);
  if (o.rng_seed >= 0) {
    plan.rng_seed = static_cast<std::uint64_t>(o.rng_seed);
  } else {
    plan.rng_seed = std::random_device{}() & 0x7fffffff;  // replaced by the checkpoint's below
  }
  if (plan.checkpoint.empty()) {
    plan.sample_rate_hz = given(o, "sample_rate") ? o.sample_rate : 0;
  } else {
    reconcile_flags(o, plan);
  }
  return plan;
}

TrainState continue_state(const StartPlan& plan, const DataSplit& split, bool has_rnn_state) {
  TrainState s;
  if (!plan.checkpoint.empty()) s = plan.info.train;
  s.origin = plan.origin;
  s.rng_seed = plan.rng_seed;
  if (plan.same_data_dir && s.data.files_hash != split.files_hash) {
    const std::size_t before = static_cast<std::size_t>(s.data.n_train_files) + s.data.val_files.size();
    const std::size_t now = static_cast<std::size_t>(split.n_train_files) + split.val_files.size();
    log_info("'" + split.data_dir + "' has changed since the checkpoint (" + std::to_string(now) +
             " files in the split, " + std::to_string(before) + " before): new files join training, and " +
             std::to_string(split.val_files.size()) + " of its " + std::to_string(s.data.val_files.size()) +
             " validation files are still there to validate on.");
  }
  if (plan.checkpoint.empty() || s.epoch_complete) return s;
  bool same = !s.data.files_hash.empty() && s.data.files_hash == split.files_hash;
  if (s.data.recorded()) {
    same = same && s.data.train_hash == split.train_hash && s.data.batch_size == split.batch_size &&
           s.data.rng_seed == split.rng_seed;
  }
  if (!same) {
    log_info("The checkpoint's epoch " + std::to_string(s.epoch) +
             " was partly done on other data, or with another --batch_size or --rng_seed; starting epoch " +
             std::to_string(s.epoch + 1) + ".");
    s.epoch_complete = true;
    s.batch = s.window = 0;
    s.loss_sum = s.accuracy_sum = s.epoch_seconds = 0;
    s.epoch_steps = 0;
  } else if (s.window > 0 && !has_rnn_state) {
    log_info("The checkpoint stopped inside batch " + std::to_string(s.batch + 1) +
             " but holds no RNN state (weights only); that batch starts again.");
    s.window = 0;
  }
  return s;
}

}  // namespace srnn
