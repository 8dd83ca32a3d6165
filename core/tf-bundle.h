// TensorFlow's checkpoint format ("tensor bundle"), read-only: what Keras `save_weights`
// writes, as PRiSM SampleRNN saves its models.
//
//   <prefix>.index                  a LevelDB-format table: key "" holds a BundleHeaderProto
//                                   (shard count, endianness), every other key a
//                                   BundleEntryProto (dtype, shape, shard, offset, size,
//                                   masked CRC32C of the bytes)
//   <prefix>.data-00000-of-00001    the tensors, raw, little-endian, packed
//
//   srnn::TfBundle b(srnn::resolve_tf_checkpoint("logdir/default/01.02.2021_10.00.00"));
//   for (const auto& [key, e] : b.entries()) std::cout << key << "\n";
//   srnn::Tensor t = b.read("sample_mlp/outputs/kernel/.ATTRIBUTES/VARIABLE_VALUE");
//
// The index is read whole (at most 256 MiB), every block handle checked against the file's
// size and every block against its CRC before it is parsed; its entries go through
// protobuf's wire-format reader. Tensors are read by offset from the data shard, one at a
// time, and every one is checked against its CRC: a 1 GB checkpoint is never held whole.
//
// Errors: Error(kInput) naming the file: not a TensorFlow checkpoint, a damaged table, a
// missing or truncated data shard, a CRC mismatch, big-endian bundles, partitioned variables.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace srnn {

struct TfBundleEntry {
  int tf_dtype = 0;                  // TensorFlow's DataType enum (1 float, 9 int64, 7 string, ...)
  std::optional<DType> dtype;        // the same as ours, when we read it
  std::vector<std::int64_t> shape;
  int shard_id = 0;
  std::int64_t offset = 0;
  std::int64_t size = 0;             // bytes in the shard
  std::uint32_t masked_crc32c = 0;
  bool partitioned = false;          // a slice of a partitioned variable
};

class TfBundle {
 public:
  // `prefix` is the path without ".index" (resolve_tf_checkpoint finds it).
  explicit TfBundle(const std::filesystem::path& prefix);

  const std::filesystem::path& prefix() const { return prefix_; }
  const std::map<std::string, TfBundleEntry>& entries() const { return entries_; }
  bool has(const std::string& key) const { return entries_.count(key) > 0; }
  const TfBundleEntry& entry(const std::string& key) const;  // Error(kInput) when missing

  // The tensor's bytes from its shard, checked against the entry's size and CRC.
  Tensor read(const std::string& key) const;

 private:
  std::filesystem::path shard_path(int shard) const;

  std::filesystem::path prefix_;
  int num_shards_ = 1;
  std::map<std::string, TfBundleEntry> entries_;
};

// The checkpoint prefix a user means: "<prefix>.index", "<prefix>.data-00000-of-00001",
// the prefix itself, a folder with TensorFlow's `checkpoint` file (its
// model_checkpoint_path), or a folder of run folders (PRiSM's logdir/<id>: the newest run
// folder, by its DD.MM.YYYY_HH.MM.SS name, that has one). std::nullopt when `path` is none
// of these.
std::optional<std::filesystem::path> find_tf_checkpoint(const std::filesystem::path& path);
// As find_tf_checkpoint, but throws Error(kInput) saying what was looked for.
std::filesystem::path resolve_tf_checkpoint(const std::filesystem::path& path);

}  // namespace srnn
