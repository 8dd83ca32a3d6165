#include "train/precision.h"

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>

#include <cmath>

#include "core/error.h"
#include "train/train.h"

namespace srnn {
namespace {

bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_autocast(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
at::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_dtype(bool cuda, at::ScalarType t) { at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t); }

}  // namespace

bool torch_cuda_available() { return torch::cuda::is_available(); }

torch::Device resolve_device(const std::string& spec, int local_rank) {
  const bool have_cuda = torch::cuda::is_available();
  const int n_gpus = have_cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (spec == "cpu") return torch::kCPU;
  if (spec == "auto" && !have_cuda) return torch::kCPU;
  int index = local_rank;
  if (spec.rfind("cuda:", 0) == 0) {
    const std::string n = spec.substr(5);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
      throw Error(ErrorKind::kUsage, "--device '" + spec + "' is not auto, cpu, cuda or cuda:N");
    }
    index = std::stoi(n);
  } else if (spec != "cuda" && spec != "auto") {
    throw Error(ErrorKind::kUsage, "--device '" + spec + "' is not auto, cpu, cuda or cuda:N");
  }
  if (!have_cuda) {
    throw Error(ErrorKind::kUsage, "--device " + spec + ": no CUDA GPU is available to this build of LibTorch",
                "use --device cpu, or build against a CUDA LibTorch (CMAKE_PREFIX_PATH) on a machine with a GPU");
  }
  if (index >= n_gpus) {
    throw Error(ErrorKind::kUsage, "--device " + spec + " (local rank " + std::to_string(local_rank) +
                                       "): this machine has only " + std::to_string(n_gpus) + " GPU(s)",
                "start at most one process per GPU");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

bool cpu_has_bf16_arithmetic() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      if (w == "amx_bf16" || w == "avx512_bf16") return true;
    }
    return false;
  }
  return false;
}

Precision parse_precision(const std::string& name, const torch::Device& device) {
  if (name == "auto") return device.is_cuda() || cpu_has_bf16_arithmetic() ? Precision::kBf16 : Precision::kFp32;
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp16") {
    if (!device.is_cuda()) {
      throw Error(ErrorKind::kUsage, "--precision fp16 needs a CUDA device; CPU autocast supports bf16 only",
                  "use --precision bf16 on the CPU");
    }
    return Precision::kFp16;
  }
  throw Error(ErrorKind::kUsage, "--precision must be auto, fp32, bf16 or fp16, got '" + name + "'");
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
  }
  return "fp32";
}

AutocastScope::AutocastScope(Precision precision, const torch::Device& device) {
  if (precision == Precision::kFp32) return;
  active_ = true;
  cuda_ = device.is_cuda();
  was_enabled_ = autocast_enabled(cuda_);
  old_dtype_ = autocast_dtype(cuda_);
  set_autocast_dtype(cuda_, precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
  set_autocast(cuda_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(cuda_, was_enabled_);
  set_autocast_dtype(cuda_, old_dtype_);
}

LossScaler::LossScaler(bool enabled, double init_scale, int growth_interval)
    : enabled_(enabled), scale_(init_scale), growth_interval_(growth_interval) {}

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  torch::NoGradGuard ng;
  bool finite = true;
  for (const torch::Tensor& p : params) {
    if (!p.grad().defined()) continue;
    p.grad().div_(scale_);
    if (finite && !torch::isfinite(p.grad()).all().item<bool>()) finite = false;
  }
  if (!finite) {
    scale_ = std::max(scale_ * 0.5, 1.0);
    good_steps_ = 0;
    return false;
  }
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    good_steps_ = 0;
  }
  return true;
}

}  // namespace srnn
