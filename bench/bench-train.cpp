// Training speed of one configuration, measured the way the Python reference
// (shared/reference/samplernn_reference.py --what train) measures it: random levels, Adam
// (lr 1e-3, eps 1e-4), gradient clipping at 5, RNN state carried between steps, one warm-up
// step, then the mean over --steps steps. Prints one JSON line, like the reference.
//
//   build/bench/bench-train --config small --batch_size 16 --steps 5 --threads 1
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "train/train-step.h"

int main(int argc, char** argv) {
  std::string config_name = "small";
  int batch = 16, steps = 5, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") config_name = v;
    else if (k == "--batch_size") batch = std::stoi(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else {
      std::fprintf(stderr, "usage: bench-train [--config small|default] [--batch_size N] [--steps N] [--threads N]\n");
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
  srnn::SampleRNN model(c);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-4));
  srnn::ModelState states = model->initial_state(batch);
  auto batch_x = [&] { return torch::randint(0, c.q_levels, {batch, c.lookback() + c.seq_len}, torch::kLong); };
  srnn::train_step(model, opt, batch_x(), states);
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) srnn::train_step(model, opt, batch_x(), states);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
  std::printf(
      "{\"impl\": \"samplernn\", \"config\": \"%s\", \"params\": %lld, \"threads\": %d, \"what\": \"train\", "
      "\"batch_size\": %d, \"seq_len\": %d, \"sec_per_step\": %.6f, \"samples_per_sec\": %.1f}\n",
      config_name.c_str(), static_cast<long long>(params), threads, batch, c.seq_len, dt, batch * c.seq_len / dt);
  return 0;
}
