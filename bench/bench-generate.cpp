// Generation speed of the engine for the reference's configs, in samples per second summed
// over sequences, like shared/reference/samplernn_reference.py --what generate. Weights are
// random (speed does not depend on them). One warm-up run, then --reps timed runs; prints
// one JSON line with the median and the spread, and the peak resident memory.
//
//   build/bench/bench-generate --config small --num_seqs 16 --dur_samples 16384 --threads 2
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "infer/kernels.h"
#include "train/checkpoint.h"

int main(int argc, char** argv) {
  std::string config_name = "small";
  int num_seqs = 1, threads = 1, reps = 5;
  srnn::WeightFormat format = srnn::WeightFormat::kF32;
  long long dur = 16384;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") config_name = v;
    else if (k == "--num_seqs") num_seqs = std::stoi(v);
    else if (k == "--dur_samples") dur = std::stoll(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--weights") format = srnn::parse_weight_format(v);
    else {
      std::fprintf(stderr, "usage: bench-generate [--config small|default] [--num_seqs N] [--dur_samples N] "
                           "[--threads N] [--reps N] [--weights fp32|bf16|int8]\n");
      return 2;
    }
  }
  srnn::ModelConfig c;  // PRiSM's default
  if (config_name == "small") {
    c.dim = 256;
    c.num_rnn_layers = 2;
  }
  srnn::EngineWeights w;
  {
    torch::manual_seed(0);
    srnn::SampleRNN model(c);
    srnn::CheckpointInfo info;
    info.config = c;
    w = srnn::engine_weights_from(srnn::weights_to_tensor_file(model), info, format);
  }
  srnn::GenerateRequest req;
  req.temperatures.assign(num_seqs, 1.0);
  req.n_threads = threads;
  req.n_samples = 2 * c.lookback();
  srnn::generate(w, req);  // warm-up
  req.n_samples = dur;
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    req.rng_seed = static_cast<std::uint64_t>(r);
    const auto t0 = std::chrono::steady_clock::now();
    srnn::generate(w, req);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(num_seqs) * dur / s);
  }
  std::sort(rates.begin(), rates.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"impl\": \"samplernn\", \"config\": \"%s\", \"what\": \"generate\", \"num_seqs\": %d, \"threads\": %d, "
      "\"kernels\": \"%s\", \"weights\": \"%s\", \"samples_per_sec\": %.1f, \"min\": %.1f, \"max\": %.1f, \"reps\": %d, \"peak_rss_mb\": %.0f, "
      "\"weight_mb_per_sample\": %.3f}\n",
      config_name.c_str(), num_seqs, threads, srnn::kernel_level_name(srnn::kernel_level()), srnn::weight_format_name(format),
      rates[rates.size() / 2],
      rates.front(), rates.back(), reps, ru.ru_maxrss / 1024.0, srnn::weight_bytes_per_sample(w) / 1e6);
  return 0;
}
