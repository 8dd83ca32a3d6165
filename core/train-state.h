// The whole resumable state of a training run, as one struct. `samplernn train` writes it into
// the metadata of every checkpoint ("train_state", JSON) and restores it verbatim, so that a
// stop anywhere (Ctrl-C in the middle of a batch included) followed by the same command gives
// the weights and optimiser moments of an uninterrupted run. Torch-free.
//
// The tensors that belong to the state travel beside it in the same checkpoint
// (docs/formats.md): the optimiser's slots ("optim.<parameter>.<slot>"), the CPU generator
// ("train.rng_state") and, when the stop fell inside a batch of files, the RNN state carried
// to the next window ("train.rnn.<tier>.h<layer>", ".c<layer>" for LSTM; (1, batch, dim)).
//
//   srnn::TrainState s;  s.epoch = 3;  s.batch = 2;  s.window = 17;
//   nlohmann::json j = srnn::to_json(s);
//   srnn::TrainState t = srnn::train_state_from_json(j);   // == s
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace srnn {

// Which files a run trains and validates on. Validation files are kept by name, so that a
// resumed run validates on the same files whatever its flags, and never trains on them.
struct DataSplit {
  std::string data_dir;                // --data_dir, absolute
  std::string files_hash;              // FNV-1a of every usable file's "name:samples", sorted
  std::string train_hash;              // the same over the training files
  std::int64_t n_train_files = 0;
  std::vector<std::string> val_files;  // names relative to data_dir, in split order
  int batch_size = 0;                  // the flags the split and the batches were made with
  double val_frac = 0;
  std::uint64_t rng_seed = 0;

  bool recorded() const { return !data_dir.empty(); }
};

struct TrainState {
  // Where the run is. When epoch_complete, `epoch` is the last epoch finished and the next
  // one starts from its first batch; otherwise `epoch` is in progress: `batch` file batches
  // are done and `window` windows of the next one (the RNN state after them is stored).
  int epoch = 0;
  bool epoch_complete = true;
  std::int64_t step = 0;  // optimiser steps in all
  int batch = 0;
  int window = 0;

  // The epoch in progress so far, so that the step line's running means and the epoch
  // summary cover the whole epoch after a resume.
  double loss_sum = 0;      // nats, summed over steps
  double accuracy_sum = 0;  // fractions, summed over steps
  std::int64_t epoch_steps = 0;
  double epoch_seconds = 0;

  // Early stopping and --checkpoint_policy Best.
  std::string monitor;
  std::optional<double> best;
  int epochs_without_improvement = 0;

  // The optimiser and the random streams. The data order of epoch e and the clips of epoch
  // e derive from rng_seed; dropout draws from torch's CPU generator (train.rng_state).
  std::string optimizer;
  double learning_rate = 0;  // in use in `epoch`
  std::uint64_t rng_seed = 0;
  double loss_scale = 0;     // fp16 dynamic loss scale; 0 when not in use
  int loss_scale_good_steps = 0;
  // A learning-rate warm-up: steps warmup_start + 1 ... warmup_start + warmup_steps take
  // (step - warmup_start) / warmup_steps of the rate (warmup_steps 0: none).
  std::int64_t warmup_start = 0, warmup_steps = 0;
  // The factor for the step after `step`.
  double warmup_factor() const;

  // The data, and the --resume_from file this line of runs started from ("" if none):
  // rerunning a command that names it continues the newest run that descends from it.
  DataSplit data;
  std::string origin;

  // The metrics of the last finished epoch (its row of metrics.jsonl).
  nlohmann::json metrics = nlohmann::json::object();

  // The epoch to train next and whether it starts part-way (batch/window).
  int next_epoch() const { return epoch_complete ? epoch + 1 : epoch; }
};

nlohmann::json to_json(const TrainState& state);
// Error(kInput) with `what` (the checkpoint) named when a key is missing or malformed.
TrainState train_state_from_json(const nlohmann::json& j, const std::string& what);

// 64-bit FNV-1a as 16 hex digits: the same on every platform (std::hash is not specified).
std::string fnv1a_hex(const std::string& text);

}  // namespace srnn
