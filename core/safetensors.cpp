#include "core/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A header larger than this is not a checkpoint of ours (guards against reading garbage).
constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {{DType::kF32, "F32", 4}, {DType::kF64, "F64", 8}, {DType::kBF16, "BF16", 2},
                                 {DType::kF16, "F16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
                                 {DType::kU8, "U8", 1},   {DType::kI8, "I8", 1}};

float f16_to_f32(std::uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  return sign ? -v : v;
}

[[noreturn]] void corrupt(const fs::path& path, const std::string& what) {
  throw Error(ErrorKind::kInput, "'" + path.string() + "' is not a valid checkpoint: " + what,
              "the file may be truncated or not a samplernn checkpoint (safetensors)");
}

// A JSON number that is a whole number in [0, limit]: never a float, a bool or a negative.
bool is_count(const json& v, std::uint64_t limit) {
  return v.is_number_unsigned() && v.get<std::uint64_t>() <= limit;
}

// One tensor's header entry, checked: {"dtype", "shape", "data_offsets"} and nothing else.
Tensor parse_entry(const fs::path& path, const std::string& name, const json& entry, std::uint64_t data_size) {
  const std::string what = "tensor '" + name + "'";
  if (!entry.is_object() || entry.size() != 3 || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    corrupt(path, what + " needs exactly dtype, shape and data_offsets");
  }
  Tensor t;
  const json& dt = entry["dtype"];
  bool known = false;
  for (const auto& d : kDTypes) {
    if (dt.is_string() && dt.get<std::string>() == d.name) {
      t.dtype = d.dtype;
      known = true;
    }
  }
  if (!known) corrupt(path, what + " has unsupported dtype " + dt.dump());
  const json& shape = entry["shape"];
  if (!shape.is_array()) corrupt(path, what + " has a shape that is not a list");
  // The byte count, with every product checked against the data it must fit in.
  std::uint64_t n_bytes = dtype_size(t.dtype);
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) corrupt(path, what + " has a dimension that is not a count: " + d.dump());
    const std::uint64_t dim = d.get<std::uint64_t>();
    if (dim > data_size) corrupt(path, what + " is larger than the file");
    if (dim != 0 && n_bytes > data_size / dim) corrupt(path, what + " is larger than the file");
    n_bytes *= dim;
    t.shape.push_back(static_cast<std::int64_t>(dim));
  }
  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !is_count(offsets[0], data_size) ||
      !is_count(offsets[1], data_size) || offsets[0].get<std::uint64_t>() > offsets[1].get<std::uint64_t>()) {
    corrupt(path, what + " has data_offsets " + offsets.dump() + ", not two ascending byte positions within the " +
                      std::to_string(data_size) + " data bytes (truncated?)");
  }
  if (offsets[1].get<std::uint64_t>() - offsets[0].get<std::uint64_t>() != n_bytes) {
    corrupt(path, what + " has " + std::to_string(offsets[1].get<std::uint64_t>() - offsets[0].get<std::uint64_t>()) +
                      " bytes for its shape, which needs " + std::to_string(n_bytes));
  }
  return t;
}

// The tensors' byte ranges must tile [0, data_size): sorted, each starts where the one before
// ends. This rules out aliased and overlapping tensors and hidden bytes.
template <typename Span>
void check_tiling(const fs::path& path, std::vector<Span>& spans, std::uint64_t data_size) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t at = 0;
  for (const Span& sp : spans) {
    if (sp.begin < at) corrupt(path, "tensor '" + sp.name + "' overlaps the tensor before it");
    if (sp.begin > at) corrupt(path, "there are " + std::to_string(sp.begin - at) + " unused bytes before tensor '" + sp.name + "'");
    at = sp.end;
  }
  if (at != data_size) corrupt(path, std::to_string(data_size - at) + " bytes follow the last tensor");
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

std::uint16_t f32_to_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if (std::isnan(x)) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
  return static_cast<std::uint16_t>(u >> 16);
}

float bf16_to_f32(std::uint16_t x) {
  const std::uint32_t u = static_cast<std::uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<float> Tensor::to_f32() const {
  const std::size_t n = static_cast<std::size_t>(numel());
  std::vector<float> out(n);
  switch (dtype) {
    case DType::kF32: std::memcpy(out.data(), bytes.data(), n * 4); break;
    case DType::kF64:
      for (std::size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, bytes.data() + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    case DType::kBF16:
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        out[i] = dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
      break;
    default: throw Error(ErrorKind::kInput, std::string("tensor of type ") + dtype_name(dtype) + " is not floating point");
  }
  return out;
}

bool Tensor::all_finite() const {
  if (dtype != DType::kF32 && dtype != DType::kF64 && dtype != DType::kBF16 && dtype != DType::kF16) return true;
  for (float x : to_f32()) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

void TensorFile::put_f32(const std::string& name, std::vector<std::int64_t> shape, const float* data) {
  Tensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.bytes.resize(static_cast<std::size_t>(t.numel()) * 4);
  if (!t.bytes.empty()) std::memcpy(t.bytes.data(), data, t.bytes.size());
  tensors[name] = std::move(t);
}

const Tensor& TensorFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(ErrorKind::kInput, "checkpoint has no tensor '" + name + "'");
  return it->second;
}

void save_safetensors(const fs::path& path, const TensorFile& file) {
  json header = json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    if (t.bytes.size() != static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype)) {
      throw Error(ErrorKind::kInternal, "tensor '" + name + "' has " + std::to_string(t.bytes.size()) +
                                            " bytes for its shape");
    }
    header[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data to 8 bytes

  AtomicFile out(path);
  {
    std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
    if (f == nullptr) {
      throw Error(ErrorKind::kIo, "cannot write '" + path.string() + "': " + errno_text(errno),
                  "check the folder exists and is writable");
    }
    std::uint8_t len[8];
    const std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    for (const auto& [name, t] : file.tensors) {
      ok = ok && (t.bytes.empty() || std::fwrite(t.bytes.data(), 1, t.bytes.size(), f) == t.bytes.size());
    }
    const int err = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      throw Error(ErrorKind::kIo, "cannot write '" + path.string() + "': " + errno_text(err),
                  "is the disk full? the previous checkpoint is untouched");
    }
  }
  out.commit(/*durable=*/true);
}

TensorFile load_safetensors(const fs::path& path, const std::function<bool(const std::string&)>& keep) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw Error(ErrorKind::kInput, "checkpoint '" + path.string() + "' does not exist",
                "pass the file itself, e.g. logdir/<id>/<run>/model.ckpt-<epoch>");
  }
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw Error(ErrorKind::kInput, "cannot read '" + path.string() + "': " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kInput, "cannot open '" + path.string() + "'");
  if (file_size < 8) corrupt(path, "it is only " + std::to_string(file_size) + " bytes long");
  std::uint8_t len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes || header_len + 8 > file_size) {
    corrupt(path, "its header length " + std::to_string(header_len) + " does not fit the file size " +
                      std::to_string(file_size));
  }
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception&) {
    corrupt(path, "its header is not JSON");
  }
  if (!header.is_object()) corrupt(path, "its header is not a JSON object");

  TensorFile out;
  const std::uint64_t data_begin = 8 + header_len;
  const std::uint64_t data_size = file_size - data_begin;
  struct Span {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) corrupt(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) corrupt(path, "metadata '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const Tensor t = parse_entry(path, name, entry, data_size);
    const auto& offsets = entry["data_offsets"];
    spans.push_back({offsets[0].get<std::uint64_t>(), offsets[1].get<std::uint64_t>(), name});
    out.listing[name] = t;
  }
  check_tiling(path, spans, data_size);
  for (const Span& sp : spans) {
    if (keep && !keep(sp.name)) continue;
    Tensor t = out.listing[sp.name];
    t.bytes.resize(sp.end - sp.begin);
    in.seekg(static_cast<std::streamoff>(data_begin + sp.begin));
    in.read(reinterpret_cast<char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
    if (!in) corrupt(path, "reading tensor '" + sp.name + "' failed");
    out.tensors[sp.name] = std::move(t);
  }
  return out;
}

}  // namespace srnn
