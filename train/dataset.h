// Training data: WAV files under --data_dir, split into training and validation, batched,
// quantised and cut into TBPTT windows (docs/design.md, "Training window"). Torch-free.
//
// Rules:
// - Files are listed recursively and sorted, shuffled once with a fixed seed. Validation
//   (val_split):
//   - "files": val_frac of the files (rounded to whole batches, at least one batch when
//     val_frac > 0), as PRiSM does;
//   - "time": the last val_frac of each track's chunks (at least one of a track of two or
//     more), so that one or two tracks still have a held-out part. Chunks of a track are the
//     files named <track>_chunk_<n> (`samplernn chunk`), in the order of n; any other file is
//     a track of its own. The last validation batch may be partial.
// - Every training file is trained on in every epoch: when the files do not fill whole
//   batches, the last batch is completed with the first files of the epoch's order, which
//   are then seen twice.
// - batch_size 0 picks min(kSmallSetBatch, training files): a small set is not left to
//   one partial batch, and a large one gets kSmallSetBatch.
// - A resumed run passes the checkpoint's validation files instead (keep_val_files): those
//   still present stay in validation whatever the flags, and never become training files.
// - Every file must have the --sample_rate (or, with sample_rate_hz 0, one rate shared by
//   all files, which becomes the run's); otherwise loading fails before the first step.
// - The training files are reshuffled every epoch, with a seed derived from (rng_seed,
//   epoch), so a resumed run sees the same order as an uninterrupted one.
// - Files of unequal length: a batch is cut to its shortest file, rounded down to whole
//   windows of seq_len samples. Files shorter than one window are left out, with a warning.
// - Batches are decoded and quantised on a background thread, one batch ahead.
// - Augmentation (training batches only), drawn per file of every batch from (rng_seed,
//   epoch, batch, row): polarity inversion with probability 1/2, a gain uniform in
//   [-gain_db, +gain_db] dB (lowered where it would clip), and a pitch shift uniform in
//   [-semitones, +semitones] by resampling (soxr), which changes the tempo with it. The
//   windows of a batch are counted on the shortest length a pitch shift can leave.
//
//   srnn::Dataset data(options);
//   srnn::BatchLoader loader(data, data.train_order(epoch), /*validation=*/false);
//   while (auto batch = loader.next()) { ... batch->window(w) ... }
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/train-state.h"

namespace srnn {

// The batch of batch_size 0 (automatic): a small set trains on batches of all its files.
constexpr int kSmallSetBatch = 16;

struct AugmentOptions {
  bool polarity = false;
  double gain_db = 0;    // 0: none
  double semitones = 0;  // 0: none
  bool any() const { return polarity || gain_db > 0 || semitones > 0; }
};

// "polarity,gain,pitch" (any of them), "none" or "": the options with the ranges of
// kAugmentGainDb and kAugmentSemitones. Error(kUsage) for an unknown name.
AugmentOptions parse_augment(const std::string& spec);
std::string describe(const AugmentOptions& a);
constexpr double kAugmentGainDb = 6.0;
constexpr double kAugmentSemitones = 2.0;

struct DatasetOptions {
  std::filesystem::path data_dir;
  int batch_size = 64;  // 0: automatic (kSmallSetBatch)
  double val_frac = 0.1;
  std::string val_split = "files";  // files | time
  int sample_rate_hz = 16000;  // 0: the data's own rate
  std::uint64_t rng_seed = 0;
  ModelConfig model;
  bool keep_val_files = false;        // validate on val_files (names relative to data_dir)
  std::vector<std::string> val_files;
  AugmentOptions augment;
};

// This process's share of every batch in data-parallel training: of a batch of B files it
// loads rows [rank * B / world_size, (rank + 1) * B / world_size). B must divide evenly.
struct Shard {
  int rank = 0;
  int world_size = 1;
};

struct AudioFileEntry {
  std::filesystem::path path;
  std::int64_t n_samples = 0;
  std::uint64_t augment_seed = 0;  // 0: as it is; else the seed of this use's augmentation
};

// One batch of files: (batch, lookback + n_windows * seq_len) levels, row-major; each row
// starts with `lookback` samples of q_zero.
struct Batch {
  int batch_size = 0;
  int n_windows = 0;
  int seq_len = 0;
  int lookback = 0;
  std::vector<std::int32_t> levels;

  std::int64_t row_len() const { return lookback + static_cast<std::int64_t>(n_windows) * seq_len; }
  // Window w: columns [w * seq_len, w * seq_len + lookback + seq_len) of every row.
  std::vector<std::int64_t> window(int w) const;
};

class Dataset {
 public:
  // Lists, checks (sample rate, readability) and splits the files. Throws Error(kInput).
  explicit Dataset(const DatasetOptions& options);

  const std::vector<AudioFileEntry>& train_files() const { return train_; }
  const std::vector<AudioFileEntry>& val_files() const { return val_; }
  const DatasetOptions& options() const { return options_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  int sample_rate_hz() const { return options_.sample_rate_hz; }
  // The split as a checkpoint records it.
  const DataSplit& split() const { return split_; }
  // Name of a file relative to data_dir, as the split records it.
  std::string relative_name(const AudioFileEntry& file) const;

  // Training files in this epoch's order, grouped into batches.
  std::vector<std::vector<AudioFileEntry>> train_batches(int epoch) const;
  // Validation files in batches; the last may be partial, rounded down to a multiple of
  // `rows_multiple` (the number of processes, each of which takes an equal share).
  std::vector<std::vector<AudioFileEntry>> val_batches(int rows_multiple = 1) const;
  // Windows a batch of these files gives.
  int windows_in(const std::vector<AudioFileEntry>& files) const;

  // Decodes, quantises and packs this shard of one batch of files. The windows are counted
  // over the whole batch, so every shard has the same number.
  Batch load(const std::vector<AudioFileEntry>& files, Shard shard = {}) const;

 private:
  void make_split(std::vector<AudioFileEntry> files);
  // The validation files of val_split "time", from the files in listing order.
  std::vector<AudioFileEntry> last_of_each_track(const std::vector<AudioFileEntry>& files) const;

  DatasetOptions options_;
  std::vector<AudioFileEntry> train_, val_;
  std::vector<std::string> warnings_;
  DataSplit split_;
};

// Loads batches on a background thread, one ahead of the consumer.
class BatchLoader {
 public:
  BatchLoader(const Dataset& dataset, std::vector<std::vector<AudioFileEntry>> batches, Shard shard = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch, or nullopt at the end. A batch that failed to load rethrows its error
  // here; the loader goes on with the next batch at the next call.
  std::optional<Batch> next();

 private:
  void run();

  const Dataset& dataset_;
  std::vector<std::vector<AudioFileEntry>> batches_;
  Shard shard_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool has_ready_ = false;
  std::optional<Batch> ready_;
  std::exception_ptr error_;
  std::size_t consumed_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace srnn
