// The torch-free generation engine: runs a batch of sequences through a model one sample
// at a time (docs/design.md, "Generation").
//
// Per sample, the sample tier sums F_1 rows of the precomputed table, adds the conditioning
// vector, and runs its three dense layers through gemm_small; frame tier k steps once every
// F_k samples. All buffers are allocated when the engine is made: step() neither allocates
// nor throws. An Engine is used by one thread; generate() runs groups of sequences on
// several threads, each with its own Engine over the shared weights.
//
//   srnn::EngineWeights w = srnn::load_engine_weights(path);
//   srnn::GenerateRequest req;  req.n_samples = 48000;  req.temperatures = {0.95, 0.95};
//   std::vector<std::vector<int32_t>> levels = srnn::generate(w, req);
#pragma once

#include <cstdint>
#include <vector>

#include "infer/generation.h"
#include "infer/nll.h"
#include "infer/sampler.h"
#include "infer/thread-team.h"
#include "infer/weights.h"

namespace srnn {

class Engine {
 public:
  // With a team, large products are split by columns over its threads (the results are the
  // same as on one thread).
  Engine(const EngineWeights& weights, int n_seqs, ThreadTeam* team = nullptr);

  int n_seqs() const { return n_seqs_; }
  // Initial RNN state (zeros, or the learned h0).
  void reset();
  // Steps every frame tier that runs at time t (t % F_k == 0), reading levels[s][t - F_k, t).
  // levels[s] points to sequence s's samples; t >= lookback.
  void step_frames(const std::int32_t* const* levels, std::int64_t t);
  // Logits (n_seqs, q) for sample t, after step_frames(levels, t); reads levels[s][t - F_1, t).
  const float* sample_logits(const std::int32_t* const* levels, std::int64_t t);

  // RNN state of tier k, layer l: (n_seqs, dim) hidden and, for LSTM, cell.
  const float* hidden(int tier, int layer) const { return tiers_[tier].h[layer].data(); }
  const float* cell(int tier, int layer) const { return tiers_[tier].c[layer].data(); }

 private:
  struct TierState {
    std::vector<std::vector<float>> h, c;  // per layer: (N, dim)
    std::vector<float> out;                // (N, r * dim): conditioning for the tier below
  };
  void step_tier(int k, const std::int32_t* const* levels, std::int64_t t);
  // y (n_seqs, b.N) = x (n_seqs, b.K) . b (+ bias) (+ y), on the team when it pays.
  void mm(const PackedMatrix& b, const float* x, const float* bias, float* y, bool accumulate = false);

  const EngineWeights& w_;
  int n_seqs_;
  ThreadTeam* team_;
  std::vector<TierState> tiers_;
  // Scratch, (N, G * dim) at most.
  std::vector<float> frame_, x_, gi_, gh_, skip_, h1_, h2_, logits_;
};

// Generates temperatures.size() sequences. With n_threads >= sequences, each sequence gets
// its own thread; with fewer sequences than threads, the threads share each product. Returns
// the generated levels of each (the seed is not included), or nothing when on_samples takes
// them. The seed primes every tier: its whole length (rounded down to whole top frames) is
// run through the frame tiers before the first sample is drawn. Memory per sequence is a
// lookback and a block, whatever n_samples and the seed's length.
std::vector<std::vector<std::int32_t>> generate(const EngineWeights& weights, const GenerateRequest& request);

}  // namespace srnn
