#include "train/train-log.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// PRiSM's step line, with running means over the epoch.
std::string step_line(const TrainState& s, int num_epochs, std::int64_t steps_in_epoch, double seconds) {
  const double n = static_cast<double>(std::max<std::int64_t>(s.epoch_steps, 1));
  return "Epoch: " + std::to_string(s.epoch) + "/" + std::to_string(num_epochs) + ", Step: " +
         std::to_string(s.epoch_steps) + "/" + std::to_string(steps_in_epoch) + ", Loss: " + fixed(s.loss_sum / n, 3) +
         ", Accuracy: " + fixed(100.0 * s.accuracy_sum / n, 3) + ", (" + fixed(seconds, 4) + " sec/step)";
}

std::string epoch_line(const json& row, int num_epochs) {
  std::string s = "Epoch " + std::to_string(row["epoch"].get<int>()) + "/" + std::to_string(num_epochs) + ": loss " +
                  fixed(row["loss"].get<double>(), 4) + " (" + fixed(row["bits_per_sample"].get<double>(), 3) +
                  " bits/sample), accuracy " + fixed(row["accuracy"].get<double>(), 2) + "%";
  if (row.contains("val_loss")) {
    s += ", val_loss " + fixed(row["val_loss"].get<double>(), 4) + " (" +
         fixed(row["val_bits_per_sample"].get<double>(), 3) + " bits/sample), val_accuracy " +
         fixed(row["val_accuracy"].get<double>(), 2) + "%";
  }
  return s + ", " + fixed(row["seconds"].get<double>(), 1) + " s";
}

}  // namespace

json epoch_row(const TrainState& s, double lr) {
  const double n = static_cast<double>(std::max<std::int64_t>(s.epoch_steps, 1));
  const double loss = s.loss_sum / n;
  return json{{"kind", "epoch"},          {"epoch", s.epoch},
              {"step", s.step},           {"lr", lr},
              {"loss", loss},             {"accuracy", 100.0 * s.accuracy_sum / n},
              {"bits_per_sample", loss / std::log(2.0)}, {"seconds", s.epoch_seconds}};
}

TrainLog::TrainLog(const fs::path& run_dir, int num_epochs, bool verbose)
    : metrics_path_(run_dir / "metrics.jsonl"), num_epochs_(num_epochs), verbose_(verbose) {
  metrics_.open(metrics_path_, std::ios::app);
  if (!metrics_) throw Error(ErrorKind::kIo, "cannot write '" + metrics_path_.string() + "'");
  ensure_directory(run_dir / "train");
  ensure_directory(run_dir / "validation");
  train_ = std::make_unique<EventWriter>(run_dir / "train");
  validation_ = std::make_unique<EventWriter>(run_dir / "validation");
}

TrainLog::~TrainLog() = default;

void TrainLog::step(const TrainState& s, double loss, double accuracy, double seconds, double lr, bool skipped,
                    double comm_seconds, std::int64_t steps_in_epoch) {
  const std::string line = step_line(s, num_epochs_, steps_in_epoch, seconds);
  std::printf(verbose_ ? "%s\n" : "\r%s", line.c_str());
  std::fflush(stdout);
  line_open_ = !verbose_;
  json row = {{"kind", "step"}, {"epoch", s.epoch},       {"step", s.step}, {"loss", loss},
              {"accuracy", 100.0 * accuracy}, {"sec_per_step", seconds}, {"lr", lr}};
  if (comm_seconds >= 0) row["comm_seconds"] = comm_seconds;
  if (skipped) row["skipped"] = true;
  metrics_ << row.dump() << '\n';
  if (!metrics_.flush()) throw Error(ErrorKind::kIo, "cannot write '" + metrics_path_.string() + "'");
  if (s.step % kBatchSummaryEvery == 0) {
    const double n = static_cast<double>(std::max<std::int64_t>(s.epoch_steps, 1));
    train_->scalar("batch_loss", s.step, s.loss_sum / n);
    train_->scalar("batch_accuracy", s.step, s.accuracy_sum / n);
  }
  train_->scalar("samplernn/step_loss", s.step, loss);
  train_->scalar("samplernn/sec_per_step", s.step, seconds);
  train_->scalar("samplernn/learning_rate", s.step, lr);
}

void TrainLog::end_steps() {
  if (line_open_) std::printf("\n");
  line_open_ = false;
}

void TrainLog::epoch(const json& row) {
  end_steps();
  metrics_ << row.dump() << '\n';
  if (!metrics_.flush()) throw Error(ErrorKind::kIo, "cannot write '" + metrics_path_.string() + "'");
  // Keras's epoch axis is the 0-based epoch index; accuracy is a fraction.
  const std::int64_t x = row["epoch"].get<int>() - 1;
  train_->scalar("epoch_loss", x, row["loss"].get<double>());
  train_->scalar("epoch_accuracy", x, row["accuracy"].get<double>() / 100.0);
  train_->scalar("samplernn/epoch_bits_per_sample", x, row["bits_per_sample"].get<double>());
  if (row.contains("val_loss")) {
    validation_->scalar("epoch_loss", x, row["val_loss"].get<double>());
    validation_->scalar("epoch_accuracy", x, row["val_accuracy"].get<double>() / 100.0);
    validation_->scalar("samplernn/epoch_bits_per_sample", x, row["val_bits_per_sample"].get<double>());
  }
  log_info(epoch_line(row, num_epochs_));
}

}  // namespace srnn
