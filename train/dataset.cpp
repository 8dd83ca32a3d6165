#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "audio/decode.h"
#include "audio/quantize.h"
#include "core/error.h"
#include "core/fs.h"

namespace srnn {
namespace fs = std::filesystem;

std::vector<std::int64_t> Batch::window(int w) const {
  const std::int64_t cols = lookback + seq_len, begin = static_cast<std::int64_t>(w) * seq_len;
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch_size) * cols);
  for (int b = 0; b < batch_size; ++b) {
    const std::int32_t* row = levels.data() + b * row_len() + begin;
    std::copy(row, row + cols, out.begin() + b * cols);
  }
  return out;
}

Dataset::Dataset(const DatasetOptions& options) : options_(options) {
  const ModelConfig& m = options.model;
  if (options.batch_size < 1) throw Error(ErrorKind::kUsage, "--batch_size must be at least 1");
  if (!(options.val_frac >= 0.0 && options.val_frac < 1.0)) {
    throw Error(ErrorKind::kUsage, "--val_frac must be in [0, 1), got " + std::to_string(options.val_frac));
  }
  std::vector<fs::path> paths = list_files_recursive(
      options.data_dir, [](const fs::path& p) { return has_audio_extension(p); });
  std::vector<AudioFileEntry> files;
  std::string first_path;
  for (const fs::path& p : paths) {
    const AudioInfo info = probe_audio(p);
    if (options_.sample_rate_hz == 0) {
      options_.sample_rate_hz = info.rate_hz;  // the first file's rate is the data's
      first_path = p.string();
    }
    if (info.rate_hz != options_.sample_rate_hz) {
      const std::string expected = first_path.empty() ? "--sample_rate is " + std::to_string(options_.sample_rate_hz)
                                                      : "'" + first_path + "' is at " + std::to_string(options_.sample_rate_hz);
      throw Error(ErrorKind::kInput,
                  "'" + p.string() + "' is sampled at " + std::to_string(info.rate_hz) + " Hz but " + expected + " Hz",
                  "convert the data with `samplernn chunk --sample_rate " + std::to_string(options_.sample_rate_hz) +
                      "`, or pass the data's rate as --sample_rate");
    }
    if (info.n_frames < m.seq_len) {
      warnings_.push_back("leaving out '" + p.string() + "': " + std::to_string(info.n_frames) +
                          " samples is shorter than one window (seq_len " + std::to_string(m.seq_len) + ")");
      continue;
    }
    files.push_back({p, info.n_frames});
  }
  if (files.empty()) {
    throw Error(ErrorKind::kInput, "no usable audio files in '" + options.data_dir.string() + "'",
                "prepare training data with `samplernn chunk`");
  }
  make_split(std::move(files));
}

std::string Dataset::relative_name(const AudioFileEntry& file) const {
  return file.path.lexically_relative(options_.data_dir).generic_string();
}

namespace {

// FNV-1a of the files' sorted "name:samples" lines.
std::string listing_hash(const Dataset& data, const std::vector<AudioFileEntry>& files) {
  std::vector<std::string> lines;
  for (const AudioFileEntry& f : files) lines.push_back(data.relative_name(f) + ":" + std::to_string(f.n_samples));
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const std::string& l : lines) text += l + "|";
  return fnv1a_hex(text);
}

}  // namespace

void Dataset::make_split(std::vector<AudioFileEntry> files) {
  const DatasetOptions& o = options_;
  const int B = o.batch_size;
  split_.data_dir = absolute_normal(o.data_dir);
  split_.files_hash = listing_hash(*this, files);
  split_.batch_size = B;
  split_.val_frac = o.val_frac;
  split_.rng_seed = o.rng_seed;
  std::mt19937_64 rng(o.rng_seed);
  std::shuffle(files.begin(), files.end(), rng);
  std::vector<AudioFileEntry> rest;
  if (o.keep_val_files) {
    // The recorded validation files, in their recorded order, where they still exist.
    std::map<std::string, std::size_t> where;
    for (std::size_t i = 0; i < files.size(); ++i) where[relative_name(files[i])] = i;
    std::vector<bool> is_val(files.size(), false);
    for (const std::string& name : o.val_files) {
      auto it = where.find(name);
      if (it == where.end() || is_val[it->second]) continue;
      is_val[it->second] = true;
      val_.push_back(files[it->second]);
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!is_val[i]) rest.push_back(files[i]);
    }
    if (val_.size() % B != 0) {
      warnings_.push_back(std::to_string(val_.size() % B) + " of the " + std::to_string(val_.size()) +
                          " validation files do not fill a batch of " + std::to_string(B) +
                          " and are left out of validation (they stay out of training too)");
    }
  } else {
    std::size_t n_val = 0;
    if (o.val_frac > 0) {
      n_val = static_cast<std::size_t>(std::max(1, static_cast<int>(std::lround(o.val_frac * files.size() / B)))) * B;
    }
    if (files.size() < n_val + B) {
      throw Error(ErrorKind::kInput,
                  "'" + o.data_dir.string() + "' has " + std::to_string(files.size()) + " usable files; with --batch_size " +
                      std::to_string(B) + " and --val_frac " + std::to_string(o.val_frac) + " it needs at least " +
                      std::to_string(n_val + B),
                  "use a smaller --batch_size or more data");
    }
    val_.assign(files.begin(), files.begin() + n_val);
    rest.assign(files.begin() + n_val, files.end());
  }
  if (rest.size() < static_cast<std::size_t>(B)) {
    throw Error(ErrorKind::kInput,
                "'" + o.data_dir.string() + "' has " + std::to_string(rest.size()) +
                    " training files besides the validation files, fewer than one batch of " + std::to_string(B),
                "use a smaller --batch_size or more data");
  }
  const std::size_t n_train = rest.size() / B * B;
  train_.assign(rest.begin(), rest.begin() + n_train);
  if (rest.size() > n_train) {
    warnings_.push_back(std::to_string(rest.size() - n_train) + " files are left out to make whole batches of " +
                        std::to_string(B));
  }
  split_.train_hash = listing_hash(*this, train_);
  split_.n_train_files = static_cast<std::int64_t>(train_.size());
  for (const AudioFileEntry& f : val_) split_.val_files.push_back(relative_name(f));
}

static std::vector<std::vector<AudioFileEntry>> group(const std::vector<AudioFileEntry>& files, int B) {
  std::vector<std::vector<AudioFileEntry>> out;
  for (std::size_t i = 0; i + B <= files.size(); i += B) out.emplace_back(files.begin() + i, files.begin() + i + B);
  return out;
}

std::vector<std::vector<AudioFileEntry>> Dataset::train_batches(int epoch) const {
  std::vector<AudioFileEntry> order = train_;
  std::mt19937_64 rng(options_.rng_seed * 1000003ULL + static_cast<std::uint64_t>(epoch) + 1);
  std::shuffle(order.begin(), order.end(), rng);
  return group(order, options_.batch_size);
}

std::vector<std::vector<AudioFileEntry>> Dataset::val_batches() const { return group(val_, options_.batch_size); }

int Dataset::windows_in(const std::vector<AudioFileEntry>& files) const {
  std::int64_t shortest = files.front().n_samples;
  for (const auto& f : files) shortest = std::min(shortest, f.n_samples);
  return static_cast<int>(shortest / options_.model.seq_len);
}

Batch Dataset::load(const std::vector<AudioFileEntry>& files, Shard shard) const {
  const ModelConfig& m = options_.model;
  const Quantizer quantizer(m.q_type, m.q_levels);
  const int n_files = static_cast<int>(files.size());
  if (n_files % shard.world_size != 0) {
    throw Error(ErrorKind::kInternal, "a batch of " + std::to_string(n_files) + " files does not split into " +
                                          std::to_string(shard.world_size) + " shards");
  }
  const int first = shard.rank * n_files / shard.world_size;
  Batch b;
  b.batch_size = n_files / shard.world_size;
  b.seq_len = m.seq_len;
  b.lookback = m.lookback();
  b.n_windows = windows_in(files);
  // The files are decoded before the batch is allocated: a header that claims more than the
  // file holds is found out here, not by an allocation of its claimed size.
  const std::int64_t n = static_cast<std::int64_t>(b.n_windows) * m.seq_len;
  std::vector<DecodedAudio> audio;
  for (int i = 0; i < b.batch_size; ++i) {
    const AudioFileEntry& file = files[first + i];
    audio.push_back(load_mono(file.path, 0));
    if (static_cast<std::int64_t>(audio.back().samples.size()) < n) {
      throw Error(ErrorKind::kInput, "'" + file.path.string() + "' is shorter than its header says",
                  "the file may have changed or be truncated");
    }
  }
  b.levels.assign(static_cast<std::size_t>(b.batch_size * b.row_len()), quantizer.q_zero());
  for (int i = 0; i < b.batch_size; ++i) {
    quantizer.quantize(Span<const float>(audio[i].samples.data(), static_cast<std::size_t>(n)),
                       Span<std::int32_t>(b.levels.data() + i * b.row_len() + b.lookback, static_cast<std::size_t>(n)));
  }
  return b;
}

BatchLoader::BatchLoader(const Dataset& dataset, std::vector<std::vector<AudioFileEntry>> batches, Shard shard)
    : dataset_(dataset), batches_(std::move(batches)), shard_(shard), thread_([this] { run(); }) {}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchLoader::run() {
  for (std::size_t i = 0; i < batches_.size(); ++i) {
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = dataset_.load(batches_[i], shard_);
    } catch (...) {
      error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return stop_ || !has_ready_; });
    if (stop_) return;
    ready_ = std::move(batch);
    error_ = error;
    has_ready_ = true;
    cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ == batches_.size()) return std::nullopt;
  cv_.wait(lock, [&] { return has_ready_; });
  std::optional<Batch> out = std::move(ready_);
  const std::exception_ptr error = error_;
  ready_.reset();
  error_ = nullptr;
  has_ready_ = false;
  ++consumed_;
  cv_.notify_all();
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace srnn
