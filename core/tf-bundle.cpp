#include "core/tf-bundle.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <string_view>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/run-layout.h"

namespace fs = std::filesystem;

namespace srnn {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

constexpr std::int64_t kMaxEntries = 1 << 20;
constexpr int kMaxDims = 32;

Error bad_index(const fs::path& index, const std::string& what) {
  return Error(ErrorKind::kInput, "'" + index.string() + "' is not a readable TensorFlow checkpoint index: " + what,
               "give the .index file Keras save_weights wrote (PRiSM: logdir/<id>/<run>/model.ckpt-<epoch>.index)");
}

std::optional<DType> our_dtype(int tf_dtype) {
  switch (tf_dtype) {
    case 1: return DType::kF32;
    case 2: return DType::kF64;
    case 3: return DType::kI32;
    case 4: return DType::kU8;
    case 6: return DType::kI8;
    case 9: return DType::kI64;
    case 14: return DType::kBF16;
    case 19: return DType::kF16;
    default: return std::nullopt;
  }
}

// A length-delimited field's payload, as a nested stream's limit. False when malformed.
template <typename F>
bool read_message(CodedInputStream& in, F&& field) {
  std::uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  const auto limit = in.PushLimit(static_cast<int>(std::min<std::uint32_t>(length, 1u << 30)));
  const bool ok = field(in);
  if (!ok || in.BytesUntilLimit() != 0) return false;
  in.PopLimit(limit);
  return true;
}

bool read_dim(CodedInputStream& in, std::int64_t* size) {
  for (std::uint32_t tag; (tag = in.ReadTag()) != 0;) {
    if (tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
      std::uint64_t v = 0;
      if (!in.ReadVarint64(&v)) return false;
      *size = static_cast<std::int64_t>(v);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

bool read_shape(CodedInputStream& in, TfBundleEntry& e) {
  for (std::uint32_t tag; (tag = in.ReadTag()) != 0;) {
    if (tag == WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      std::int64_t size = 0;
      if (!read_message(in, [&](CodedInputStream& s) { return read_dim(s, &size); })) return false;
      if (size < 0 || e.shape.size() >= kMaxDims) return false;  // -1: unknown, never in a checkpoint
      e.shape.push_back(size);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

bool read_entry(CodedInputStream& in, TfBundleEntry& e) {
  for (std::uint32_t tag; (tag = in.ReadTag()) != 0;) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire = WireFormatLite::GetTagWireType(tag);
    std::uint64_t v = 0;
    if (wire == WireFormatLite::WIRETYPE_VARINT && field >= 1 && field <= 5 && field != 2) {
      if (!in.ReadVarint64(&v)) return false;
      if (field == 1) e.tf_dtype = static_cast<int>(v);
      if (field == 3) e.shard_id = static_cast<int>(v);
      if (field == 4) e.offset = static_cast<std::int64_t>(v);
      if (field == 5) e.size = static_cast<std::int64_t>(v);
    } else if (field == 2 && wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!read_message(in, [&](CodedInputStream& s) { return read_shape(s, e); })) return false;
    } else if (field == 6 && wire == WireFormatLite::WIRETYPE_FIXED32) {
      if (!in.ReadLittleEndian32(&e.masked_crc32c)) return false;
    } else if (field == 7) {
      e.partitioned = true;
      if (!WireFormatLite::SkipField(&in, tag)) return false;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

// BundleHeaderProto: num_shards (1), endianness (2: 0 little, 1 big), version (3).
bool read_header(CodedInputStream& in, int* num_shards, int* endianness) {
  for (std::uint32_t tag; (tag = in.ReadTag()) != 0;) {
    std::uint64_t v = 0;
    if (tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
      if (!in.ReadVarint64(&v)) return false;
      *num_shards = static_cast<int>(std::min<std::uint64_t>(v, 1u << 20));
    } else if (tag == WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_VARINT)) {
      if (!in.ReadVarint64(&v)) return false;
      *endianness = static_cast<int>(v);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

// numel * element size, or -1 on overflow.
std::int64_t byte_count(const std::vector<std::int64_t>& shape, DType dtype) {
  std::int64_t n = static_cast<std::int64_t>(dtype_size(dtype));
  for (std::int64_t d : shape) {
    if (d != 0 && n > (std::int64_t{1} << 50) / d) return -1;
    n *= d;
  }
  return n;
}

// TensorFlow's table format (LevelDB's): data blocks of prefix-compressed key/value entries,
// an index block whose values are the data blocks' handles, and a 48-byte footer that holds
// the index block's handle. Every block is followed by its compression type and masked CRC32C.
constexpr std::uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr std::size_t kFooterSize = 48;
constexpr std::size_t kBlockTrailerSize = 5;
constexpr std::uintmax_t kMaxIndexBytes = std::uintmax_t{256} << 20;

std::uint32_t le32(const char* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

class TableReader {
 public:
  TableReader(const fs::path& index, std::string bytes) : index_(index), bytes_(std::move(bytes)) {}

  // Every (key, value) of the table, in order.
  void for_each(const std::function<void(const std::string&, std::string_view)>& visit) const {
    if (bytes_.size() < kFooterSize) throw bad_index(index_, "shorter than a table's footer");
    const char* footer = bytes_.data() + bytes_.size() - kFooterSize;
    std::uint64_t magic = 0;
    std::memcpy(&magic, footer + kFooterSize - 8, 8);
    if (magic != kTableMagic) throw bad_index(index_, "no table footer (its magic number is wrong)");
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(footer), static_cast<int>(kFooterSize - 8));
    std::uint64_t meta_offset = 0, meta_size = 0, index_offset = 0, index_size = 0;
    if (!in.ReadVarint64(&meta_offset) || !in.ReadVarint64(&meta_size) || !in.ReadVarint64(&index_offset) ||
        !in.ReadVarint64(&index_size)) {
      throw bad_index(index_, "a malformed table footer");
    }
    for_each_entry(block(index_offset, index_size), [&](const std::string&, std::string_view handle) {
      CodedInputStream h(reinterpret_cast<const std::uint8_t*>(handle.data()), static_cast<int>(handle.size()));
      std::uint64_t offset = 0, size = 0;
      if (!h.ReadVarint64(&offset) || !h.ReadVarint64(&size)) throw bad_index(index_, "a malformed block handle");
      for_each_entry(block(offset, size), visit);
    });
  }

 private:
  // The contents of the block at [offset, offset + size), its trailer checked.
  std::string_view block(std::uint64_t offset, std::uint64_t size) const {
    const std::uint64_t n = bytes_.size();
    if (offset > n || size > n - offset || kBlockTrailerSize > n - offset - size) {
      throw bad_index(index_, "a block handle past the end of the file (" + std::to_string(n) + " bytes)");
    }
    const char* data = bytes_.data() + offset;
    const auto type = static_cast<unsigned char>(data[size]);
    if (mask_crc32c(crc32c(reinterpret_cast<const std::uint8_t*>(data), size + 1)) != le32(data + size + 1)) {
      throw bad_index(index_, "a block fails its CRC32C check: the file is damaged");
    }
    if (type != 0) {
      throw bad_index(index_, "a compressed block (type " + std::to_string(type) +
                                  "); TensorFlow writes checkpoint indexes uncompressed");
    }
    return {data, size};
  }

  // Entries: shared key prefix length, the rest of the key's length and the value's length
  // (varint32 each), the rest of the key, the value; then the restart offsets (fixed32 each)
  // and their count (fixed32).
  void for_each_entry(std::string_view b, const std::function<void(const std::string&, std::string_view)>& visit) const {
    if (b.size() < 4) throw bad_index(index_, "a block too short for its restart count");
    const std::uint64_t restarts = le32(b.data() + b.size() - 4);
    if (restarts > (b.size() - 4) / 4) throw bad_index(index_, "a block with more restarts than bytes");
    const std::size_t limit = b.size() - 4 - 4 * restarts;
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(b.data()), static_cast<int>(limit));
    std::string key;
    while (in.CurrentPosition() < static_cast<int>(limit)) {
      std::uint32_t shared = 0, unshared = 0, value_size = 0;
      if (!in.ReadVarint32(&shared) || !in.ReadVarint32(&unshared) || !in.ReadVarint32(&value_size) ||
          shared > key.size() || std::uint64_t{unshared} + value_size > limit - in.CurrentPosition()) {
        throw bad_index(index_, "a malformed block entry");
      }
      const char* p = b.data() + in.CurrentPosition();
      key.resize(shared);
      key.append(p, unshared);
      in.Skip(static_cast<int>(unshared + value_size));
      visit(key, std::string_view(p + unshared, value_size));
    }
  }

  fs::path index_;
  std::string bytes_;
};

}  // namespace

TfBundle::TfBundle(const fs::path& prefix) : prefix_(prefix) {
  const fs::path index = fs::path(prefix.string() + ".index");
  std::error_code ec;
  const std::uintmax_t file_size = fs::is_regular_file(index, ec) ? fs::file_size(index, ec) : 0;
  std::ifstream file(index, std::ios::binary);
  if (ec || !file) {
    throw Error(ErrorKind::kInput, "cannot read TensorFlow checkpoint index '" + index.string() + "'",
                "check the path: a Keras checkpoint is <prefix>.index plus <prefix>.data-00000-of-00001");
  }
  if (file_size > kMaxIndexBytes) throw bad_index(index, std::to_string(file_size) + " bytes, too large for an index");
  std::string bytes(static_cast<std::size_t>(file_size), '\0');
  if (!file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    throw Error(ErrorKind::kInput, "cannot read TensorFlow checkpoint index '" + index.string() + "'");
  }
  const TableReader table(index, std::move(bytes));
  bool have_header = false;
  int endianness = 0;
  table.for_each([&](const std::string& key, std::string_view value) {
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(value.data()), static_cast<int>(value.size()));
    if (key.empty()) {
      if (!read_header(in, &num_shards_, &endianness)) throw bad_index(index, "a malformed header entry");
      have_header = true;
      return;
    }
    TfBundleEntry e;
    if (!read_entry(in, e)) throw bad_index(index, "a malformed entry for '" + key + "'");
    if (static_cast<std::int64_t>(entries_.size()) >= kMaxEntries) throw bad_index(index, "too many entries");
    e.dtype = our_dtype(e.tf_dtype);
    if (e.offset < 0 || e.size < 0 || e.shard_id < 0) throw bad_index(index, "a negative offset or size for '" + key + "'");
    if (e.dtype && !e.partitioned && byte_count(e.shape, *e.dtype) != e.size) {
      throw bad_index(index, "'" + key + "' has " + std::to_string(e.size) + " bytes, not what its shape and dtype need");
    }
    entries_.emplace(key, std::move(e));
  });
  if (!have_header) throw bad_index(index, "no header entry");
  if (endianness != 0) {
    throw Error(ErrorKind::kInput, "'" + index.string() + "' is a big-endian TensorFlow checkpoint",
                "re-save it on a little-endian machine (x86-64 or ARM)");
  }
  if (num_shards_ < 1) throw bad_index(index, "a shard count of " + std::to_string(num_shards_));
  for (const auto& [key, e] : entries_) {
    if (e.shard_id >= num_shards_) throw bad_index(index, "'" + key + "' names shard " + std::to_string(e.shard_id));
  }
}

const TfBundleEntry& TfBundle::entry(const std::string& key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw Error(ErrorKind::kInput, "TensorFlow checkpoint '" + prefix_.string() + "' has no tensor '" + key + "'");
  }
  return it->second;
}

fs::path TfBundle::shard_path(int shard) const {
  char suffix[64];
  std::snprintf(suffix, sizeof(suffix), ".data-%05d-of-%05d", shard, num_shards_);
  return fs::path(prefix_.string() + suffix);
}

Tensor TfBundle::read(const std::string& key) const {
  const TfBundleEntry& e = entry(key);
  if (e.partitioned) {
    throw Error(ErrorKind::kInput, "'" + key + "' in '" + prefix_.string() + "' is a partitioned variable",
                "save the model without variable partitioning (PRiSM never partitions)");
  }
  if (!e.dtype) {
    throw Error(ErrorKind::kInput, "'" + key + "' in '" + prefix_.string() + "' has TensorFlow dtype " +
                                       std::to_string(e.tf_dtype) + ", which samplernn does not read");
  }
  const fs::path shard = shard_path(e.shard_id);
  std::error_code ec;
  const std::uintmax_t shard_size = fs::file_size(shard, ec);
  if (ec) {
    throw Error(ErrorKind::kInput, "the data shard '" + shard.string() + "' of TensorFlow checkpoint '" +
                                       prefix_.string() + "' is missing",
                "copy it beside the .index file: a checkpoint needs both");
  }
  if (static_cast<std::uintmax_t>(e.offset) + static_cast<std::uintmax_t>(e.size) > shard_size) {
    throw Error(ErrorKind::kInput, "the data shard '" + shard.string() + "' is truncated: '" + key + "' ends at byte " +
                                       std::to_string(e.offset + e.size) + " of " + std::to_string(shard_size),
                "copy the checkpoint again; the copy is incomplete");
  }
  Tensor t;
  t.dtype = *e.dtype;
  t.shape = e.shape;
  t.bytes.resize(static_cast<std::size_t>(e.size));
  std::ifstream in(shard, std::ios::binary);
  in.seekg(e.offset);
  if (!in.read(reinterpret_cast<char*>(t.bytes.data()), e.size)) {
    throw Error(ErrorKind::kInput, "cannot read '" + key + "' from '" + shard.string() + "'");
  }
  if (masked_crc32c(t.bytes.data(), t.bytes.size()) != e.masked_crc32c) {
    throw Error(ErrorKind::kInput, "'" + key + "' in '" + shard.string() + "' fails its CRC32C check: the file is damaged",
                "copy the checkpoint again, or import an earlier one");
  }
  return t;
}

namespace {

bool has_index(const fs::path& prefix) {
  std::error_code ec;
  return fs::is_regular_file(prefix.string() + ".index", ec);
}

// model_checkpoint_path from TensorFlow's `checkpoint` file (a text proto), relative to its
// folder; when it names a path that moved with the folder, the same file name there.
std::optional<fs::path> from_state_file(const fs::path& dir) {
  std::ifstream in(dir / "checkpoint");
  if (!in) return std::nullopt;
  static const std::regex line(R"re(^\s*model_checkpoint_path\s*:\s*"(.*)"\s*$)re");
  for (std::string s; std::getline(in, s);) {
    std::smatch m;
    if (!std::regex_match(s, m, line)) continue;
    const fs::path named = m[1].str();
    const fs::path p = named.is_absolute() ? named : dir / named;
    if (has_index(p)) return p;
    if (has_index(dir / named.filename())) return dir / named.filename();
  }
  return std::nullopt;
}

// The highest-numbered model.ckpt-<n> with an index in `dir`.
std::optional<fs::path> newest_prefix_in(const fs::path& dir) {
  static const std::regex name(R"(^(.*-([0-9]+))\.index$)");
  std::optional<fs::path> best;
  long long best_n = -1;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string s = f.path().filename().string();
    if (!std::regex_match(s, m, name)) continue;
    const long long n = std::stoll(m[2].str().substr(0, 18));
    if (n > best_n) best_n = n, best = dir / m[1].str();
  }
  return best;
}

}  // namespace

std::optional<fs::path> find_tf_checkpoint(const fs::path& path) {
  static const std::regex data(R"(^(.*)\.data-[0-9]{5}-of-[0-9]{5}$)");
  std::error_code ec;
  const std::string s = path.string();
  std::smatch m;
  if (s.size() > 6 && s.ends_with(".index") && fs::is_regular_file(path, ec)) return fs::path(s.substr(0, s.size() - 6));
  if (std::regex_match(s, m, data) && has_index(m[1].str())) return fs::path(m[1].str());
  if (has_index(path)) return path;
  if (!fs::is_directory(path, ec)) return std::nullopt;
  if (auto p = from_state_file(path)) return p;
  if (auto p = newest_prefix_in(path)) return p;
  const std::vector<fs::path> runs = run_folders(path);  // PRiSM's logdir/<id>: newest run first
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (auto p = from_state_file(*it)) return p;
  }
  return std::nullopt;
}

fs::path resolve_tf_checkpoint(const fs::path& path) {
  if (auto p = find_tf_checkpoint(path)) return *p;
  throw Error(ErrorKind::kInput, "'" + path.string() + "' is not a TensorFlow checkpoint",
              "give model.ckpt-<epoch>.index (or its .data-00000-of-00001, or the prefix), a run folder with TensorFlow's "
              "'checkpoint' file, or PRiSM's logdir/<id>");
}

}  // namespace srnn
