#include "train/train-options.h"

#include <cmath>

#include "core/error.h"
#include "core/naming.h"
#include "core/sparsity.h"
#include "train/dataset.h"

namespace srnn {
namespace fs = std::filesystem;

void check_train_options(const TrainOptions& o) {
  // The id names a folder under --logdir_root and --output_dir: it must stay inside them.
  if (o.id.empty() || o.id == "." || o.id == ".." || o.id.find('/') != std::string::npos) {
    throw Error(ErrorKind::kUsage, "--id '" + o.id + "' is not a plain name",
                "use a name without '/', such as --id aamgen; it becomes a folder under --logdir_root");
  }
  if (o.lr_half_life_steps < 0) {
    throw Error(ErrorKind::kUsage, "--lr_half_life_steps must be 0 (no decay) or a number of steps",
                "such as --lr_half_life_steps 5000: the rate halves every 5,000 steps");
  }
  if (o.lr_warmup_steps < -1) {
    throw Error(ErrorKind::kUsage, "--lr_warmup_steps must be -1 (automatic), 0 (none) or a number of steps");
  }
  if (!(std::isfinite(o.learning_rate) && o.learning_rate >= 0)) {
    throw Error(ErrorKind::kUsage, "--learning_rate must be a finite number of at least 0");
  }
  if (!(std::isfinite(o.momentum) && o.momentum >= 0 && o.momentum < 1)) {
    throw Error(ErrorKind::kUsage, "--momentum must be in [0, 1)");
  }
  // A clip is generated in memory after every checkpoint: an hour per clip, 256 clips at most.
  if (o.output_file_dur > 3600) throw Error(ErrorKind::kUsage, "--output_file_dur must be at most 3600 seconds");
  if (o.max_generate_per_epoch > 256) throw Error(ErrorKind::kUsage, "--max_generate_per_epoch must be at most 256");
  if (o.num_epochs < 1) throw Error(ErrorKind::kUsage, "--num_epochs must be at least 1");
  if (o.checkpoint_every < 1) throw Error(ErrorKind::kUsage, "--checkpoint_every must be at least 1");
  if (o.checkpoint_policy != "Always" && o.checkpoint_policy != "Best" && o.checkpoint_policy != "Clips") {
    throw Error(ErrorKind::kUsage, "--checkpoint_policy must be Always, Best or Clips, got '" + o.checkpoint_policy + "'");
  }
  if (o.checkpoint_policy == "Clips" && !(o.generate && o.max_generate_per_epoch > 0)) {
    throw Error(ErrorKind::kUsage, "--checkpoint_policy Clips scores the clips written after each checkpoint",
                "keep --generate True and --max_generate_per_epoch at least 1, or use --checkpoint_policy Always");
  }
  if (o.val_split != "files" && o.val_split != "time") {
    throw Error(ErrorKind::kUsage, "--val_split must be files or time, got '" + o.val_split + "'");
  }
  if (!(std::isfinite(o.max_minutes) && o.max_minutes >= 0)) {
    throw Error(ErrorKind::kUsage, "--max_minutes must be 0 (no limit) or a number of minutes",
                "such as --max_minutes 20: training stops with a checkpoint after 20 minutes");
  }
  parse_augment(o.augment);
  if (o.monitor != "loss" && o.monitor != "accuracy" && o.monitor != "val_loss" && o.monitor != "val_accuracy") {
    throw Error(ErrorKind::kUsage, "--monitor must be loss, accuracy, val_loss or val_accuracy, got '" + o.monitor + "'");
  }
  if (o.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
  if (o.output_file_dur < 1) throw Error(ErrorKind::kUsage, "--output_file_dur must be at least 1 second");
  if (o.dist_timeout_s < 1) throw Error(ErrorKind::kUsage, "--dist_timeout must be at least 1 second");
  if (!(o.sparsity >= 0 && o.sparsity <= 0.99)) {
    throw Error(ErrorKind::kUsage, "--sparsity must be in [0, 0.99]", "0.9 prunes 90% of the blocks; 0 turns pruning off");
  }
  parse_block_shape(o.sparse_block);
  if (o.sparsity > 0 && !(o.prune_start >= 0 && o.prune_end > o.prune_start)) {
    throw Error(ErrorKind::kUsage, "--prune_end must come after --prune_start, both steps of at least 0",
                "such as --prune_start 2000 --prune_end 20000");
  }
  check_temperatures(o.temperature);
  check_top_p(o.top_p);
}

double lr_for_epoch(const TrainOptions& o, int epoch_index) {
  if (o.reduce_learning_rate_after <= 0 || epoch_index < o.reduce_learning_rate_after) return o.learning_rate;
  return o.learning_rate * std::exp(-0.1 * (epoch_index - o.reduce_learning_rate_after + 1));
}

double lr_half_life_factor(const TrainOptions& o, std::int64_t steps_done) {
  if (o.lr_half_life_steps <= 0) return 1.0;
  return std::exp2(-static_cast<double>(steps_done) / static_cast<double>(o.lr_half_life_steps));
}

PruneOptions prune_options(const TrainOptions& o) {
  PruneOptions p;
  p.sparsity = o.sparsity;
  p.block = parse_block_shape(o.sparse_block);
  p.start = o.prune_start;
  p.end = o.prune_end;
  p.sample_tier = o.prune_sample_tier;
  return p;
}

bool higher_is_better(const std::string& monitor) { return monitor.find("accuracy") != std::string::npos; }

nlohmann::json run_flags(const TrainOptions& o, const StartPlan& plan, const DatasetOptions& data,
                         const std::string& device, int processes) {
  return nlohmann::json{{"id", o.id}, {"data_dir", o.data_dir.string()}, {"batch_size", data.batch_size},
          {"num_epochs", o.num_epochs}, {"optimizer", o.optimizer}, {"learning_rate", o.learning_rate},
          {"reduce_learning_rate_after", o.reduce_learning_rate_after}, {"lr_warmup_steps", o.lr_warmup_steps},
          {"lr_half_life_steps", o.lr_half_life_steps},
          {"momentum", o.momentum},
          {"monitor", o.monitor}, {"checkpoint_every", o.checkpoint_every},
          {"checkpoint_policy", o.checkpoint_policy}, {"max_checkpoints", o.max_checkpoints},
          {"early_stopping_patience", o.early_stopping_patience}, {"sample_rate", data.sample_rate_hz},
          {"val_frac", data.val_frac}, {"val_split", data.val_split}, {"augment", o.augment},
          {"max_minutes", o.max_minutes}, {"rng_seed", plan.rng_seed}, {"num_threads", o.num_threads},
          {"resumed_from", plan.checkpoint.string()}, {"output_dir", fs::absolute(o.output_dir).string()},
          {"generate", o.generate}, {"device", device}, {"precision", o.precision},
          {"processes", processes}, {"sparsity", o.sparsity}, {"sparse_block", o.sparse_block},
          {"prune_start", o.prune_start}, {"prune_end", o.prune_end},
          {"prune_sample_tier", o.prune_sample_tier}};
}

std::string run_fingerprint(const TrainOptions& o, const StartPlan& plan, const DataSplit& split) {
  std::string s = to_json(plan.config).dump() + "|" + split.files_hash + "|" + split.train_hash;
  for (const std::string& v : {std::to_string(plan.rng_seed), plan.checkpoint.string(), std::to_string(plan.batch_size),
                               std::to_string(o.num_epochs), o.optimizer, std::to_string(o.learning_rate),
                               std::to_string(o.max_steps), std::to_string(plan.val_frac), o.precision,
                               std::to_string(o.sparsity) + o.sparse_block + std::to_string(o.prune_start) + "-" +
                                   std::to_string(o.prune_end) + (o.prune_sample_tier ? "s" : "")}) {
    s += "|" + v;
  }
  return fnv1a_hex(s);
}

}  // namespace srnn
