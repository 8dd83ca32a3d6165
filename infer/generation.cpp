#include "infer/generation.h"

#include <algorithm>

#include "core/error.h"
#include "core/model-spec.h"
#include "core/naming.h"

namespace srnn {

GenerationLayout generation_layout(const ModelConfig& config, const GenerateRequest& req) {
  GenerationLayout g;
  g.n_seqs = static_cast<int>(req.temperatures.size());
  if (g.n_seqs < 1) throw Error(ErrorKind::kUsage, "generation needs at least one sequence");
  if (req.n_samples < 1) throw Error(ErrorKind::kUsage, "generation needs at least one sample");
  check_top_p(req.top_p);
  const std::int64_t L = g.lookback = config.lookback();
  g.n_seed = primed_length(static_cast<std::int64_t>(req.seed_levels.size()), L);
  if (req.seed_levels.size() >= static_cast<std::size_t>(L)) {
    g.seed = req.seed_levels.data() + (req.seed_levels.size() - static_cast<std::size_t>(g.n_seed));
  }
  g.q_zero = config.q_levels / 2;
  g.total = g.n_seed + req.n_samples;
  g.block = (std::max<std::int64_t>(req.block, L) + L - 1) / L * L;
  g.capacity = L + g.block;
  return g;
}

GenerationOutput::GenerationOutput(const GenerateRequest& request, int n_groups)
    : request_(request), done_(static_cast<std::size_t>(n_groups), 0), out_(request.temperatures.size()) {
  if (!request.on_samples) {
    for (auto& o : out_) o.reserve(static_cast<std::size_t>(request.n_samples));
  }
}

void GenerationOutput::hand_over(int group, const std::vector<int>& seqs, const std::int32_t* history,
                                 std::int64_t capacity, std::int64_t from, std::int64_t n, std::int64_t done) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const std::int32_t* row = history + static_cast<std::int64_t>(i) * capacity + from;
    if (request_.on_samples) request_.on_samples(seqs[i], row, n);
    else out_[seqs[i]].insert(out_[seqs[i]].end(), row, row + n);
  }
  done_[group] = done;
  if (request_.on_progress) request_.on_progress(*std::min_element(done_.begin(), done_.end()));
}

void GenerationOutput::priming(int group, std::int64_t done, std::int64_t total) {
  if (group != 0 || !request_.on_priming) return;
  std::lock_guard<std::mutex> lock(mutex_);
  request_.on_priming(done, total);
}

void run_generation(const GenerationLayout& g, const GenerateRequest& req, const std::vector<int>& seqs,
                    std::int32_t* history, GenerationBackend& backend, GenerationOutput& output, int group) {
  const std::int64_t n = static_cast<std::int64_t>(seqs.size()), L = g.lookback, capacity = g.capacity;
  const auto stopped = [&] { return req.stop != nullptr && req.stop->load(); };
  std::int64_t base = 0;  // the sequence position of history index 0
  const auto shift_if_full = [&](std::int64_t p) {
    if (p - base < capacity) return;
    for (std::int64_t i = 0; i < n; ++i) {
      std::int32_t* row = history + i * capacity;
      std::copy(row + g.block, row + capacity, row);
    }
    base += g.block;
    backend.shift(g.block);
  };
  // The seed's levels [from, to) in every row.
  const auto load_seed = [&](std::int64_t from, std::int64_t to) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t p = from; p < to; ++p) history[i * capacity + (p - base)] = g.seed_at(p);
    }
    backend.load(history, from - base, to - base);
  };

  load_seed(0, L);
  // Priming: the seed runs through the frame tiers, teacher forced, a history at a time.
  for (std::int64_t p = L; p < g.n_seed;) {
    shift_if_full(p);
    const std::int64_t end = std::min(g.n_seed, base + capacity);
    load_seed(p, end);
    backend.prime(p - base, end - base);
    p = end;
    output.priming(group, p, g.n_seed);
    if (stopped()) return;
  }
  // Sampling, a history at a time, each block handed over as soon as it is made.
  for (std::int64_t p = g.n_seed; p < g.total;) {
    shift_if_full(p);
    const std::int64_t end = std::min(g.total, base + capacity);
    backend.sample(p - base, end - base, base);
    backend.store(history, p - base, end - base);
    output.hand_over(group, seqs, history, capacity, p - base, end - p, end - g.n_seed);
    p = end;
    if (stopped()) return;
  }
}

std::vector<std::vector<std::int32_t>> run_generation(const GenerationLayout& g, const GenerateRequest& req,
                                                      GenerationBackend& backend) {
  std::vector<int> seqs(static_cast<std::size_t>(g.n_seqs));
  for (int s = 0; s < g.n_seqs; ++s) seqs[static_cast<std::size_t>(s)] = s;
  std::vector<std::int32_t> history(seqs.size() * static_cast<std::size_t>(g.capacity));
  GenerationOutput output(req, 1);
  run_generation(g, req, seqs, history.data(), backend, output, 0);
  return output.take();
}

}  // namespace srnn
