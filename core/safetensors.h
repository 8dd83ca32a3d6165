// The safetensors file format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and byte
// range, then the raw little-endian tensor data. Free-form string metadata sits under the
// header key "__metadata__". Python users open samplernn checkpoints with
// `safetensors.numpy.load_file` or `safetensors.torch.load_file`.
//
//   srnn::TensorFile f;
//   f.metadata["epoch"] = "3";
//   f.put_f32("tiers.0.input.weight", {1024, 16}, data);
//   srnn::save_safetensors("model.ckpt-3", f);          // atomic, flushed to disk
//   srnn::TensorFile g = srnn::load_safetensors("model.ckpt-3");
//
// Reading is strict, as the format's specification asks: the header is a JSON object whose
// tensor entries have exactly a known dtype, a shape of non-negative integers and two integer
// data_offsets, each tensor's byte count is its shape times its dtype size, and the tensors
// tile the data that follows the header exactly, in some order: no overlap, no gap, no byte
// beyond the last one.
//
// Errors: Error(kInput) naming the file and what is wrong with it (truncated, not a
// safetensors file, inconsistent offsets); Error(kIo) for failed writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace srnn {

enum class DType { kF32, kF64, kBF16, kF16, kI64, kI32, kU8, kI8 };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "F32", "BF16", ...

struct Tensor {
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // little-endian, row-major

  std::int64_t numel() const;
  // The data as floats (F32 as is; BF16, F16 and F64 converted). Throws for integer types.
  std::vector<float> to_f32() const;
  // False when a floating-point tensor holds NaN or an infinity (integer tensors: true).
  bool all_finite() const;
};

struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  // After load_safetensors: every tensor of the file with its dtype and shape (no bytes),
  // whether `keep` read it or not.
  std::map<std::string, Tensor> listing;

  void put_f32(const std::string& name, std::vector<std::int64_t> shape, const float* data);
  void put(const std::string& name, Tensor tensor) { tensors[name] = std::move(tensor); }
  bool has(const std::string& name) const { return tensors.count(name) > 0; }
  // Throws Error(kInput) naming the tensor when it is missing.
  const Tensor& at(const std::string& name) const;
};

// Writes atomically (temporary file, fsync, rename). Tensors are stored in name order.
void save_safetensors(const std::filesystem::path& path, const TensorFile& file);

// Reads the tensors for which keep(name) is true (all when keep is empty) and all metadata.
TensorFile load_safetensors(const std::filesystem::path& path,
                            const std::function<bool(const std::string&)>& keep = {});

// float <-> bfloat16 (round to nearest even), used for bf16 weights.
std::uint16_t f32_to_bf16(float x);
float bf16_to_f32(std::uint16_t x);

}  // namespace srnn
