#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "audio/decode.h"
#include "audio/quantize.h"
#include "audio/resample.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

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
  if (options.batch_size < 0) throw Error(ErrorKind::kUsage, "--batch_size must be at least 1 (0: automatic)");
  if (options.val_split != "files" && options.val_split != "time") {
    throw Error(ErrorKind::kUsage, "--val_split must be files or time, got '" + options.val_split + "'");
  }
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

// Track and chunk number of a file named <track>_chunk_<n>.<ext>; any other file is a track
// of its own (number 0).
static std::pair<std::string, long long> track_of(const std::string& relative_name) {
  const std::size_t dot = relative_name.rfind('.');
  const std::string base = relative_name.substr(0, dot == std::string::npos ? relative_name.size() : dot);
  const std::size_t at = base.rfind("_chunk_");
  if (at == std::string::npos || at + 7 == base.size() || base.size() - at - 7 > 12 ||
      base.find_first_not_of("0123456789", at + 7) != std::string::npos) {
    return {relative_name, 0};
  }
  return {base.substr(0, at), std::stoll(base.substr(at + 7))};
}

std::vector<AudioFileEntry> Dataset::last_of_each_track(const std::vector<AudioFileEntry>& files) const {
  std::map<std::string, std::vector<std::pair<long long, std::size_t>>> tracks;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto [track, n] = track_of(relative_name(files[i]));
    tracks[track].emplace_back(n, i);
  }
  std::vector<AudioFileEntry> out;
  for (auto& [track, chunks] : tracks) {
    if (chunks.size() < 2) continue;  // a single chunk trains
    std::sort(chunks.begin(), chunks.end());
    const std::size_t n_val = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::lround(options_.val_frac * static_cast<double>(chunks.size()))), 1,
        chunks.size() - 1);
    for (std::size_t k = chunks.size() - n_val; k < chunks.size(); ++k) out.push_back(files[chunks[k].second]);
  }
  return out;
}

void Dataset::make_split(std::vector<AudioFileEntry> files) {
  DatasetOptions& o = options_;
  split_.data_dir = absolute_normal(o.data_dir);
  split_.files_hash = listing_hash(*this, files);
  split_.val_frac = o.val_frac;
  split_.rng_seed = o.rng_seed;
  std::vector<AudioFileEntry> rest;
  const auto take_val = [&](const std::vector<AudioFileEntry>& val) {
    std::set<std::string> names;
    for (const AudioFileEntry& f : val) names.insert(relative_name(f));
    for (const AudioFileEntry& f : files) {
      if (names.count(relative_name(f)) == 0) rest.push_back(f);
    }
    val_ = val;
  };
  std::mt19937_64 rng(o.rng_seed);
  if (o.keep_val_files) {
    // The recorded validation files, in their recorded order, where they still exist.
    std::shuffle(files.begin(), files.end(), rng);
    std::map<std::string, std::size_t> where;
    for (std::size_t i = 0; i < files.size(); ++i) where[relative_name(files[i])] = i;
    std::vector<AudioFileEntry> val;
    std::set<std::size_t> seen;
    for (const std::string& name : o.val_files) {
      auto it = where.find(name);
      if (it != where.end() && seen.insert(it->second).second) val.push_back(files[it->second]);
    }
    take_val(val);
  } else if (o.val_split == "time" && o.val_frac > 0) {
    take_val(last_of_each_track(files));  // in listing order, before the shuffle
    std::shuffle(rest.begin(), rest.end(), rng);
  } else {
    std::shuffle(files.begin(), files.end(), rng);
    const int B = std::max(1, o.batch_size);
    std::size_t n_val = 0;
    if (o.val_frac > 0) {
      n_val = static_cast<std::size_t>(std::max(1, static_cast<int>(std::lround(o.val_frac * files.size() / B)))) * B;
    }
    if (files.size() < n_val + 1) {
      throw Error(ErrorKind::kInput,
                  "'" + o.data_dir.string() + "' has " + std::to_string(files.size()) + " usable files; with --batch_size " +
                      std::to_string(B) + " and --val_frac " + fixed(o.val_frac, 3) +
                      " they all go to validation and none is left to train on",
                  "use a smaller --batch_size, --val_split time (the last part of each track), or more data");
    }
    val_.assign(files.begin(), files.begin() + n_val);
    rest.assign(files.begin() + n_val, files.end());
  }
  if (o.batch_size == 0) o.batch_size = static_cast<int>(std::min<std::size_t>(kSmallSetBatch, rest.size()));
  const int B = o.batch_size;
  split_.batch_size = B;
  if (rest.size() < static_cast<std::size_t>(B) || rest.empty()) {
    throw Error(ErrorKind::kInput,
                "'" + o.data_dir.string() + "' has " + std::to_string(rest.size()) +
                    " training files besides the validation files, fewer than one batch of " + std::to_string(B),
                "use --batch_size " + std::to_string(std::max<std::size_t>(1, rest.size())) +
                    " or less (0 picks one), or more data");
  }
  train_ = rest;
  if (train_.size() % B != 0) {
    warnings_.push_back(std::to_string(train_.size()) + " training files do not fill whole batches of " +
                        std::to_string(B) + ": every epoch, " + std::to_string(B - train_.size() % B) +
                        " files are seen twice to complete the last batch");
  }
  split_.train_hash = listing_hash(*this, train_);
  split_.n_train_files = static_cast<std::int64_t>(train_.size());
  for (const AudioFileEntry& f : val_) split_.val_files.push_back(relative_name(f));
}

std::vector<std::vector<AudioFileEntry>> Dataset::train_batches(int epoch) const {
  std::vector<AudioFileEntry> order = train_;
  std::mt19937_64 rng(options_.rng_seed * 1000003ULL + static_cast<std::uint64_t>(epoch) + 1);
  std::shuffle(order.begin(), order.end(), rng);
  const std::size_t B = static_cast<std::size_t>(options_.batch_size);
  // The last batch is completed with the first files of the order.
  for (std::size_t i = 0; order.size() % B != 0; ++i) order.push_back(order[i]);
  std::vector<std::vector<AudioFileEntry>> out;
  for (std::size_t i = 0; i < order.size(); i += B) {
    out.emplace_back(order.begin() + i, order.begin() + i + B);
    if (!options_.augment.any()) continue;
    for (std::size_t r = 0; r < B; ++r) {
      // Never 0 (no augmentation); distinct for every (seed, epoch, batch, row).
      std::uint64_t x = options_.rng_seed * 0x9e3779b97f4a7c15ULL ^ (static_cast<std::uint64_t>(epoch) << 40) ^
                        (static_cast<std::uint64_t>(i / B) << 16) ^ r;
      x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL;
      out.back()[r].augment_seed = (x ^ (x >> 29)) | 1;
    }
  }
  return out;
}

std::vector<std::vector<AudioFileEntry>> Dataset::val_batches(int rows_multiple) const {
  std::vector<std::vector<AudioFileEntry>> out;
  const std::size_t B = static_cast<std::size_t>(options_.batch_size), m = static_cast<std::size_t>(rows_multiple);
  for (std::size_t i = 0; i < val_.size(); i += B) {
    const std::size_t n = std::min(B, val_.size() - i) / m * m;
    if (n > 0) out.emplace_back(val_.begin() + i, val_.begin() + i + n);
  }
  return out;
}

int Dataset::windows_in(const std::vector<AudioFileEntry>& files) const {
  std::int64_t shortest = files.front().n_samples;
  bool shifted = false;
  for (const auto& f : files) {
    shortest = std::min(shortest, f.n_samples);
    shifted = shifted || f.augment_seed != 0;
  }
  // A pitch shift up by s semitones shortens a file by 2^(s/12).
  if (shifted && options_.augment.semitones > 0) {
    shortest = static_cast<std::int64_t>(static_cast<double>(shortest) * std::exp2(-options_.augment.semitones / 12.0)) - 64;
  }
  return static_cast<int>(std::max<std::int64_t>(0, shortest) / options_.model.seq_len);
}

namespace {

// Polarity, gain and pitch of one use of a file (DatasetOptions::augment).
void augment_audio(std::vector<float>& x, int rate_hz, const AugmentOptions& a, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const bool invert = a.polarity && unit(rng) < 0.5;
  const double gain_db = a.gain_db > 0 ? (2 * unit(rng) - 1) * a.gain_db : 0.0;
  const double semitones = a.semitones > 0 ? (2 * unit(rng) - 1) * a.semitones : 0.0;
  if (semitones != 0) {
    // Read as if recorded at rate * 2^(s/12) and converted back to rate: up s semitones.
    const int from_hz = static_cast<int>(std::lround(rate_hz * std::exp2(semitones / 12.0)));
    if (from_hz != rate_hz) x = resample(Span<const float>(x.data(), x.size()), from_hz, rate_hz);
  }
  float peak = 0;
  for (float v : x) peak = std::max(peak, std::fabs(v));
  double gain = std::pow(10.0, gain_db / 20.0);
  if (peak > 0 && gain * peak > 1.0) gain = std::max(1.0 / peak, std::min(gain, 1.0));
  const float g = static_cast<float>(invert ? -gain : gain);
  if (g != 1.0f) {
    for (float& v : x) v *= g;
  }
}

}  // namespace

AugmentOptions parse_augment(const std::string& spec) {
  AugmentOptions a;
  if (spec.empty() || spec == "none" || spec == "None") return a;
  std::size_t begin = 0;
  while (begin <= spec.size()) {
    const std::size_t end = std::min(spec.find(',', begin), spec.size());
    const std::string name = spec.substr(begin, end - begin);
    if (name == "polarity") {
      a.polarity = true;
    } else if (name == "gain") {
      a.gain_db = kAugmentGainDb;
    } else if (name == "pitch") {
      a.semitones = kAugmentSemitones;
    } else {
      throw Error(ErrorKind::kUsage, "--augment takes polarity, gain and pitch, comma-separated, or none; got '" +
                                         name + "'",
                  "such as --augment polarity,gain,pitch");
    }
    begin = end + 1;
  }
  return a;
}

std::string describe(const AugmentOptions& a) {
  std::string s;
  const auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (a.polarity) add("polarity inversion");
  if (a.gain_db > 0) add("gain within +-" + fixed(a.gain_db, 0) + " dB");
  if (a.semitones > 0) add("pitch within +-" + fixed(a.semitones, 0) + " semitones");
  return s.empty() ? "none" : s;
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
    if (file.augment_seed != 0) {
      augment_audio(audio.back().samples, options_.sample_rate_hz, options_.augment, file.augment_seed);
    }
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
