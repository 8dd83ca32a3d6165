// One generation driver for every backend (docs/design.md, "Generation"). The CPU engine,
// the CUDA engine and the LibTorch model each supply only the steps of a GenerationBackend;
// run_generation owns the rest of a request: the priming by the seed, the history and its
// shifts, the hand-over of levels block by block, progress, and the stop.
//
//   srnn::GenerationLayout layout = srnn::generation_layout(config, request);
//   std::vector<std::int32_t> history(layout.n_seqs * layout.capacity);
//   MyBackend backend(...);                       // steps over `history`, or a copy of it
//   srnn::GenerationOutput output(request, 1);
//   srnn::run_generation(layout, request, all_sequences, history.data(), backend, output, 0);
//   levels = output.take();
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "core/config.h"

namespace srnn {

// Levels are handed over (and progress reported) in blocks of about this many samples.
constexpr std::int64_t kGenerateBlock = 4096;

struct GenerateRequest {
  std::int64_t n_samples = 16000;        // per sequence, after the seed
  std::vector<double> temperatures;      // one per sequence
  // Nucleus sampling (sample_level_top_p), in (0, 1]; 1: plain temperature sampling. Only
  // the CPU engine draws from a nucleus: the CUDA engine and the LibTorch model refuse
  // top_p < 1 with Error(kUsage).
  double top_p = 1.0;
  // The guard against DC drift inside the loop (DcGuard, infer/sampler.h), at sample_rate_hz.
  // Only the CPU engine guards: the CUDA engine and the LibTorch model refuse it with
  // Error(kUsage).
  bool dc_guard = false;
  int sample_rate_hz = 16000;
  std::vector<std::int32_t> seed_levels; // priming samples for every sequence (may be empty)
  std::uint64_t rng_seed = 0;
  int n_threads = 1;
  // Called after every block with the samples done per sequence (serialised).
  std::function<void(std::int64_t)> on_progress;
  // Called after every block of the priming with the seed samples done and their total
  // (serialised).
  std::function<void(std::int64_t, std::int64_t)> on_priming;
  // When set, each sequence's new levels are handed over block by block, in order, as
  // on_samples(sequence, levels, n) (serialised), and nothing keeps them: memory stays
  // bounded however long the sequences are.
  std::function<void(int, const std::int32_t*, std::int64_t)> on_samples;
  // Polled after every block, of the priming too: once it reads true, generation stops
  // early, after handing over what it has (the caller says why).
  const std::atomic<bool>* stop = nullptr;
  // Samples per block, rounded up to whole lookbacks (the output does not depend on it).
  std::int64_t block = kGenerateBlock;
};

// How a request lays out, the same for every backend: the seed's last whole lookbacks prime
// the tiers (without a seed, a lookback of q / 2 stands in), and each sequence's history lives
// in a buffer of a lookback plus a block. The block is whole lookbacks, so every tier's phase
// is the same in the buffer as in the sequence; when the buffer is full, the block is handed
// over and the last lookback moves to the front.
struct GenerationLayout {
  int n_seqs = 0;
  std::int64_t lookback = 0, n_seed = 0, total = 0, block = 0, capacity = 0;
  const std::int32_t* seed = nullptr;  // the seed's last n_seed levels, or null
  std::int32_t q_zero = 0;
  // The level at sequence position p < n_seed: the seed's, or q_zero.
  std::int32_t seed_at(std::int64_t p) const { return seed != nullptr ? seed[p] : q_zero; }
};
// Error(kUsage) for a request without sequences or samples, or with top_p outside (0, 1].
GenerationLayout generation_layout(const ModelConfig& config, const GenerateRequest& request);

// The steps a backend supplies, over a history of n rows of layout.capacity levels (history
// indices; index 0 is sequence position `base`). run_generation keeps the history on the
// host, row after row; a backend that computes on that buffer itself (the CPU engine)
// leaves load, store and shift as they are. Each call covers a range of samples, never one
// sample, so a backend pays no virtual call per sample.
class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  // The host's levels [from, to) of every row are known: copy them in.
  virtual void load(const std::int32_t* /*host*/, std::int64_t /*from*/, std::int64_t /*to*/) {}
  // Copy the levels [from, to) of every row out to the host.
  virtual void store(std::int32_t* /*host*/, std::int64_t /*from*/, std::int64_t /*to*/) {}
  // Move [block, block + lookback) of every row to its front (the host's copy has moved).
  virtual void shift(std::int64_t /*block*/) {}
  // Teacher forced: step the frame tiers at every index in [from, to), whose levels are
  // known. from and to are whole lookbacks.
  virtual void prime(std::int64_t from, std::int64_t to) = 0;
  // Draw the levels at [from, to) in order; from is a whole number of lookbacks, and so is
  // base. A backend may draw past `to`, up to the next whole lookback within the capacity.
  virtual void sample(std::int64_t from, std::int64_t to, std::int64_t base) = 0;
};

// Where the levels of one request go: to on_samples, or kept for take(); progress is the
// least done over the groups that share the request (one per thread on the CPU).
// Thread-safe.
class GenerationOutput {
 public:
  GenerationOutput(const GenerateRequest& request, int n_groups);
  // Levels [from, from + n) of each row of `history` (rows of `capacity`), row i being
  // sequence seqs[i]; `done` samples per sequence are now made by this group.
  void hand_over(int group, const std::vector<int>& seqs, const std::int32_t* history, std::int64_t capacity,
                 std::int64_t from, std::int64_t n, std::int64_t done);
  // Group 0 reports the priming for all.
  void priming(int group, std::int64_t done, std::int64_t total);
  // The kept levels of every sequence (empty where on_samples took them).
  std::vector<std::vector<std::int32_t>> take() { return std::move(out_); }

 private:
  const GenerateRequest& request_;
  std::mutex mutex_;
  std::vector<std::int64_t> done_;
  std::vector<std::vector<std::int32_t>> out_;
};

// Runs the request for sequences `seqs` (row i of the history is sequence seqs[i]) on one
// backend: loads the seed into `history` (seqs.size() rows of layout.capacity), primes,
// samples block by block, and hands each block to `output` as group `group`. Stops after the
// block in which request.stop reads true.
void run_generation(const GenerationLayout& layout, const GenerateRequest& request, const std::vector<int>& seqs,
                    std::int32_t* history, GenerationBackend& backend, GenerationOutput& output, int group);

// The whole request on one backend that holds every sequence and keeps its own history (the
// host's is only a staging copy): run_generation as the only group. Returns the kept levels.
std::vector<std::vector<std::int32_t>> run_generation(const GenerationLayout& layout, const GenerateRequest& request,
                                                      GenerationBackend& backend);

}  // namespace srnn
