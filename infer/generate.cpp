// generate() on the CPU engine: groups of sequences on threads, each group an Engine over the
// shared weights, run by the one driver (infer/generation.h).
#include <algorithm>
#include <thread>

#include "audio/quantize.h"
#include "infer/engine.h"
#include "infer/sampler.h"

namespace srnn {
namespace {

// The CPU engine computes on the driver's history itself: load, store and shift have
// nothing to do.
class CpuBackend : public GenerationBackend {
 public:
  CpuBackend(const EngineWeights& w, const GenerateRequest& req, const std::vector<int>& seqs, std::int32_t* history,
             std::int64_t capacity, ThreadTeam* team)
      : engine_(w, static_cast<int>(seqs.size()), team),
        q_(w.config.q_levels),
        top_p_(req.top_p),
        scratch_(2 * static_cast<std::size_t>(q_)),  // sample_level_top_p's
        tilted_(static_cast<std::size_t>(q_)) {
    std::vector<float> values(static_cast<std::size_t>(q_));
    const Quantizer quantizer(w.config.q_type, q_);
    for (int j = 0; j < q_; ++j) values[static_cast<std::size_t>(j)] = quantizer.dequantize(j);
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      rows_.push_back(history + static_cast<std::int64_t>(i) * capacity);
      rngs_.emplace_back(req.rng_seed, static_cast<std::uint64_t>(seqs[i]));
      inv_temp_.push_back(static_cast<float>(1.0 / req.temperatures[seqs[i]]));
      if (req.dc_guard) guards_.emplace_back(values, req.sample_rate_hz);
    }
  }

  void prime(std::int64_t from, std::int64_t to) override {
    for (std::int64_t t = from; t < to; ++t) engine_.step_frames(rows_.data(), t);
  }

  void sample(std::int64_t from, std::int64_t to, std::int64_t /*base*/) override {
    for (std::int64_t t = from; t < to; ++t) {
      engine_.step_frames(rows_.data(), t);
      const float* logits = engine_.sample_logits(rows_.data(), t);
      for (std::size_t i = 0; i < rows_.size(); ++i) {
        const float* l = logits + i * static_cast<std::size_t>(q_);
        if (!guards_.empty()) l = guards_[i].tilt(l, inv_temp_[i], tilted_.data());
        rows_[i][t] = sample_level_top_p(l, q_, inv_temp_[i], top_p_, rngs_[i].uniform(), scratch_.data());
        if (!guards_.empty()) guards_[i].push(rows_[i][t]);
      }
    }
  }

 private:
  Engine engine_;
  int q_;
  double top_p_;
  std::vector<std::int32_t*> rows_;
  std::vector<SequenceRng> rngs_;
  std::vector<float> inv_temp_, scratch_, tilted_;
  std::vector<DcGuard> guards_;  // one per sequence with GenerateRequest::dc_guard
};

}  // namespace

std::vector<std::vector<std::int32_t>> generate(const EngineWeights& w, const GenerateRequest& req) {
  const GenerationLayout layout = generation_layout(w.config, req);
  const int N = layout.n_seqs;
  // Sequences are shared out between threads; with fewer sequences than threads, the
  // threads of a group share each product instead.
  const int n_groups = std::max(1, std::min(req.n_threads, N));
  const int team_size = std::max(1, req.n_threads / n_groups);
  GenerationOutput output(req, n_groups);
  auto run_group = [&](int g) {
    std::vector<int> seqs;  // g, g + n_groups, ...
    for (int s = g; s < N; s += n_groups) seqs.push_back(s);
    std::vector<std::int32_t> history(seqs.size() * static_cast<std::size_t>(layout.capacity));
    ThreadTeam team(team_size);
    CpuBackend backend(w, req, seqs, history.data(), layout.capacity, &team);
    run_generation(layout, req, seqs, history.data(), backend, output, g);
  };
  std::vector<std::thread> threads;
  for (int g = 1; g < n_groups; ++g) threads.emplace_back(run_group, g);
  run_group(0);
  for (auto& th : threads) th.join();
  return output.take();
}

}  // namespace srnn
