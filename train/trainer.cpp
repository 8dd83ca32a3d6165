// The training loop of `samplernn train` (train/train.h).
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "audio/decode.h"
#include "audio/quantize.h"
#include "audio/write.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/naming.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/generate-torch.h"
#include "train/train-step.h"
#include "train/train.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

const std::regex kRunDirName(R"((\d{2})\.(\d{2})\.(\d{4})_(\d{2})\.(\d{2})\.(\d{2}))");
const std::regex kCheckpointName(R"(model\.ckpt-(\d+))");

// Sort key of a run folder name DD.MM.YYYY_HH.MM.SS, or "" when the name is not one.
std::string run_dir_key(const std::string& name) {
  std::smatch m;
  if (!std::regex_match(name, m, kRunDirName)) return "";
  return m[3].str() + m[2].str() + m[1].str() + m[4].str() + m[5].str() + m[6].str();
}

std::string timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%d.%m.%Y_%H.%M.%S", &tm);
  return buf;
}

std::vector<std::pair<int, fs::path>> checkpoints_in(const fs::path& run_dir) {
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

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

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

void write_clips(SampleRNN& model, const TrainOptions& o, int epoch, std::uint64_t rng_seed) {
  const fs::path dir = o.output_dir / o.id;
  ensure_directory(dir);
  const ModelConfig& c = model->config();
  const Quantizer quantizer(c.q_type, c.q_levels);
  TorchGenerateOptions g;
  g.n_samples = static_cast<std::int64_t>(o.output_file_dur) * o.sample_rate;
  g.temperatures = expand_temperatures(o.temperature, o.max_generate_per_epoch);
  g.rng_seed = rng_seed + static_cast<std::uint64_t>(epoch);
  if (!o.seed.empty()) {
    const DecodedAudio seed = load_mono(o.seed, o.sample_rate);
    if (static_cast<std::int64_t>(seed.samples.size()) < o.seed_offset + c.lookback()) {
      throw Error(ErrorKind::kInput, "seed '" + o.seed.string() + "' is shorter than --seed_offset plus " +
                                         std::to_string(c.lookback()) + " samples");
    }
    for (std::size_t i = static_cast<std::size_t>(o.seed_offset); i < seed.samples.size(); ++i) {
      g.seed_levels.push_back(quantizer.quantize(seed.samples[i]));
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const torch::Tensor levels = generate_torch(model, g);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int n = static_cast<int>(g.temperatures.size());
  for (int i = 0; i < n; ++i) {
    const torch::Tensor row = levels[i].contiguous();
    std::vector<float> audio(static_cast<std::size_t>(row.numel()));
    const int64_t* lv = row.data_ptr<int64_t>();
    for (std::size_t j = 0; j < audio.size(); ++j) audio[j] = quantizer.dequantize(static_cast<int>(lv[j]));
    const fs::path path = dir / clip_name(o.id, epoch, i, n, g.temperatures[i]);
    write_audio(path, audio, o.sample_rate);
    log_info("Generated " + path.string() + " (" + fixed(secs, 1) + " s)");
  }
}

}  // namespace

fs::path find_latest_checkpoint(const fs::path& logdir_root, const std::string& id) {
  const fs::path root = logdir_root / id;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  std::vector<std::pair<std::string, fs::path>> runs;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string key = run_dir_key(e.path().filename().string());
    if (!key.empty() && e.is_directory()) runs.emplace_back(key, e.path());
  }
  std::sort(runs.rbegin(), runs.rend());
  for (const auto& [key, dir] : runs) {
    const auto ckpts = checkpoints_in(dir);
    if (!ckpts.empty()) return ckpts.back().second;
  }
  return {};
}

int run_training(const TrainOptions& o) {
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
  for (double t : o.temperature) {
    if (!(t > 0)) throw Error(ErrorKind::kUsage, "--temperature values must be positive");
  }
  torch::set_num_threads(o.num_threads);

  // Which checkpoint to continue from, and which config.
  fs::path resume_path;
  if (o.resume) resume_path = !o.resume_from.empty() ? o.resume_from : find_latest_checkpoint(o.logdir_root, o.id);
  std::vector<std::string> warnings;
  ModelConfig config;
  CheckpointInfo resumed;
  if (!resume_path.empty()) {
    resumed = read_checkpoint_info(resume_path);
    config = resumed.config;
    if (o.config_file_given) {
      const std::string diff = config_differences(config, load_model_config(o.config_file, &warnings));
      if (!diff.empty()) {
        throw Error(ErrorKind::kConfig, "--config_file disagrees with checkpoint '" + resume_path.string() +
                                            "' (checkpoint != file): " + diff,
                    "drop --config_file to use the checkpoint's config, or pass --resume False to start afresh");
      }
    }
  } else if (o.config_file_given || fs::exists(o.config_file)) {
    config = load_model_config(o.config_file, &warnings);
  }
  for (const auto& w : warnings) log_warn(w);

  std::uint64_t rng_seed;
  if (o.rng_seed >= 0) rng_seed = static_cast<std::uint64_t>(o.rng_seed);
  else if (!resume_path.empty()) rng_seed = resumed.rng_seed;
  else rng_seed = std::random_device{}() & 0x7fffffff;
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

  SampleRNN model(config);
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
    if (resumed.metrics.contains("best") && resumed.metrics["best"].is_number() &&
        resumed.metrics.value("monitor", "") == o.monitor) {
      best = resumed.metrics["best"].get<double>();
      epochs_without_improvement = resumed.metrics.value("epochs_without_improvement", 0);
    }
    log_info("Resuming from " + resume_path.string() + " (epoch " + std::to_string(resumed.epoch) +
             (resumed.epoch_complete ? "" : ", partly done") + ", step " + std::to_string(step) + ")");
  }
  if (start_epoch > o.num_epochs) {
    log_info("The checkpoint has already trained " + std::to_string(resumed.epoch) + " of --num_epochs " +
             std::to_string(o.num_epochs) + " epochs; nothing to do (raise --num_epochs to continue).");
    return 0;
  }

  // Run folders are named to the second; a second run within the same second waits for
  // the next name rather than sharing a folder.
  fs::path run_dir = o.logdir_root / o.id / timestamp_now();
  for (int i = 0; i < 20 && fs::exists(run_dir); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    run_dir = o.logdir_root / o.id / timestamp_now();
  }
  if (fs::exists(run_dir)) throw Error(ErrorKind::kIo, "run folder '" + run_dir.string() + "' already exists");
  ensure_directory(run_dir);
  {
    json flags = {{"id", o.id}, {"data_dir", o.data_dir.string()}, {"batch_size", o.batch_size},
                  {"num_epochs", o.num_epochs}, {"optimizer", o.optimizer}, {"learning_rate", o.learning_rate},
                  {"reduce_learning_rate_after", o.reduce_learning_rate_after}, {"momentum", o.momentum},
                  {"monitor", o.monitor}, {"checkpoint_every", o.checkpoint_every},
                  {"checkpoint_policy", o.checkpoint_policy}, {"max_checkpoints", o.max_checkpoints},
                  {"early_stopping_patience", o.early_stopping_patience}, {"sample_rate", o.sample_rate},
                  {"val_frac", o.val_frac}, {"rng_seed", rng_seed}, {"num_threads", o.num_threads},
                  {"resumed_from", resume_path.string()}};
    std::ofstream(run_dir / "run.json") << json{{"config", to_json(config)}, {"flags", flags}}.dump(2) << '\n';
  }
  MetricsLog metrics(run_dir / "metrics.jsonl");
  log_info("Run folder " + run_dir.string() + "; " + std::to_string(data.train_files().size()) + " training and " +
           std::to_string(data.val_files().size()) + " validation files; rng_seed " + std::to_string(rng_seed));

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
    info.epoch = epoch;
    info.step = step;
    info.epoch_complete = complete;
    info.batches_done = batches_done;
    info.metrics = epoch_metrics;
    info.metrics["monitor"] = o.monitor;
    if (std::isfinite(best)) info.metrics["best"] = best;  // JSON has no infinity
    info.metrics["epochs_without_improvement"] = epochs_without_improvement;
    const fs::path path = run_dir / ("model.ckpt-" + std::to_string(epoch));
    save_checkpoint(path, model, optimizer.get(), info);
    last_checkpoint = path;
    log_info("Saved checkpoint " + path.string());
    if (o.max_checkpoints > 0) {
      auto all = checkpoints_in(run_dir);
      for (std::size_t i = 0; i + o.max_checkpoints < all.size(); ++i) fs::remove(all[i].second);
    }
  };

  for (int epoch = start_epoch; epoch <= o.num_epochs; ++epoch) {
    const double lr = lr_for_epoch(o, epoch - 1);
    set_lr(*optimizer, lr);
    model->train();
    const auto batches = data.train_batches(epoch);
    std::int64_t steps_in_epoch = 0, step_in_epoch = 0;
    for (const auto& b : batches) steps_in_epoch += data.windows_in(b);
    for (int i = 0; i < skip_batches && i < static_cast<int>(batches.size()); ++i) step_in_epoch += data.windows_in(batches[i]);
    BatchLoader loader(data, std::vector<std::vector<AudioFileEntry>>(batches.begin() + std::min<std::size_t>(skip_batches, batches.size()), batches.end()));
    double loss_sum = 0, acc_sum = 0;
    std::int64_t n_steps = 0;
    int batches_done = skip_batches;
    skip_batches = 0;
    const auto epoch_t0 = std::chrono::steady_clock::now();
    bool interrupted = false;
    while (auto batch = loader.next()) {
      ModelState states = model->initial_state(batch->batch_size);
      for (int w = 0; w < batch->n_windows; ++w) {
        const auto t0 = std::chrono::steady_clock::now();
        const torch::Tensor x = torch::tensor(batch->window(w), torch::kLong).view({batch->batch_size, -1});
        const StepResult r = train_step(model, *optimizer, x, states);
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
        const std::string line = "Epoch: " + std::to_string(epoch) + "/" + std::to_string(o.num_epochs) +
                                 ", Step: " + std::to_string(step_in_epoch) + "/" + std::to_string(steps_in_epoch) +
                                 ", Loss: " + fixed(loss_sum / n_steps, 3) + ", Accuracy: " +
                                 fixed(100.0 * acc_sum / n_steps, 3) + ", (" + fixed(dt, 4) + " sec/step)";
        if (o.verbose) {
          std::printf("%s\n", line.c_str());
        } else {
          std::printf("\r%s", line.c_str());
        }
        std::fflush(stdout);
        metrics.write({{"kind", "step"}, {"epoch", epoch}, {"step", step}, {"loss", r.loss},
                       {"accuracy", 100.0 * r.accuracy}, {"sec_per_step", dt}, {"lr", lr}});
        const bool budget_spent = o.max_steps > 0 && step >= o.max_steps;
        if (g_stop_signal != 0 || budget_spent) {
          interrupted = true;
          break;
        }
      }
      if (interrupted) break;
      ++batches_done;
    }
    if (!o.verbose) std::printf("\n");
    if (interrupted) {
      const bool complete = batches_done == static_cast<int>(batches.size());
      // A stop inside a batch restarts that batch on resume (its RNN state is not kept).
      save(complete ? epoch : epoch, complete, batches_done, json{{"loss", n_steps ? loss_sum / n_steps : 0.0}});
      log_info(g_stop_signal != 0 ? "Stopped by signal; resume with the same command."
                                  : "Reached --max_steps " + std::to_string(o.max_steps) + "; resume with the same command.");
      return g_stop_signal != 0 ? exit_code(ErrorKind::kInterrupted) : 0;
    }

    json em = {{"kind", "epoch"}, {"epoch", epoch}, {"step", step}, {"lr", lr}};
    em["loss"] = n_steps ? loss_sum / n_steps : 0.0;
    em["accuracy"] = n_steps ? 100.0 * acc_sum / n_steps : 0.0;
    em["bits_per_sample"] = em["loss"].get<double>() / std::log(2.0);
    if (has_val) {
      model->eval();
      BatchLoader val_loader(data, data.val_batches());
      double vl = 0, va = 0;
      std::int64_t vn = 0;
      while (auto batch = val_loader.next()) {
        ModelState states = model->initial_state(batch->batch_size);
        for (int w = 0; w < batch->n_windows; ++w) {
          const torch::Tensor x = torch::tensor(batch->window(w), torch::kLong).view({batch->batch_size, -1});
          const StepResult r = eval_step(model, x, states);
          vl += r.loss;
          va += r.accuracy;
          ++vn;
        }
      }
      model->train();
      em["val_loss"] = vl / std::max<std::int64_t>(vn, 1);
      em["val_accuracy"] = 100.0 * va / std::max<std::int64_t>(vn, 1);
      em["val_bits_per_sample"] = em["val_loss"].get<double>() / std::log(2.0);
    }
    em["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
    metrics.write(em);
    std::string summary = "Epoch " + std::to_string(epoch) + "/" + std::to_string(o.num_epochs) + ": loss " +
                          fixed(em["loss"].get<double>(), 4) + " (" + fixed(em["bits_per_sample"].get<double>(), 3) +
                          " bits/sample), accuracy " + fixed(em["accuracy"].get<double>(), 2) + "%";
    if (has_val) {
      summary += ", val_loss " + fixed(em["val_loss"].get<double>(), 4) + " (" +
                 fixed(em["val_bits_per_sample"].get<double>(), 3) + " bits/sample), val_accuracy " +
                 fixed(em["val_accuracy"].get<double>(), 2) + "%";
    }
    summary += ", " + fixed(em["seconds"].get<double>(), 1) + " s";
    log_info(summary);

    const double value = em[o.monitor].get<double>();
    const bool improved = higher_is_better(o.monitor) ? value > best : value < best;
    if (improved) {
      best = value;
      epochs_without_improvement = 0;
    } else {
      ++epochs_without_improvement;
    }
    if (epoch % o.checkpoint_every == 0 && (o.checkpoint_policy == "Always" || improved)) {
      save(epoch, true, 0, em);
      if (o.generate && o.max_generate_per_epoch > 0) write_clips(model, o, epoch, rng_seed);
    }
    if (o.early_stopping_patience > 0 && epochs_without_improvement >= o.early_stopping_patience) {
      log_info("Early stopping: " + o.monitor + " has not improved for " + std::to_string(epochs_without_improvement) +
               " epochs (best " + fixed(best, 4) + ").");
      break;
    }
  }
  log_info("Training finished. Checkpoints are in " + run_dir.string() +
           (o.generate ? "; clips in " + (o.output_dir / o.id).string() : std::string()) + ".");
  return 0;
}

}  // namespace srnn
