#include "infer/nll.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "core/threads.h"
#include "infer/engine.h"

namespace srnn {

double teacher_forced_nll(const EngineWeights& w, const std::vector<std::int32_t>& levels) {
  if (levels.empty()) return 0.0;
  return teacher_forced_nll_sums(w, {levels}, 1)[0] / static_cast<double>(levels.size());
}

std::vector<double> teacher_forced_nll_sums(const EngineWeights& w, const std::vector<std::vector<std::int32_t>>& sequences,
                                            int n_threads, const std::function<void(std::int64_t)>& on_progress) {
  const ModelConfig& c = w.config;
  const std::int64_t L = c.lookback();
  const int q = c.q_levels;
  // Batches of up to kNllBatch sequences of one length, in order of first appearance.
  std::vector<std::vector<std::size_t>> batches;
  {
    std::map<std::size_t, std::size_t> open;  // length -> index of its batch still filling
    for (std::size_t i = 0; i < sequences.size(); ++i) {
      const std::size_t n = sequences[i].size();
      auto it = open.find(n);
      if (it == open.end() || batches[it->second].size() == static_cast<std::size_t>(kNllBatch)) {
        open[n] = batches.size();
        batches.emplace_back();
      }
      batches[open[n]].push_back(i);
    }
  }
  std::vector<double> sums(sequences.size(), 0.0);
  std::mutex progress_mutex;
  std::int64_t done = 0;
  parallel_for(batches.size(), n_threads, [&](std::size_t b) {
    const std::vector<std::size_t>& members = batches[b];
    const int N = static_cast<int>(members.size());
    const std::int64_t n = static_cast<std::int64_t>(sequences[members[0]].size());
    std::vector<std::vector<std::int32_t>> hist(N);
    std::vector<const std::int32_t*> rows(N);
    for (int s = 0; s < N; ++s) {
      hist[s].assign(static_cast<std::size_t>(L), q / 2);
      hist[s].insert(hist[s].end(), sequences[members[s]].begin(), sequences[members[s]].end());
      rows[s] = hist[s].data();
    }
    Engine engine(w, N);
    std::vector<double> nll(N, 0.0);
    std::int64_t reported = 0;  // samples per sequence already counted in `done`
    for (std::int64_t t = L; t < L + n; ++t) {
      engine.step_frames(rows.data(), t);
      const float* logits = engine.sample_logits(rows.data(), t);
      for (int s = 0; s < N; ++s) {
        const float* z = logits + static_cast<std::size_t>(s) * q;
        float mx = z[0];
        for (int i = 1; i < q; ++i) mx = std::max(mx, z[i]);
        double sum = 0;
        for (int i = 0; i < q; ++i) sum += std::exp(static_cast<double>(z[i] - mx));
        nll[s] += std::log(sum) - (z[hist[s][t]] - mx);
      }
      const std::int64_t scored = t - L + 1;
      if (on_progress && (scored % 16384 == 0 || scored == n)) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        done += static_cast<std::int64_t>(N) * (scored - reported);
        reported = scored;
        on_progress(done);
      }
    }
    for (int s = 0; s < N; ++s) sums[members[s]] = nll[s];
  });
  return sums;
}

}  // namespace srnn
