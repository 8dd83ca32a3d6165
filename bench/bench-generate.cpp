// Generation speed of the engine for the reference's configs, in samples per second summed
// over sequences, like shared/reference/samplernn_reference.py --what generate. Weights are
// random (speed does not depend on them). One warm-up run, then --reps timed runs; prints
// one JSON line with the median and the spread, the peak resident memory and the weight bytes
// streamed per sample. With --sparsity, the weights training prunes (frame tiers' RNNs and
// upsampling, and unless --prune_sample_tier False the sample tier's hidden layers) are first
// pruned to that fraction of --sparse_block blocks by magnitude, as training leaves them.
//
//   build/bench/bench-generate --config small --num_seqs 16 --dur_samples 16384 --threads 2
//   build/bench/bench-generate --config default --weights int8 --sparsity 0.9 --threads 2
//   build/bench/bench-generate --config default --num_seqs 1024 --device cuda   # the CUDA engine
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/sparsity.h"
#include "infer/cuda-engine.h"
#include "infer/engine.h"
#include "infer/kernels.h"
#include "train/checkpoint.h"

int main(int argc, char** argv) {
  std::string config_name = "small", device = "cpu";
  int num_seqs = 1, threads = 1, reps = 5;
  srnn::WeightFormat format = srnn::WeightFormat::kF32;
  long long dur = 16384;
  double sparsity = 0;
  srnn::BlockShape block;
  bool sample_tier = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") config_name = v;
    else if (k == "--num_seqs") num_seqs = std::stoi(v);
    else if (k == "--dur_samples") dur = std::stoll(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--weights") format = srnn::parse_weight_format(v);
    else if (k == "--sparsity") sparsity = std::stod(v);
    else if (k == "--device" && (v == "cpu" || v == "cuda")) device = v;
    else if (k == "--sparse_block") block = srnn::parse_block_shape(v);
    else if (k == "--prune_sample_tier" && (v == "True" || v == "False")) sample_tier = v == "True";
    else {
      std::fprintf(stderr, "usage: bench-generate [--config small|default] [--num_seqs N] [--dur_samples N] "
                           "[--threads N] [--reps N] [--weights fp32|bf16|int8] [--sparsity S] "
                           "[--sparse_block RxC] [--prune_sample_tier True|False] [--device cpu|cuda]\n");
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
    srnn::TensorFile file = srnn::weights_to_tensor_file(model);
    if (sparsity > 0) {
      for (const srnn::WeightMatrix& p : srnn::prunable_weights(c, sample_tier)) {
        srnn::Tensor& t = file.tensors.at(p.name);
        std::vector<float> v = t.to_f32();
        const auto mask = srnn::block_mask(v.data(), p.rows, p.cols, block, sparsity, p.transposed, p.keep_diagonal);
        for (std::size_t i = 0; i < v.size(); ++i) v[i] *= mask[i];
        file.put_f32(p.name, t.shape, v.data());
      }
    }
    w = srnn::engine_weights_from(file, info, format);
  }
  srnn::GenerateRequest req;
  req.temperatures.assign(num_seqs, 1.0);
  req.n_threads = threads;
  req.n_samples = 2 * c.lookback();
  const bool cuda = device == "cuda";
  const auto run = [&] { return cuda ? srnn::generate_cuda(w, req) : srnn::generate(w, req); };
  try {
    run();  // warm-up (on a GPU it also captures the graph)
  } catch (const srnn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  req.n_samples = dur;
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    req.rng_seed = static_cast<std::uint64_t>(r);
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(num_seqs) * dur / s);
  }
  std::sort(rates.begin(), rates.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"impl\": \"samplernn\", \"config\": \"%s\", \"what\": \"generate\", \"device\": \"%s\", \"num_seqs\": %d, \"threads\": %d, "
      "\"kernels\": \"%s\", \"weights\": \"%s\", \"samples_per_sec\": %.1f, \"min\": %.1f, \"max\": %.1f, \"reps\": %d, \"peak_rss_mb\": %.0f, "
      "\"weight_mb_per_sample\": %.3f, \"sparsity\": %.2f, \"sparse_block\": \"%s\", \"sample_tier_pruned\": %s}\n",
      config_name.c_str(), device.c_str(), num_seqs, threads, srnn::kernel_level_name(srnn::kernel_level()), srnn::weight_format_name(format),
      rates[rates.size() / 2],
      rates.front(), rates.back(), reps, ru.ru_maxrss / 1024.0, srnn::weight_bytes_per_sample(w) / 1e6, sparsity,
      srnn::block_shape_name(block).c_str(), sparsity > 0 && sample_tier ? "true" : "false");
  return 0;
}
