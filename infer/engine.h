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

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

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

// Draws a level from softmax(logits * inv_temperature) with u uniform in [0, 1): the first
// level whose cumulative probability exceeds u. scratch holds q floats.
int sample_level(const float* logits, int q, float inv_temperature, double u, float* scratch);

// A small, fast generator (xoshiro256**) with one independent stream per sequence, so the
// audio does not depend on how sequences are spread over threads.
class SequenceRng {
 public:
  SequenceRng(std::uint64_t seed, std::uint64_t sequence);
  double uniform();  // [0, 1)

 private:
  std::uint64_t s_[4];
};

// Mean negative log-likelihood, in nats per sample, of `levels` under the model, teacher
// forced as in training: lookback samples of q_zero are prepended and every sample of
// `levels` is predicted from those before it.
double teacher_forced_nll(const EngineWeights& weights, const std::vector<std::int32_t>& levels);

// The summed NLL in nats of each sequence, teacher forced as above. Sequences of equal length
// run together in batches of up to kNllBatch on one Engine; batches are shared out over
// n_threads. on_progress, when set, is called (serialised) with the samples scored so far.
std::vector<double> teacher_forced_nll_sums(const EngineWeights& weights,
                                            const std::vector<std::vector<std::int32_t>>& sequences, int n_threads,
                                            const std::function<void(std::int64_t)>& on_progress = {});
constexpr int kNllBatch = 16;

// Levels are handed over (and progress reported) in blocks of about this many samples.
constexpr std::int64_t kGenerateBlock = 4096;

struct GenerateRequest {
  std::int64_t n_samples = 16000;        // per sequence, after the seed
  std::vector<double> temperatures;      // one per sequence
  std::vector<std::int32_t> seed_levels; // priming samples for every sequence (may be empty)
  std::uint64_t rng_seed = 0;
  int n_threads = 1;
  // Called now and then with the samples done per sequence (from any thread, serialised).
  std::function<void(std::int64_t)> on_progress;
  // Called now and then while the seed primes the tiers, with the seed samples done and
  // their total (from any thread, serialised).
  std::function<void(std::int64_t, std::int64_t)> on_priming;
  // When set, each sequence's new levels are handed over block by block, in order, as
  // on_samples(sequence, levels, n) (from any thread, serialised), and generate() keeps none
  // of them: memory stays bounded however long the sequences are.
  std::function<void(int, const std::int32_t*, std::int64_t)> on_samples;
  // Polled after every block: once it reads true, generation stops early, after handing
  // over what it has (the caller says why).
  const std::atomic<bool>* stop = nullptr;
  // Samples per block, rounded up to whole lookbacks (the output does not depend on it).
  std::int64_t block = kGenerateBlock;
};

// How a request lays out in generation, the same for the CPU and the CUDA engine: the seed's
// last whole lookbacks prime the tiers (without a seed, a lookback of q / 2 stands in), and
// each sequence's history lives in a buffer of a lookback plus a block. The block is whole
// lookbacks, so every tier's phase is the same in the buffer as in the sequence; when the
// buffer is full, the block is handed over and the last lookback moves to the front.
struct GenerationLayout {
  int n_seqs = 0;
  std::int64_t lookback = 0, n_seed = 0, total = 0, block = 0, capacity = 0;
  const std::int32_t* seed = nullptr;  // the seed's last n_seed levels, or null
  std::int32_t q_zero = 0;
  // The level at sequence position p < n_seed: the seed's, or q_zero.
  std::int32_t seed_at(std::int64_t p) const { return seed != nullptr ? seed[p] : q_zero; }
};
// Error(kUsage) for a request without sequences or samples.
GenerationLayout generation_layout(const EngineWeights& weights, const GenerateRequest& request);

// Generates temperatures.size() sequences. With n_threads >= sequences, each sequence gets
// its own thread; with fewer sequences than threads, the threads share each product. Returns
// the generated levels of each (the seed is not included), or nothing when on_samples takes
// them. The seed primes every tier: its whole length (rounded down to whole top frames) is
// run through the frame tiers before the first sample is drawn. Memory per sequence is a
// lookback and a block, whatever n_samples and the seed's length.
std::vector<std::vector<std::int32_t>> generate(const EngineWeights& weights, const GenerateRequest& request);

}  // namespace srnn
