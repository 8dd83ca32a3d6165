// What a training run writes about itself while it runs: PRiSM's step line, the epoch line,
// metrics.jsonl and TensorBoard events in the layout of Keras's TensorBoard callback, which
// PRiSM uses, so that PRiSM runs and samplernn runs overlay in one TensorBoard. Torch-free.
//
// TensorBoard layout, in the run folder:
//   train/       batch_loss, batch_accuracy   every 50 steps, step axis; running means over
//                                             the epoch so far, accuracy as a fraction (0-1)
//                epoch_loss, epoch_accuracy   once per epoch; the axis is the 0-based epoch
//   validation/  epoch_loss, epoch_accuracy   the same for the validation files
//   samplernn's own, under "samplernn/": in train/, step_loss (each step's own loss),
//   sec_per_step, learning_rate (step axis) and epoch_bits_per_sample (epoch axis); in
//   validation/, epoch_bits_per_sample; and the clips as audio, samplernn/clips/<name>.
//
//   srnn::TrainLog log(run_dir, 100, true);
//   log.step(state, loss, accuracy, seconds, lr, false, -1, steps_in_epoch);  // after every step
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/train-state.h"
#include "viz/tensorboard.h"

namespace srnn {

// Keras's TensorBoard(update_freq=50), as PRiSM's train.py creates it.
constexpr int kBatchSummaryEvery = 50;

class TrainLog {
 public:
  // Opens metrics.jsonl (appending) and the event files under run_dir. Error(kIo).
  TrainLog(const std::filesystem::path& run_dir, int num_epochs, bool verbose);
  ~TrainLog();

  // After a step: state holds the epoch's sums and the step count including this step;
  // steps_in_epoch is the epoch's length. Prints the step line, writes the step row and the
  // step's events. comm_seconds < 0: not distributed.
  void step(const TrainState& state, double loss, double accuracy, double seconds, double lr, bool skipped,
            double comm_seconds, std::int64_t steps_in_epoch);
  // Ends a redrawn (verbose False) step line.
  void end_steps();
  // After an epoch: `row` is its metrics.jsonl row (loss in nats, accuracy in %, optional
  // val_*); prints the epoch line and writes the row and the epoch's events.
  void epoch(const nlohmann::json& row);

  // The event file that takes the clips.
  EventWriter& train_events() { return *train_; }

 private:
  std::ofstream metrics_;
  std::filesystem::path metrics_path_;
  std::unique_ptr<EventWriter> train_, validation_;
  int num_epochs_;
  bool verbose_;
  bool line_open_ = false;
};

// The metrics row of an epoch from its sums: loss (nats), accuracy (%), bits_per_sample.
nlohmann::json epoch_row(const TrainState& state, double lr);

}  // namespace srnn
