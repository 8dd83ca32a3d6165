// Where training runs and in what precision: the device from --device, autocast for
// --precision bf16/fp16, and dynamic loss scaling for fp16 (what torch.cuda.amp does).
//
//   torch::Device dev = srnn::resolve_device("auto", /*local_rank=*/0);
//   srnn::Precision p = srnn::parse_precision("bf16", dev);
//   { srnn::AutocastScope autocast(p, dev); logits = model->forward(x, states); }
//
// Parameters and optimiser state stay fp32; under autocast the GEMMs of the linear layers,
// the upsampling and the sample tier's tables run in bf16/fp16. Every RNN layer, GRU or LSTM,
// runs outside autocast in fp32 on every device (train/gru.h), so the RNN state carried from
// window to window, and stored in a checkpoint by a stop inside a batch, is always fp32.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace srnn {

enum class Precision { kFp32, kBf16, kFp16 };

// "auto" is the GPU of this process's local rank when CUDA is available, else the CPU;
// "cuda" is cuda:<local_rank>. Error(kUsage) for a malformed name or a GPU that is missing.
torch::Device resolve_device(const std::string& spec, int local_rank);

// Error(kUsage) for an unknown name, or fp16 off CUDA (CPU autocast supports bf16 only).
// "auto" is bf16 on a GPU or on a CPU with bf16 arithmetic (cpu_has_bf16_arithmetic), where
// it trains 1.6 times as many steps per second as fp32 (docs/benchmarks.md); fp32 elsewhere,
// where bf16 is emulated and many times slower.
Precision parse_precision(const std::string& name, const torch::Device& device);
std::string precision_name(Precision p);
// The CPU's flags (/proc/cpuinfo) name AMX-BF16 or AVX512-BF16.
bool cpu_has_bf16_arithmetic();

// Autocast on `device` in the given precision for the lifetime of the scope (no-op for
// fp32). Clears the autocast cache on exit.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false, cuda_ = false, was_enabled_ = false;
  at::ScalarType old_dtype_ = at::kFloat;
};

// Dynamic loss scaling: the loss is multiplied by scale() before backward; gradients are
// divided by it before clipping. A step whose gradients hold an inf or NaN is skipped and
// the scale halved; after growth_interval good steps in a row it doubles.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double init_scale = 65536.0, int growth_interval = 2000);

  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }

  // Unscales the gradients in place. Returns false when the step must be skipped.
  bool unscale(const std::vector<torch::Tensor>& params);

  // The good steps since the last change of scale; with scale(), what a checkpoint keeps.
  int good_steps() const { return good_steps_; }
  void restore(double scale, int good_steps) {
    scale_ = scale;
    good_steps_ = good_steps;
  }

 private:
  bool enabled_;
  double scale_;
  int growth_interval_, good_steps_ = 0;
};

}  // namespace srnn
