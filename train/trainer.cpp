// The training loop of `samplernn train` (train/train.h).
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/run-layout.h"
#include "train/checkpoint.h"
#include "train/clips.h"
#include "train/dataset.h"
#include "train/distributed.h"
#include "train/train-step.h"
#include "train/train.h"
#include "viz/report.h"
#include "viz/tensorboard.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

double lr_for_epoch(const TrainOptions& o, int epoch_index) {
  // PRiSM's scheduler, applied at the start of each epoch (0-based): from epoch N on,
  // lr *= exp(-0.1) each epoch.
  if (o.reduce_learning_rate_after <= 0 || epoch_index < o.reduce_learning_rate_after) return o.learning_rate;
  return o.learning_rate * std::exp(-0.1 * (epoch_index - o.reduce_learning_rate_after + 1));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o, SampleRNN& model) {
  if (o.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(o.learning_rate).eps(1e-4));
  }
  if (o.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
  }
  if (o.optimizer == "rmsprop") {
    return std::make_unique<torch::optim::RMSprop>(
        model->parameters(), torch::optim::RMSpropOptions(o.learning_rate).momentum(o.momentum).eps(1e-5));
  }
  throw Error(ErrorKind::kUsage, "unknown --optimizer '" + o.optimizer + "'", "choose adam, sgd or rmsprop");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

bool higher_is_better(const std::string& monitor) { return monitor.find("accuracy") != std::string::npos; }

class MetricsLog {
 public:
  explicit MetricsLog(const fs::path& path) : out_(path, std::ios::app) {
    if (!out_) throw Error(ErrorKind::kIo, "cannot write '" + path.string() + "'");
  }
  void write(const json& row) {
    out_ << row.dump() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// Window w of a batch as the (B, lookback + seq_len) tensor the model reads.
torch::Tensor window_tensor(const Batch& batch, int w, const torch::Device& device) {
  return torch::tensor(batch.window(w), torch::kLong).view({batch.batch_size, -1}).to(device);
}

// Mean loss and accuracy over the validation files, RNN state carried within each batch;
// each rank evaluates its shard and the means are averaged over the ranks.
StepResult evaluate(SampleRNN& model, const Dataset& data, const Shard& shard, Collective* dist, Precision precision,
                    const torch::Device& device) {
  model->eval();
  BatchLoader loader(data, data.val_batches(), shard);
  StepResult sum;
  std::int64_t n = 0;
  while (auto batch = loader.next()) {
    ModelState states = model->initial_state(batch->batch_size);
    for (int w = 0; w < batch->n_windows; ++w) {
      const StepResult r = eval_step(model, window_tensor(*batch, w, device), states, precision);
      sum.loss += r.loss;
      sum.accuracy += r.accuracy;
      ++n;
    }
  }
  model->train();
  if (n > 0) {
    sum.loss /= static_cast<double>(n);
    sum.accuracy /= static_cast<double>(n);
  }
  if (dist != nullptr) {
    const std::vector<double> total = dist->sum({sum.loss, sum.accuracy});
    sum.loss = total[0] / dist->world_size();
    sum.accuracy = total[1] / dist->world_size();
  }
  return sum;
}

// 64-bit FNV-1a, as 16 hex digits: the same on every platform (std::hash is not specified).
std::string fnv1a_hex(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

// The training and validation files (names relative to --data_dir, and lengths), as a
// hash: checkpoints record it, so a resumed partial epoch knows whether its data changed.
std::string data_fingerprint(const Dataset& data, const fs::path& data_dir) {
  std::vector<std::string> names;
  for (const auto* files : {&data.train_files(), &data.val_files()}) {
    for (const AudioFileEntry& f : *files) {
      names.push_back(f.path.lexically_relative(data_dir).string() + ":" + std::to_string(f.n_samples));
    }
  }
  std::sort(names.begin(), names.end());
  std::string s;
  for (const std::string& n : names) s += n + "|";
  return fnv1a_hex(s);
}

// What every rank must agree on: the config, the flags that shape training, and the data.
std::string run_fingerprint(const TrainOptions& o, const ModelConfig& config, const std::string& data_hash,
                            std::uint64_t rng_seed, const fs::path& resume_path) {
  std::string s = to_json(config).dump() + "|" + data_hash;
  for (const std::string& v : {std::to_string(rng_seed), resume_path.string(), std::to_string(o.batch_size),
                               std::to_string(o.num_epochs), o.optimizer, std::to_string(o.learning_rate),
                               std::to_string(o.max_steps), std::to_string(o.val_frac), o.precision}) {
    s += "|" + v;
  }
  return fnv1a_hex(s);
}

}  // namespace

fs::path find_latest_checkpoint(const fs::path& logdir_root, const std::string& id) {
  return latest_checkpoint(logdir_root / id);
}

namespace {

void check_options(const TrainOptions& o) {
  if (o.num_epochs < 1) throw Error(ErrorKind::kUsage, "--num_epochs must be at least 1");
  if (o.checkpoint_every < 1) throw Error(ErrorKind::kUsage, "--checkpoint_every must be at least 1");
  if (o.checkpoint_policy != "Always" && o.checkpoint_policy != "Best") {
    throw Error(ErrorKind::kUsage, "--checkpoint_policy must be Always or Best, got '" + o.checkpoint_policy + "'");
  }
  if (o.monitor != "loss" && o.monitor != "accuracy" && o.monitor != "val_loss" && o.monitor != "val_accuracy") {
    throw Error(ErrorKind::kUsage, "--monitor must be loss, accuracy, val_loss or val_accuracy, got '" + o.monitor + "'");
  }
  if (o.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
  if (o.output_file_dur < 1) throw Error(ErrorKind::kUsage, "--output_file_dur must be at least 1 second");
  if (o.dist_timeout_s < 1) throw Error(ErrorKind::kUsage, "--dist_timeout must be at least 1 second");
  for (double t : o.temperature) {
    if (!(t > 0)) throw Error(ErrorKind::kUsage, "--temperature values must be positive");
  }
}

// Where training starts: the checkpoint to resume (rank 0's choice, shared with the others),
// its metadata, the config and the rng seed.
struct Start {
  fs::path resume_path;
  CheckpointInfo resumed;
  ModelConfig config;
  std::uint64_t rng_seed = 0;
};

Start find_start(const TrainOptions& o, Collective* dist) {
  Start s;
  if (o.resume) s.resume_path = !o.resume_from.empty() ? o.resume_from : find_latest_checkpoint(o.logdir_root, o.id);
  if (dist != nullptr) s.resume_path = dist->broadcast_string("resume_path", s.resume_path.string());
  std::vector<std::string> warnings;
  if (!s.resume_path.empty()) {
    s.resumed = read_checkpoint_info(s.resume_path);
    s.config = s.resumed.config;
    if (o.config_file_given) {
      const std::string diff = config_differences(s.config, load_model_config(o.config_file, &warnings));
      if (!diff.empty()) {
        throw Error(ErrorKind::kConfig, "--config_file disagrees with checkpoint '" + s.resume_path.string() +
                                            "' (checkpoint != file): " + diff,
                    "drop --config_file to use the checkpoint's config, or pass --resume False to start afresh");
      }
    }
  } else if (o.config_file_given || fs::exists(o.config_file)) {
    s.config = load_model_config(o.config_file, &warnings);
  }
  for (const auto& w : warnings) log_warn(w);
  if (o.rng_seed >= 0) s.rng_seed = static_cast<std::uint64_t>(o.rng_seed);
  else if (!s.resume_path.empty()) s.rng_seed = s.resumed.rng_seed;
  else s.rng_seed = std::random_device{}() & 0x7fffffff;
  if (dist != nullptr) s.rng_seed = std::stoull(dist->broadcast_string("rng_seed", std::to_string(s.rng_seed)));
  return s;
}

// A new run folder with run.json. Run folders are named to the second; a second run within
// the same second waits for the next name rather than sharing a folder.
fs::path make_run_folder(const TrainOptions& o, const Start& start, const std::string& device, int world_size) {
  fs::path run_dir = o.logdir_root / o.id / run_folder_name_now();
  for (int i = 0; i < 20 && fs::exists(run_dir); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    run_dir = o.logdir_root / o.id / run_folder_name_now();
  }
  if (fs::exists(run_dir)) throw Error(ErrorKind::kIo, "run folder '" + run_dir.string() + "' already exists");
  ensure_directory(run_dir);
  json flags = {{"id", o.id}, {"data_dir", o.data_dir.string()}, {"batch_size", o.batch_size},
                {"num_epochs", o.num_epochs}, {"optimizer", o.optimizer}, {"learning_rate", o.learning_rate},
                {"reduce_learning_rate_after", o.reduce_learning_rate_after}, {"momentum", o.momentum},
                {"monitor", o.monitor}, {"checkpoint_every", o.checkpoint_every},
                {"checkpoint_policy", o.checkpoint_policy}, {"max_checkpoints", o.max_checkpoints},
                {"early_stopping_patience", o.early_stopping_patience}, {"sample_rate", o.sample_rate},
                {"val_frac", o.val_frac}, {"rng_seed", start.rng_seed}, {"num_threads", o.num_threads},
                {"resumed_from", start.resume_path.string()}, {"output_dir", fs::absolute(o.output_dir).string()},
                {"generate", o.generate}, {"device", device}, {"precision", o.precision},
                {"processes", world_size}};
  const fs::path run_json = run_dir / "run.json";
  std::ofstream out(run_json);
  out << json{{"config", to_json(start.config)}, {"flags", flags}}.dump(2) << '\n';
  if (!out.flush()) throw Error(ErrorKind::kIo, "cannot write '" + run_json.string() + "'");
  return run_dir;
}

// The step line of PRiSM's train.py, with running means over the epoch.
std::string step_line(int epoch, int num_epochs, std::int64_t step_in_epoch, std::int64_t steps_in_epoch,
                      double mean_loss, double mean_accuracy, double dt) {
  return "Epoch: " + std::to_string(epoch) + "/" + std::to_string(num_epochs) + ", Step: " +
         std::to_string(step_in_epoch) + "/" + std::to_string(steps_in_epoch) + ", Loss: " + fixed(mean_loss, 3) +
         ", Accuracy: " + fixed(100.0 * mean_accuracy, 3) + ", (" + fixed(dt, 4) + " sec/step)";
}

std::string epoch_summary(const json& em, int num_epochs, bool has_val) {
  std::string s = "Epoch " + std::to_string(em["epoch"].get<int>()) + "/" + std::to_string(num_epochs) + ": loss " +
                  fixed(em["loss"].get<double>(), 4) + " (" + fixed(em["bits_per_sample"].get<double>(), 3) +
                  " bits/sample), accuracy " + fixed(em["accuracy"].get<double>(), 2) + "%";
  if (has_val) {
    s += ", val_loss " + fixed(em["val_loss"].get<double>(), 4) + " (" +
         fixed(em["val_bits_per_sample"].get<double>(), 3) + " bits/sample), val_accuracy " +
         fixed(em["val_accuracy"].get<double>(), 2) + "%";
  }
  return s + ", " + fixed(em["seconds"].get<double>(), 1) + " s";
}

}  // namespace

int run_training(const TrainOptions& o) {
  check_options(o);
  torch::set_num_threads(o.num_threads);

  // Data-parallel training when started by `--nproc` or torchrun-style variables.
  const DistEnv env = dist_env_from_environment();
  const bool writer = env.rank == 0;  // rank 0 alone writes files
  std::unique_ptr<Collective> dist;
  if (env.world_size > 1) {
    if (!writer) {
      set_log_prefix("[rank " + std::to_string(env.rank) + "] ");
      set_log_quiet(true);
    }
    if (o.batch_size % env.world_size != 0) {
      throw Error(ErrorKind::kUsage,
                  "--batch_size " + std::to_string(o.batch_size) + " does not split evenly over " +
                      std::to_string(env.world_size) + " processes",
                  "use a multiple of the number of processes: --batch_size is the global batch");
    }
    dist = std::make_unique<Collective>(env, std::chrono::seconds(o.dist_timeout_s));
  }
  const torch::Device device = resolve_device(o.device, env.local_rank);
  const Precision precision = parse_precision(o.precision, device);

  const Start start = find_start(o, dist.get());
  const ModelConfig& config = start.config;
  const std::uint64_t rng_seed = start.rng_seed;
  const fs::path& resume_path = start.resume_path;
  const CheckpointInfo& resumed = start.resumed;
  torch::manual_seed(rng_seed);

  DatasetOptions data_options;
  data_options.data_dir = o.data_dir;
  data_options.batch_size = o.batch_size;
  data_options.val_frac = o.val_frac;
  data_options.sample_rate_hz = o.sample_rate;
  data_options.rng_seed = rng_seed;
  data_options.model = config;
  const Dataset data(data_options);
  for (const auto& w : data.warnings()) log_warn(w);
  const bool has_val = !data.val_files().empty();
  if (!has_val && o.monitor.rfind("val_", 0) == 0) {
    throw Error(ErrorKind::kUsage, "--monitor " + o.monitor + " needs validation data, but --val_frac is 0",
                "set --val_frac above 0 or --monitor loss");
  }
  const std::string data_hash = data_fingerprint(data, o.data_dir);
  if (dist) {
    dist->check_agreement("the config, the flags or the data",
                          run_fingerprint(o, config, data_hash, rng_seed, resume_path));
  }
  const Shard shard{env.rank, env.world_size};

  SampleRNN model(config);
  model->to(device);
  auto optimizer = make_optimizer(o, model);
  int start_epoch = 1, skip_batches = 0;
  std::int64_t step = 0;
  double best = higher_is_better(o.monitor) ? -INFINITY : INFINITY;
  int epochs_without_improvement = 0;
  if (!resume_path.empty()) {
    const bool same_optimizer = resumed.optimizer == o.optimizer;
    if (!same_optimizer) log_warn("the checkpoint used optimizer " + resumed.optimizer + "; starting " + o.optimizer + " afresh");
    load_checkpoint(resume_path, model, same_optimizer ? optimizer.get() : nullptr);
    step = resumed.step;
    start_epoch = resumed.epoch_complete ? resumed.epoch + 1 : resumed.epoch;
    skip_batches = resumed.epoch_complete ? 0 : resumed.batches_done;
    // The batches done in a partial epoch belong to the data they were drawn from: on other
    // data (continuing on a new folder) the next epoch starts instead.
    const std::string then = resumed.metrics.value("data", std::string());
    const bool other_data = (!then.empty() && then != data_hash) ||
                            skip_batches >= static_cast<int>(data.train_files().size()) / o.batch_size;
    if (!resumed.epoch_complete && other_data) {
      log_info("The checkpoint's epoch " + std::to_string(resumed.epoch) +
               " was partly done on other data; starting epoch " + std::to_string(resumed.epoch + 1) + ".");
      start_epoch = resumed.epoch + 1;
      skip_batches = 0;
    }
    if (resumed.metrics.contains("best") && resumed.metrics["best"].is_number() &&
        resumed.metrics.value("monitor", "") == o.monitor) {
      best = resumed.metrics["best"].get<double>();
      epochs_without_improvement = resumed.metrics.value("epochs_without_improvement", 0);
    }
    log_info("Resuming from " + resume_path.string() + " (epoch " + std::to_string(resumed.epoch) +
             (resumed.epoch_complete ? "" : ", partly done") + ", step " + std::to_string(step) + ")");
  }
  // Every rank starts from rank 0's weights, whatever its own initialisation or file gave.
  if (dist) dist->broadcast(model->parameters());
  if (start_epoch > o.num_epochs) {
    log_info("The checkpoint has already trained " + std::to_string(resumed.epoch) + " of --num_epochs " +
             std::to_string(o.num_epochs) + " epochs; nothing to do (raise --num_epochs to continue).");
    return 0;
  }

  fs::path run_dir;
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<EventWriter> tb;
  if (writer) {
    run_dir = make_run_folder(o, start, device.str(), env.world_size);
    metrics = std::make_unique<MetricsLog>(run_dir / "metrics.jsonl");
    tb = std::make_unique<EventWriter>(run_dir);
    log_info("Run folder " + run_dir.string() + "; " + std::to_string(data.train_files().size()) + " training and " +
             std::to_string(data.val_files().size()) + " validation files; rng_seed " + std::to_string(rng_seed) +
             "; " + device.str() + ", " + precision_name(precision) +
             (dist ? ", " + std::to_string(env.world_size) + " processes" : std::string()));
  }

  g_stop_signal = 0;
  auto old_int = std::signal(SIGINT, on_stop_signal);
  auto old_term = std::signal(SIGTERM, on_stop_signal);
  struct RestoreSignals {
    decltype(old_int) i, t;
    ~RestoreSignals() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  CheckpointInfo info;
  info.config = config;
  info.rng_seed = rng_seed;
  info.optimizer = o.optimizer;
  fs::path last_checkpoint = resume_path;
  const auto save = [&](int epoch, bool complete, int batches_done, const json& epoch_metrics) {
    if (!writer) return;
    info.epoch = epoch;
    info.step = step;
    info.epoch_complete = complete;
    info.batches_done = batches_done;
    info.metrics = epoch_metrics;
    info.metrics["monitor"] = o.monitor;
    if (std::isfinite(best)) info.metrics["best"] = best;  // JSON has no infinity
    info.metrics["epochs_without_improvement"] = epochs_without_improvement;
    info.metrics["data"] = data_hash;
    const fs::path path = run_dir / ("model.ckpt-" + std::to_string(epoch));
    save_checkpoint(path, model, optimizer.get(), info);
    last_checkpoint = path;
    log_info("Saved checkpoint " + path.string());
    if (o.max_checkpoints > 0) {
      auto all = checkpoints_in(run_dir);
      for (std::size_t i = 0; i + o.max_checkpoints < all.size(); ++i) fs::remove(all[i].second);
    }
  };

  // One step's collective: the gradients, averaged, with the metrics and the stop flag
  // summed in the same all-reduce, so every rank stops at the same step.
  const std::vector<torch::Tensor> params = model->parameters();
  LossScaler scaler(precision == Precision::kFp16);
  bool stop_requested = false;
  StepOptions step_options;
  step_options.precision = precision;
  step_options.scaler = scaler.enabled() ? &scaler : nullptr;
  step_options.after_backward = [&](StepResult& r) {
    std::vector<double> sums = {r.loss, r.accuracy, g_stop_signal != 0 ? 1.0 : 0.0};
    if (dist) dist->average_gradients(params, &sums);
    const double n = dist ? dist->world_size() : 1;
    r.loss = sums[0] / n;
    r.accuracy = sums[1] / n;
    stop_requested = sums[2] > 0;
  };

  for (int epoch = start_epoch; epoch <= o.num_epochs; ++epoch) {
    const double lr = lr_for_epoch(o, epoch - 1);
    set_lr(*optimizer, lr);
    model->train();
    const auto batches = data.train_batches(epoch);
    std::int64_t steps_in_epoch = 0, step_in_epoch = 0;
    for (const auto& b : batches) steps_in_epoch += data.windows_in(b);
    for (int i = 0; i < skip_batches && i < static_cast<int>(batches.size()); ++i) step_in_epoch += data.windows_in(batches[i]);
    BatchLoader loader(data, std::vector<std::vector<AudioFileEntry>>(batches.begin() + std::min<std::size_t>(skip_batches, batches.size()), batches.end()),
                       shard);
    double loss_sum = 0, acc_sum = 0;
    std::int64_t n_steps = 0;
    int batches_done = skip_batches;
    skip_batches = 0;
    const auto epoch_t0 = std::chrono::steady_clock::now();
    bool interrupted = false;
    try {
      while (auto batch = loader.next()) {
        ModelState states = model->initial_state(batch->batch_size);
        for (int w = 0; w < batch->n_windows; ++w) {
          const auto t0 = std::chrono::steady_clock::now();
          const double comm0 = dist ? dist->comm_seconds() : 0.0;
          const StepResult r = train_step(model, *optimizer, window_tensor(*batch, w, device), states, step_options);
          if (!std::isfinite(r.loss)) {
            throw Error(ErrorKind::kDiverged,
                        "the loss became " + std::to_string(r.loss) + " at epoch " + std::to_string(epoch) + ", step " +
                            std::to_string(step + 1) + "; training stopped" +
                            (last_checkpoint.empty() ? std::string() : "; the last good checkpoint is " + last_checkpoint.string()),
                        "lower --learning_rate, or resume from the last checkpoint");
          }
          const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          ++step;
          ++step_in_epoch;
          ++n_steps;
          loss_sum += r.loss;
          acc_sum += r.accuracy;
          if (writer) {
            const std::string line =
                step_line(epoch, o.num_epochs, step_in_epoch, steps_in_epoch, loss_sum / n_steps, acc_sum / n_steps, dt);
            std::printf(o.verbose ? "%s\n" : "\r%s", line.c_str());
            std::fflush(stdout);
            json row = {{"kind", "step"}, {"epoch", epoch}, {"step", step}, {"loss", r.loss},
                        {"accuracy", 100.0 * r.accuracy}, {"sec_per_step", dt}, {"lr", lr}};
            if (dist) row["comm_seconds"] = dist->comm_seconds() - comm0;
            if (r.skipped) row["skipped"] = true;
            metrics->write(row);
            tb->scalar("loss", step, r.loss);
            tb->scalar("accuracy", step, 100.0 * r.accuracy);
            tb->scalar("sec_per_step", step, dt);
            tb->scalar("learning_rate", step, lr);
          }
          const bool budget_spent = o.max_steps > 0 && step >= o.max_steps;
          if (stop_requested || budget_spent) {
            interrupted = true;
            if (w + 1 == batch->n_windows) ++batches_done;  // the batch is whole: not redone on resume
            break;
          }
        }
        if (interrupted) break;
        ++batches_done;
      }
    } catch (const Error& e) {
      // A rank died or hung. The weights are those after the last whole step (the failed
      // collective comes before the update), so rank 0 keeps them; the batch in progress
      // is redone on resume.
      if (e.kind() == ErrorKind::kPeer && writer && n_steps > 0) {
        save(epoch, false, batches_done, json{{"loss", loss_sum / n_steps}});
        log_info("Kept the steps done so far; rerun the same command to resume.");
      }
      throw;
    }
    if (writer && !o.verbose) std::printf("\n");
    if (interrupted) {
      const bool complete = batches_done == static_cast<int>(batches.size());
      // A stop inside a batch restarts that batch on resume (its RNN state is not kept).
      save(epoch, complete, batches_done, json{{"loss", n_steps ? loss_sum / n_steps : 0.0}});
      const bool by_signal = stop_requested;
      log_info(by_signal ? "Stopped by signal; resume with the same command."
                         : "Reached --max_steps " + std::to_string(o.max_steps) + "; resume with the same command.");
      if (dist) dist->after_rank0("stop");
      return by_signal ? exit_code(ErrorKind::kInterrupted) : 0;
    }

    json em = {{"kind", "epoch"}, {"epoch", epoch}, {"step", step}, {"lr", lr}};
    em["loss"] = n_steps ? loss_sum / n_steps : 0.0;
    em["accuracy"] = n_steps ? 100.0 * acc_sum / n_steps : 0.0;
    em["bits_per_sample"] = em["loss"].get<double>() / std::log(2.0);
    if (has_val) {
      const StepResult v = evaluate(model, data, shard, dist.get(), precision, device);
      em["val_loss"] = v.loss;
      em["val_accuracy"] = 100.0 * v.accuracy;
      em["val_bits_per_sample"] = v.loss / std::log(2.0);
    }
    em["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
    if (writer) {
      metrics->write(em);
      for (const char* key : {"loss", "accuracy", "bits_per_sample", "val_loss", "val_accuracy", "val_bits_per_sample"}) {
        if (em.contains(key)) tb->scalar(std::string("epoch/") + key, step, em[key].get<double>());
      }
    }
    log_info(epoch_summary(em, o.num_epochs, has_val));

    const double value = em[o.monitor].get<double>();
    const bool improved = higher_is_better(o.monitor) ? value > best : value < best;
    if (improved) {
      best = value;
      epochs_without_improvement = 0;
    } else {
      ++epochs_without_improvement;
    }
    if (writer && epoch % o.checkpoint_every == 0 && (o.checkpoint_policy == "Always" || improved)) {
      save(epoch, true, 0, em);
      if (o.generate && o.max_generate_per_epoch > 0) write_training_clips(last_checkpoint, o, epoch, rng_seed, *tb, step);
      try {
        write_report(o.logdir_root / o.id);
      } catch (const Error& e) {
        log_warn("could not refresh the report: " + e.message());  // training goes on
      }
    }
    // The others wait (without the collective timeout) while rank 0 writes and generates.
    if (dist) dist->after_rank0("epoch-" + std::to_string(epoch));
    if (o.early_stopping_patience > 0 && epochs_without_improvement >= o.early_stopping_patience) {
      log_info("Early stopping: " + o.monitor + " has not improved for " + std::to_string(epochs_without_improvement) +
               " epochs (best " + fixed(best, 4) + ").");
      break;
    }
  }
  if (dist) log_info("Communication took " + fixed(dist->comm_seconds(), 1) + " s in all.");
  log_info("Training finished." + (writer ? " Checkpoints are in " + run_dir.string() : std::string()) +
           (writer && o.generate ? "; clips in " + (o.output_dir / o.id).string() : std::string()) + ".");
  return 0;
}

}  // namespace srnn
