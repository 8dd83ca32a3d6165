#include "core/safetensors.h"

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
                                 {DType::kU8, "U8", 1}};

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
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) corrupt(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) corrupt(path, "metadata '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    try {
      Tensor t;
      const std::string dt = entry.at("dtype").get<std::string>();
      bool known = false;
      for (const auto& d : kDTypes) {
        if (dt == d.name) {
          t.dtype = d.dtype;
          known = true;
        }
      }
      if (!known) corrupt(path, "tensor '" + name + "' has unsupported dtype " + dt);
      t.shape = entry.at("shape").get<std::vector<std::int64_t>>();
      for (auto d : t.shape) {
        if (d < 0) corrupt(path, "tensor '" + name + "' has a negative dimension");
      }
      const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size) {
        corrupt(path, "tensor '" + name + "' lies outside the file (truncated?)");
      }
      const std::uint64_t n_bytes = offsets[1] - offsets[0];
      if (n_bytes != static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype)) {
        corrupt(path, "tensor '" + name + "' has " + std::to_string(n_bytes) + " bytes for its shape");
      }
      if (keep && !keep(name)) continue;
      t.bytes.resize(n_bytes);
      in.seekg(static_cast<std::streamoff>(data_begin + offsets[0]));
      in.read(reinterpret_cast<char*>(t.bytes.data()), static_cast<std::streamsize>(n_bytes));
      if (!in) corrupt(path, "reading tensor '" + name + "' failed");
      out.tensors[name] = std::move(t);
    } catch (const json::exception&) {
      corrupt(path, "tensor '" + name + "' has a malformed header entry");
    }
  }
  return out;
}

}  // namespace srnn
