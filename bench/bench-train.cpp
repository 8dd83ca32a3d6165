// Training speed of one configuration, measured the way the Python reference
// (shared/reference/samplernn_reference.py --what train) measures it: random levels, Adam
// (lr 1e-3, eps 1e-4), gradient clipping at 5, RNN state carried between steps, one warm-up
// step, then the mean over --steps steps. Prints one JSON line, like the reference.
// --device cuda and --precision bf16|fp16 (autocast; fp16 with loss scaling) time it on a GPU,
// as the reference's --device cuda --amp does.
//
//   build/bench/bench-train --config small --batch_size 16 --steps 5 --threads 1
//   build-cuda/bench/bench-train --config default --batch_size 64 --device cuda --precision bf16
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/precision.h"
#include "train/train-step.h"

int main(int argc, char** argv) {
  std::string config_name = "small", device_name = "cpu", precision_name = "fp32";
  int batch = 16, steps = 5, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") config_name = v;
    else if (k == "--batch_size") batch = std::stoi(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--device") device_name = v;
    else if (k == "--precision") precision_name = v;
    else {
      std::fprintf(stderr, "usage: bench-train [--config small|default] [--batch_size N] [--steps N] [--threads N] "
                           "[--device cpu|cuda] [--precision fp32|bf16|fp16]\n");
      return 2;
    }
  }
  srnn::ModelConfig c;  // PRiSM's default
  if (config_name == "small") {
    c.dim = 256;
    c.num_rnn_layers = 2;
  } else if (config_name != "default") {
    std::fprintf(stderr, "unknown config '%s'\n", config_name.c_str());
    return 2;
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::Device device = torch::kCPU;
  srnn::Precision precision = srnn::Precision::kFp32;
  try {
    device = srnn::resolve_device(device_name, 0);
    precision = srnn::parse_precision(precision_name, device);
  } catch (const srnn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  srnn::SampleRNN model(c);
  model->to(device);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-4));
  srnn::ModelState states = model->initial_state(batch);
  srnn::LossScaler scaler(precision == srnn::Precision::kFp16);
  srnn::StepOptions options;
  options.precision = precision;
  options.scaler = &scaler;
  // The batches are made before the clock starts, on the device, as the reference's are.
  std::vector<torch::Tensor> xs;
  for (int s = 0; s <= steps; ++s) {
    xs.push_back(torch::randint(0, c.q_levels, {batch, c.lookback() + c.seq_len}, torch::kLong).to(device));
  }
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  srnn::train_step(model, opt, xs[0], states, options);
  sync();
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= steps; ++s) srnn::train_step(model, opt, xs[s], states, options);
  sync();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
  std::printf(
      "{\"impl\": \"samplernn\", \"config\": \"%s\", \"params\": %lld, \"threads\": %d, \"what\": \"train\", "
      "\"device\": \"%s\", \"precision\": \"%s\", \"batch_size\": %d, \"seq_len\": %d, \"sec_per_step\": %.6f, "
      "\"samples_per_sec\": %.1f}\n",
      config_name.c_str(), static_cast<long long>(params), threads, device.str().c_str(), precision_name.c_str(), batch,
      c.seq_len, dt, batch * c.seq_len / dt);
  return 0;
}
