// The training loop of `samplernn train` (train/train.h). Its whole resumable state is one
// TrainState (core/train-state.h); every checkpoint holds it, so that a run stopped anywhere
// continues exactly.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "audio/stats.h"
#include "core/clip-scores.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/run-layout.h"
#include "train/checkpoint.h"
#include "train/clips.h"
#include "train/dataset.h"
#include "train/distributed.h"
#include "train/resume.h"
#include "train/train-log.h"
#include "train/train-options.h"
#include "train/train-step.h"
#include "train/train.h"
#include "viz/report.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path find_latest_checkpoint(const fs::path& logdir_root, const std::string& id) {
  return latest_checkpoint(logdir_root / id);
}

namespace {

class Trainer {
 public:
  explicit Trainer(const TrainOptions& o) : o_(o) {}
  int run();

 private:
  void join_ranks();
  void begin_warmup(bool has_moments);
  void plan();
  void prepare();
  void restore();
  void open_run_folder();
  bool train_epoch(int epoch);
  void begin_epoch(int epoch);
  std::optional<Batch> next_batch(BatchLoader& loader);
  void train_window(const Batch& batch, int w, std::int64_t steps_in_epoch);
  void keep_steps_before_failing();
  void finish_epoch();
  StepResult validate();
  void save();
  int stop();
  bool budget_spent() const {
    return (o_.max_steps > 0 && state_.step >= o_.max_steps) ||
           (o_.max_minutes > 0 && minutes_since(started_) >= o_.max_minutes);
  }
  static double minutes_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count() / 60.0;
  }
  void write_clips_and_score(int epoch);
  void keep_best_by_clips();

  TrainOptions o_;
  std::unique_ptr<DirectoryLock> lock_;  // rank 0's hold on the id's folder
  DistEnv env_;
  bool writer_ = true;  // rank 0 alone writes files
  std::unique_ptr<Collective> dist_;
  torch::Device device_{torch::kCPU};
  Precision precision_ = Precision::kFp32;
  StartPlan plan_;
  std::unique_ptr<Dataset> data_;
  Shard shard_;
  SampleRNN model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<LossScaler> scaler_;
  std::unique_ptr<Pruner> pruner_;
  StepOptions step_options_;
  TrainState state_;
  ModelState carried_;  // the RNN state carried from window to window of a batch
  std::vector<std::int32_t> clip_seed_;
  fs::path run_dir_, last_checkpoint_;
  std::unique_ptr<TrainLog> log_;
  bool stop_requested_ = false, early_stop_ = false;
  std::int64_t steps_this_run_ = 0;
  double lr_ = 0;
  nlohmann::json corpus_stats_;  // the training data's statistics, for every checkpoint
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();  // --max_minutes counts from here
};

// Data-parallel training when started by `--nproc` or torchrun-style variables.
void Trainer::join_ranks() {
  env_ = dist_env_from_environment();
  writer_ = env_.rank == 0;
  if (env_.world_size > 1) {
    if (!writer_) {
      set_log_prefix("[rank " + std::to_string(env_.rank) + "] ");
      set_log_quiet(true);
    }
  }
  device_ = resolve_device(o_.device, env_.local_rank);
  if (env_.world_size > 1) dist_ = std::make_unique<Collective>(env_, std::chrono::seconds(o_.dist_timeout_s), device_);
  precision_ = parse_precision(o_.precision, device_);
  shard_ = Shard{env_.rank, env_.world_size};
}

// Rank 0 decides where to start; the others follow its checkpoint and seed.
void Trainer::plan() {
  if (writer_) plan_ = plan_start(o_);
  if (!dist_) return;
  TrainOptions follow = o_;
  follow.resume_from = dist_->broadcast_string("checkpoint", plan_.checkpoint.string());
  follow.resume = !follow.resume_from.empty();
  follow.rng_seed = std::stoll(dist_->broadcast_string("rng_seed", std::to_string(plan_.rng_seed)));
  if (!writer_) plan_ = plan_start(follow);
}

void Trainer::prepare() {
  plan();
  if (plan_.batch_size % env_.world_size != 0) {
    throw Error(ErrorKind::kUsage,
                "--batch_size " + std::to_string(plan_.batch_size) + " does not split evenly over " +
                    std::to_string(env_.world_size) + " processes",
                "use a multiple of the number of processes: --batch_size is the global batch");
  }
  torch::manual_seed(plan_.rng_seed);
  DatasetOptions data_options = plan_.dataset_options(o_.data_dir);
  data_options.val_split = o_.val_split;
  data_options.augment = parse_augment(o_.augment);
  data_ = std::make_unique<Dataset>(data_options);
  for (const auto& n : plan_.notes) log_info(n);
  for (const auto& w : data_->warnings()) log_warn(w);
  if (data_->val_files().empty() && o_.monitor.rfind("val_", 0) == 0) {
    throw Error(ErrorKind::kUsage,
                "--monitor " + o_.monitor + " needs validation files, and this run has none (--val_frac " +
                    fixed(data_->options().val_frac, 2) + (plan_.same_data_dir ? ", as in the checkpoint)" : ")"),
                "set --val_frac above 0 (a resumed run keeps its checkpoint's split: --resume False for a new one), "
                "or --monitor loss");
  }
  if (dist_) dist_->check_agreement("the config, the flags or the data", run_fingerprint(o_, plan_, data_->split()));

  clip_seed_ = training_clip_seed(o_, plan_.config, data_->sample_rate_hz());

  model_ = SampleRNN(plan_.config);
  model_->to(device_);
  optimizer_ = make_optimizer(o_.optimizer, o_.learning_rate, o_.momentum, model_, o_.optimizer_style);
  params_ = model_->parameters();
  scaler_ = std::make_unique<LossScaler>(precision_ == Precision::kFp16);
  restore();
  // Every rank starts from rank 0's weights, whatever its own initialisation or file gave.
  if (dist_) dist_->broadcast(params_);

  // One step's collective: the gradients, averaged, with the metrics and the stop flag
  // summed in the same all-reduce, so every rank stops at the same step.
  step_options_.precision = precision_;
  step_options_.scaler = scaler_->enabled() ? scaler_.get() : nullptr;
  step_options_.after_backward = [this](StepResult& r) {
    std::vector<double> sums = {r.loss, r.accuracy, interrupted() ? 1.0 : 0.0};
    if (dist_) dist_->average_gradients(params_, &sums);
    const double n = dist_ ? dist_->world_size() : 1;
    r.loss = sums[0] / n;
    r.accuracy = sums[1] / n;
    stop_requested_ = sums[2] > 0;
  };
}

// The checkpoint's weights, optimiser, RNG, state, carried RNN state and pruning masks.
void Trainer::restore() {
  ModelState stored;
  PruneMasks masks;
  if (!plan_.checkpoint.empty()) {
    const bool same_optimizer = plan_.info.train.optimizer == o_.optimizer;
    if (!same_optimizer) {
      log_warn("the checkpoint used optimizer " + plan_.info.train.optimizer + "; starting " + o_.optimizer + " afresh");
    }
    load_checkpoint(plan_.checkpoint, model_, same_optimizer ? optimizer_.get() : nullptr, &stored, &masks);
  }
  std::map<std::string, at::Tensor> params;
  for (const auto& item : model_->named_parameters()) params[item.key()] = item.value();
  pruner_ = std::make_unique<Pruner>(plan_.config, params, prune_options(o_), masks);
  if (!masks.empty() && !pruner_->active()) {
    log_warn("the checkpoint was pruned; without --sparsity its pruned weights are free to grow again");
  }
  const bool has_moments = !optimizer_->state().empty();
  state_ = continue_state(plan_, data_->split(), !stored.empty());
  if (!state_.epoch_complete && state_.window > 0) {
    const std::int64_t B = data_->options().batch_size, n = B / env_.world_size;
    if (stored[0].h[0].size(1) != B) {
      throw Error(ErrorKind::kInput, "'" + plan_.checkpoint.string() + "' holds the RNN state of a batch of " +
                                         std::to_string(stored[0].h[0].size(1)) + " files, not " + std::to_string(B),
                  "the checkpoint is damaged; resume from an earlier one");
    }
    carried_ = rows_of(stored, env_.rank * n, n, device_);
  }
  state_.data = data_->split();
  state_.optimizer = o_.optimizer;
  if (state_.monitor != o_.monitor) {
    state_.best.reset();
    state_.epochs_without_improvement = 0;
  }
  state_.monitor = o_.monitor;
  if (scaler_->enabled() && state_.loss_scale > 0) scaler_->restore(state_.loss_scale, state_.loss_scale_good_steps);
  last_checkpoint_ = plan_.checkpoint;
  if (!plan_.checkpoint.empty()) {
    log_info("Resuming from " + plan_.checkpoint.string() + " (epoch " + std::to_string(plan_.info.train.epoch) +
             (plan_.info.train.epoch_complete ? "" : ", partly done") + ", step " + std::to_string(state_.step) + ")");
  }
  begin_warmup(has_moments);
}

// Without optimiser moments (a fresh start, or a checkpoint of weights only) a warm-up can
// begin: for a checkpoint of weights only by default, since fresh Adam moments at the full
// rate would first undo much of what the model learnt. A warm-up in progress in the
// checkpoint continues as it was.
void Trainer::begin_warmup(bool has_moments) {
  if (has_moments || o_.lr_warmup_steps == 0) return;
  const std::int64_t steps = o_.lr_warmup_steps > 0 ? o_.lr_warmup_steps : plan_.checkpoint.empty() ? 0 : kAutoWarmupSteps;
  if (steps == 0) return;
  state_.warmup_start = state_.step;
  state_.warmup_steps = steps;
  log_info(std::string(plan_.checkpoint.empty() ? "A fresh start" : "The checkpoint holds no optimiser moments") +
           ": the learning rate rises from 0 over the first " + std::to_string(steps) + " steps (--lr_warmup_steps)");
}

// A new run folder with run.json. Run folders are named to the second; a second run within
// the same second waits for the next name rather than sharing a folder.
void Trainer::open_run_folder() {
  fs::path dir = o_.logdir_root / o_.id / run_folder_name_now();
  for (int i = 0; i < 20 && fs::exists(dir); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dir = o_.logdir_root / o_.id / run_folder_name_now();
  }
  if (fs::exists(dir)) throw Error(ErrorKind::kIo, "run folder '" + dir.string() + "' already exists");
  ensure_directory(dir);
  const DatasetOptions& d = data_->options();
  const json flags = run_flags(o_, plan_, d, device_.str(), env_.world_size);
  const fs::path run_json = dir / "run.json";
  std::ofstream out(run_json);
  out << json{{"config", to_json(plan_.config)}, {"flags", flags}}.dump(2) << '\n';
  if (!out.flush()) throw Error(ErrorKind::kIo, "cannot write '" + run_json.string() + "'");
  run_dir_ = dir;
  log_ = std::make_unique<TrainLog>(run_dir_, o_.num_epochs, o_.verbose);
  for (const std::string& line : o_.preamble) log_info(line);
  log_info("Run folder " + run_dir_.string() + "; " + std::to_string(data_->train_files().size()) + " training and " +
           std::to_string(data_->val_files().size()) + " validation files (" +
           (d.val_split == "time" ? "the last part of each track" : "whole files") + ") at " +
           std::to_string(data_->sample_rate_hz()) + " Hz; batch " + std::to_string(d.batch_size) +
           (o_.batch_size == 0 ? " (automatic)" : "") + "; rng_seed " + std::to_string(plan_.rng_seed) + "; " +
           device_.str() + ", " + precision_name(precision_) +
           (o_.precision == "auto" ? (precision_ == Precision::kBf16 ? " (auto: bf16 arithmetic on this device)"
                                                                     : " (auto: no bf16 arithmetic on this CPU)")
                                   : "") +
           (dist_ ? ", " + std::to_string(env_.world_size) + " processes" : std::string()));
  if (d.augment.any()) log_info("Augmenting the training batches: " + describe(d.augment) + " (--augment)");
  if (o_.max_minutes > 0) log_info("Training for at most " + fixed(o_.max_minutes, 1) + " minutes (--max_minutes).");
  if (pruner_->active()) log_info("Pruning " + describe(prune_options(o_)));
  // What the clips will be set beside (stats, docs/cli.md): a sample of the training files.
  std::vector<fs::path> paths;
  for (const AudioFileEntry& f : data_->train_files()) paths.push_back(f.path);
  const StatsDistribution corpus = stats_of_files(paths, data_->sample_rate_hz(), kCorpusStatsFiles);
  corpus_stats_ = to_json(corpus);
  log_info("Training data: " + distribution_line(corpus));
}

int Trainer::run() {
  check_train_options(o_);
  torch::set_num_threads(o_.num_threads);
  join_ranks();
  prepare();
  if (state_.next_epoch() > o_.num_epochs) {
    log_info("The checkpoint has already trained " + std::to_string(state_.epoch) + " of --num_epochs " +
             std::to_string(o_.num_epochs) + " epochs; nothing to do (raise --num_epochs to continue).");
    return 0;
  }
  if (budget_spent()) {
    log_info("The checkpoint has already taken " + std::to_string(state_.step) + " of --max_steps " +
             std::to_string(o_.max_steps) + " steps; nothing to do (raise --max_steps to continue).");
    return 0;
  }
  if (writer_) {
    // One training per id at a time: two would share run folders, logs and checkpoints.
    lock_ = std::make_unique<DirectoryLock>(o_.logdir_root / o_.id, "training id '" + o_.id + "' in '" +
                                                                       o_.logdir_root.string() + "'");
    int stale = remove_stale_temp_files(o_.logdir_root / o_.id) + remove_stale_temp_files(o_.output_dir / o_.id);
    for (const fs::path& run : run_folders(o_.logdir_root / o_.id)) stale += remove_stale_temp_files(run);
    if (stale > 0) log_info("Removed " + std::to_string(stale) + " temporary files left by an interrupted run.");
    open_run_folder();
  }
  const InterruptScope interrupt;  // Ctrl-C and SIGTERM stop after the step, with a checkpoint
  for (int epoch = state_.next_epoch(); epoch <= o_.num_epochs && !early_stop_; ++epoch) {
    if (!train_epoch(epoch)) return stop();
    finish_epoch();
  }
  if (dist_) log_info("Communication took " + fixed(dist_->comm_seconds(), 1) + " s in all.");
  log_info("Training finished." + (writer_ ? " Checkpoints are in " + run_dir_.string() : std::string()) +
           (writer_ && o_.generate ? "; clips in " + (o_.output_dir / o_.id).string() : std::string()) + ".");
  return 0;
}

// Trains `epoch` from the state's position; false when a stop comes before its end.
// Resets the state for a new epoch (a resumed one keeps its position) and sets its rate.
void Trainer::begin_epoch(int epoch) {
  if (state_.epoch_complete) {
    state_.epoch = epoch;
    state_.epoch_complete = false;
    state_.batch = state_.window = 0;
    state_.loss_sum = state_.accuracy_sum = state_.epoch_seconds = 0;
    state_.epoch_steps = 0;
  }
  lr_ = lr_for_epoch(o_, epoch - 1);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr_);
  state_.learning_rate = lr_;
  model_->train();
}

// Trains `epoch` from the state's position; false when a stop comes before its end.
bool Trainer::train_epoch(int epoch) {
  begin_epoch(epoch);
  const auto batches = data_->train_batches(epoch);
  std::int64_t steps_in_epoch = 0;
  for (const auto& b : batches) steps_in_epoch += data_->windows_in(b);
  const auto first = batches.begin() + std::min<std::size_t>(state_.batch, batches.size());
  BatchLoader loader(*data_, std::vector<std::vector<AudioFileEntry>>(first, batches.end()), shard_);
  const double seconds_before = state_.epoch_seconds;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    while (auto batch = next_batch(loader)) {
      if (state_.window == 0) carried_ = model_->initial_state(batch->batch_size);
      for (int w = state_.window; w < batch->n_windows; ++w) {
        train_window(*batch, w, steps_in_epoch);
        state_.window = w + 1;
        if (state_.window == batch->n_windows) {
          ++state_.batch;
          state_.window = 0;
        }
        state_.epoch_seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (stop_requested_ || budget_spent()) return false;
      }
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kDiverged) keep_steps_before_failing();
    throw;
  } catch (const std::exception&) {
    keep_steps_before_failing();
    throw;
  }
  return true;
}

// The next batch, skipping with a warning one whose files fail to load (changed or damaged
// since they were listed); every rank skips it together. nullopt at the epoch's end.
std::optional<Batch> Trainer::next_batch(BatchLoader& loader) {
  for (;;) {
    std::optional<Batch> batch;
    std::string failure;
    try {
      batch = loader.next();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInput) throw;
      failure = e.message();
    }
    const bool skip = dist_ ? dist_->sum({failure.empty() ? 0.0 : 1.0})[0] > 0 : !failure.empty();
    if (!skip) return batch;
    log_warn("skipping batch " + std::to_string(state_.batch + 1) + " of epoch " + std::to_string(state_.epoch) + ": " +
             (failure.empty() ? "a file failed to load on another rank" : failure));
    ++state_.batch;
    state_.window = 0;
  }
}

// A failure inside an epoch (a lost rank, a full disk, no memory) keeps the steps done so
// far in a checkpoint on rank 0, unless the weights went bad. The batch in progress starts
// again on resume: after a failed step or collective its RNN state cannot be trusted, and a
// lost rank took its share of it along.
void Trainer::keep_steps_before_failing() {
  if (!writer_ || steps_this_run_ == 0 || run_dir_.empty()) return;
  state_.window = 0;
  try {
    save();
    log_info("Kept the steps done so far; rerun the same command to resume.");
  } catch (const std::exception& e) {
    log_warn(std::string("could not keep the steps done so far: ") + e.what());
  }
}

void Trainer::train_window(const Batch& batch, int w, std::int64_t steps_in_epoch) {
  const auto t0 = std::chrono::steady_clock::now();
  const double comm0 = dist_ ? dist_->comm_seconds() : 0.0;
  const double lr = lr_ * state_.warmup_factor() * lr_half_life_factor(o_, state_.step);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  const StepResult r = train_step(model_, *optimizer_, window_tensor(batch, w, device_), carried_, step_options_);
  if (!std::isfinite(r.loss)) {
    throw Error(ErrorKind::kDiverged,
                "the loss became " + std::to_string(r.loss) + " at epoch " + std::to_string(state_.epoch) + ", step " +
                    std::to_string(state_.step + 1) + "; training stopped" +
                    (last_checkpoint_.empty() ? std::string() : "; the last good checkpoint is " + last_checkpoint_.string()),
                "lower --learning_rate, or resume from the last checkpoint");
  }
  ++state_.step;
  if (!r.skipped) pruner_->after_step(state_.step);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++state_.epoch_steps;
  ++steps_this_run_;
  state_.loss_sum += r.loss;
  state_.accuracy_sum += r.accuracy;
  if (writer_) {
    log_->step(state_, r.loss, r.accuracy, seconds, lr, r.skipped, dist_ ? dist_->comm_seconds() - comm0 : -1.0,
               steps_in_epoch);
  }
}

// Mean loss and accuracy over the validation files, RNN state carried within each batch;
// each rank evaluates its shard and the means are averaged over the ranks.
StepResult Trainer::validate() {
  model_->eval();
  BatchLoader loader(*data_, data_->val_batches(env_.world_size), shard_);
  StepResult sum;
  std::int64_t n = 0;
  while (auto batch = loader.next()) {
    ModelState states = model_->initial_state(batch->batch_size);
    for (int w = 0; w < batch->n_windows; ++w) {
      const StepResult r = eval_step(model_, window_tensor(*batch, w, device_), states, precision_);
      sum.loss += r.loss;
      sum.accuracy += r.accuracy;
      ++n;
    }
  }
  model_->train();
  if (n > 0) {
    sum.loss /= static_cast<double>(n);
    sum.accuracy /= static_cast<double>(n);
  }
  if (dist_) {
    const std::vector<double> total = dist_->sum({sum.loss, sum.accuracy});
    sum.loss = total[0] / dist_->world_size();
    sum.accuracy = total[1] / dist_->world_size();
  }
  return sum;
}

// Validation, the epoch line, Best and early stopping, the checkpoint, clips and report.
void Trainer::finish_epoch() {
  json row = epoch_row(state_, lr_);
  if (!data_->val_files().empty()) {
    const StepResult v = validate();
    row["val_loss"] = v.loss;
    row["val_accuracy"] = 100.0 * v.accuracy;
    row["val_bits_per_sample"] = v.loss / std::log(2.0);
  }
  const int epoch = state_.epoch;
  state_.epoch_complete = true;
  state_.batch = state_.window = 0;
  state_.metrics = row;
  if (writer_) log_->epoch(row);
  const double value = row[o_.monitor].get<double>();
  const bool improved = !state_.best || (higher_is_better(o_.monitor) ? value > *state_.best : value < *state_.best);
  if (improved) {
    state_.best = value;
    state_.epochs_without_improvement = 0;
  } else {
    ++state_.epochs_without_improvement;
  }
  if (writer_ && epoch % o_.checkpoint_every == 0 && (o_.checkpoint_policy != "Best" || improved)) {
    save();
    write_clips_and_score(epoch);
    try {
      write_report(o_.logdir_root / o_.id);
    } catch (const Error& e) {
      log_warn("could not refresh the report: " + e.message());  // training goes on
    }
  }
  // The others wait (without the collective timeout) while rank 0 writes and generates.
  if (dist_) dist_->after_rank0("epoch-" + std::to_string(epoch));
  if (o_.early_stopping_patience > 0 && state_.epochs_without_improvement >= o_.early_stopping_patience) {
    log_info("Early stopping: " + o_.monitor + " has not improved for " +
             std::to_string(state_.epochs_without_improvement) + " epochs (best " + fixed(*state_.best, 4) + ").");
    early_stop_ = true;
  }
}

// The clips of the checkpoint just written, their score recorded in the run's
// clip-scores.json; under --checkpoint_policy Clips, the worst-scored checkpoints go.
void Trainer::write_clips_and_score(int epoch) {
  if (!o_.generate || o_.max_generate_per_epoch <= 0) return;
  nlohmann::json entry = write_training_clips(last_checkpoint_, o_, data_->sample_rate_hz(), clip_seed_, epoch,
                                              plan_.rng_seed, log_->train_events(), state_.step);
  entry["minutes"] = minutes_since(started_);  // into this run, for the study's curves
  record_clip_score(run_dir_, last_checkpoint_.filename().string(), entry);
  keep_best_by_clips();
}

// --checkpoint_policy Clips: the max_checkpoints best-scored checkpoints of the run, and the
// newest, which the run resumes from.
void Trainer::keep_best_by_clips() {
  if (o_.checkpoint_policy != "Clips" || o_.max_checkpoints <= 0) return;
  const nlohmann::json scores = read_clip_scores(run_dir_);
  std::vector<std::pair<double, fs::path>> ranked;
  for (const auto& [epoch, path] : checkpoints_in(run_dir_)) {
    if (path == last_checkpoint_) continue;
    const auto it = scores.find(path.filename().string());
    ranked.emplace_back(it != scores.end() ? it->at("score").get<double>() : -1.0, path);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = static_cast<std::size_t>(o_.max_checkpoints); i < ranked.size(); ++i) {
    std::error_code ec;
    fs::remove(ranked[i].second, ec);
  }
}

// Writes the state as model.ckpt-<epoch> (rank 0). Inside a batch, every rank's share of the
// carried RNN state is gathered first, so every rank must call this then.
void Trainer::save() {
  ModelState rnn;
  if (!state_.epoch_complete && state_.window > 0) {
    rnn = carried_;
    for (TierState& t : rnn) {
      for (auto& x : t.h) x = dist_ ? dist_->gather_rows(x, 1) : x;
      for (auto& x : t.c) x = dist_ ? dist_->gather_rows(x, 1) : x;
    }
  }
  if (!writer_) return;
  if (scaler_->enabled()) {
    state_.loss_scale = scaler_->scale();
    state_.loss_scale_good_steps = scaler_->good_steps();
  }
  CheckpointInfo info;
  info.config = plan_.config;
  info.sample_rate_hz = data_->sample_rate_hz();
  info.train = state_;
  info.corpus_stats = corpus_stats_;
  const fs::path path = run_dir_ / ("model.ckpt-" + std::to_string(state_.epoch));
  const PruneMasks masks = pruner_->masks();
  save_checkpoint(path, model_, optimizer_.get(), info, rnn.empty() ? nullptr : &rnn, masks.empty() ? nullptr : &masks);
  last_checkpoint_ = path;
  log_info("Saved checkpoint " + path.string());
  if (o_.max_checkpoints > 0 && o_.checkpoint_policy != "Clips") {
    const auto all = checkpoints_in(run_dir_);
    for (std::size_t i = 0; i + o_.max_checkpoints < all.size(); ++i) fs::remove(all[i].second);
  }
}

// A stop by signal or --max_steps inside an epoch: a checkpoint of exactly where it is.
int Trainer::stop() {
  if (writer_) log_->end_steps();
  save();
  const bool by_signal = stop_requested_;
  const bool by_steps = o_.max_steps > 0 && state_.step >= o_.max_steps;
  // A budget's last checkpoint is scored like the others: it may be the best.
  if (writer_ && !by_signal) write_clips_and_score(state_.epoch);
  log_info(by_signal  ? "Stopped by signal; resume with the same command."
           : by_steps ? "Reached --max_steps " + std::to_string(o_.max_steps) + "; resume with the same command."
                      : "Reached --max_minutes " + fixed(o_.max_minutes, 1) + " after " +
                            std::to_string(steps_this_run_) + " steps; resume with the same command.");
  if (dist_) dist_->after_rank0("stop");
  return by_signal ? exit_code(ErrorKind::kInterrupted) : 0;
}

}  // namespace

int run_training(const TrainOptions& o) {
  Trainer trainer(o);
  return trainer.run();
}

}  // namespace srnn
