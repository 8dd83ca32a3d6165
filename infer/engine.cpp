#include "infer/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/threads.h"
#include "infer/kernels.h"

namespace srnn {
namespace {

inline float sigmoidf(float v) { return 1.0f / (1.0f + std::exp(-v)); }

}  // namespace

Engine::Engine(const EngineWeights& weights, int n_seqs, ThreadTeam* team) : w_(weights), n_seqs_(n_seqs), team_(team) {
  const ModelConfig& c = w_.config;
  const std::size_t N = static_cast<std::size_t>(n_seqs), dim = c.dim;
  const std::size_t G = gate_count(c.rnn_type);
  tiers_.resize(w_.tiers.size());
  for (std::size_t k = 0; k < tiers_.size(); ++k) {
    tiers_[k].h.assign(c.num_rnn_layers, std::vector<float>(N * dim));
    tiers_[k].c.assign(c.num_rnn_layers, std::vector<float>(N * dim));
    tiers_[k].out.assign(N * w_.tiers[k].ratio * dim, 0.0f);
  }
  frame_.resize(N * c.lookback());
  x_.resize(N * dim);
  gi_.resize(N * G * dim);
  gh_.resize(N * G * dim);
  skip_.resize(N * dim);
  h1_.resize(N * dim);
  h2_.resize(N * dim);
  logits_.resize(N * c.q_levels);
  reset();
}

void Engine::reset() {
  const std::size_t dim = w_.config.dim;
  for (std::size_t k = 0; k < tiers_.size(); ++k) {
    for (std::size_t l = 0; l < tiers_[k].h.size(); ++l) {
      for (int s = 0; s < n_seqs_; ++s) {
        float* h = tiers_[k].h[l].data() + s * dim;
        float* c = tiers_[k].c[l].data() + s * dim;
        const auto& h0 = w_.tiers[k].h0;
        const auto& c0 = w_.tiers[k].c0;
        for (std::size_t d = 0; d < dim; ++d) {
          h[d] = h0.empty() ? 0.0f : h0[l * dim + d];
          c[d] = c0.empty() ? 0.0f : c0[l * dim + d];
        }
      }
    }
    std::fill(tiers_[k].out.begin(), tiers_[k].out.end(), 0.0f);
  }
}

void Engine::mm(const PackedMatrix& b, const float* x, const float* bias, float* y, bool accumulate) {
  // Splitting costs a dispatch (about a microsecond). Measured on the small and default
  // configs at one sequence, it pays from 64K weights (256 KB) up: each core then streams
  // half of every matrix, and halves of the smaller ones stay in its L2 cache.
  constexpr std::size_t kMinSplitFloats = 64 * 1024;
  const std::size_t S = b.n_stripes();
  if (team_ == nullptr || team_->size() == 1 || b.K * b.N < kMinSplitFloats || S < 2) {
    gemm_packed(n_seqs_, b, x, b.K, bias, y, b.N, accumulate);
    return;
  }
  team_->run([&](int i, int n) {
    gemm_packed(n_seqs_, b, x, b.K, bias, y, b.N, accumulate, S * i / n, S * (i + 1) / n);
  });
}

void Engine::step_tier(int k, const std::int32_t* const* levels, std::int64_t t) {
  const ModelConfig& c = w_.config;
  const FrameTierWeights& tw = w_.tiers[k];
  TierState& st = tiers_[k];
  const std::size_t N = n_seqs_, dim = c.dim, F = tw.frame_size;
  const FrameInputScale scale = frame_input_scale(c.q_levels);
  // frame: (N, F_k) in [-2, 2]
  for (std::size_t s = 0; s < N; ++s) {
    for (std::size_t i = 0; i < F; ++i) frame_[s * F + i] = frame_input(levels[s][t - F + i], scale);
  }
  mm(tw.input_t, frame_.data(), tw.input_b.data(), x_.data());
  if (k + 1 < static_cast<int>(tiers_.size())) {
    const int r_up = w_.tiers[k + 1].ratio;
    const std::size_t j = static_cast<std::size_t>(conditioning_index(t, static_cast<std::int64_t>(F), r_up));
    const std::vector<float>& up = tiers_[k + 1].out;
    for (std::size_t s = 0; s < N; ++s) {
      const float* cond = up.data() + (s * r_up + j) * dim;
      for (std::size_t d = 0; d < dim; ++d) x_[s * dim + d] += cond[d];
    }
  }
  const float* in = x_.data();
  for (std::size_t l = 0; l < tw.layers.size(); ++l) {
    const RnnLayerWeights& lw = tw.layers[l];
    float* h = st.h[l].data();
    if (c.rnn_type == RnnType::kGru) {
      mm(lw.w_ih_t, in, lw.b_ih.data(), gi_.data());
      mm(lw.w_hh_t, h, lw.b_hh.data(), gh_.data());
      for (std::size_t s = 0; s < N; ++s) {
        const float* gi = gi_.data() + s * 3 * dim;
        const float* gh = gh_.data() + s * 3 * dim;
        float* hs = h + s * dim;
        for (std::size_t d = 0; d < dim; ++d) {
          const float r = sigmoidf(gi[kGruReset * dim + d] + gh[kGruReset * dim + d]);
          const float z = sigmoidf(gi[kGruUpdate * dim + d] + gh[kGruUpdate * dim + d]);
          const float n = std::tanh(gi[kGruNew * dim + d] + r * gh[kGruNew * dim + d]);
          hs[d] = (1.0f - z) * n + z * hs[d];
        }
      }
    } else {
      mm(lw.w_ih_t, in, lw.b_ih.data(), gi_.data());
      mm(lw.w_hh_t, h, lw.b_hh.data(), gi_.data(), true);
      float* cell = st.c[l].data();
      for (std::size_t s = 0; s < N; ++s) {
        const float* g = gi_.data() + s * 4 * dim;
        for (std::size_t d = 0; d < dim; ++d) {
          const float i = sigmoidf(g[kLstmInput * dim + d]), f = sigmoidf(g[kLstmForget * dim + d]),
                      gg = std::tanh(g[kLstmCell * dim + d]), o = sigmoidf(g[kLstmOutput * dim + d]);
          float& cs = cell[s * dim + d];
          cs = f * cs + i * gg;
          h[s * dim + d] = o * std::tanh(cs);
        }
      }
    }
    // skip = sum_l h_l . S_l (+ the first projection's bias), PRiSM's skip connections.
    if (c.skip_conn) mm(tw.skip_t[l], h, l == 0 ? tw.skip_b.data() : nullptr, skip_.data(), l > 0);
    in = h;
  }
  // (N, dim) . (dim, r * dim): the conditioning vectors for the next r steps of the tier below.
  mm(tw.upsample, c.skip_conn ? skip_.data() : in, nullptr, st.out.data());
}

void Engine::step_frames(const std::int32_t* const* levels, std::int64_t t) {
  for (int k = static_cast<int>(tiers_.size()) - 1; k >= 0; --k) {
    if (t % w_.tiers[k].frame_size == 0) step_tier(k, levels, t);
  }
}

const float* Engine::sample_logits(const std::int32_t* const* levels, std::int64_t t) {
  const ModelConfig& c = w_.config;
  const std::size_t N = n_seqs_, dim = c.dim, F1 = c.frame_sizes[0];
  const std::size_t j0 = static_cast<std::size_t>(conditioning_index(t, 1, static_cast<std::int64_t>(F1)));
  for (std::size_t s = 0; s < N; ++s) {
    float* x = x_.data() + s * dim;
    const float* cond = tiers_[0].out.data() + (s * F1 + j0) * dim;
    std::copy(cond, cond + dim, x);
    for (std::size_t j = 0; j < F1; ++j) {
      const float* row = w_.table.data() + static_cast<std::size_t>(conv_table_row(levels[s][t - F1 + j], j, F1)) * dim;
      for (std::size_t d = 0; d < dim; ++d) x[d] += row[d];
    }
  }
  mm(w_.hidden1_t, x_.data(), w_.hidden1_b.data(), h1_.data());
  for (float& v : h1_) v = std::max(v, 0.0f);
  mm(w_.hidden2_t, h1_.data(), w_.hidden2_b.data(), h2_.data());
  for (float& v : h2_) v = std::max(v, 0.0f);
  mm(w_.output_t, h2_.data(), w_.output_b.data(), logits_.data());
  return logits_.data();
}

int sample_level(const float* logits, int q, float inv_temperature, double u, float* scratch) {
  float mx = logits[0];
  for (int i = 1; i < q; ++i) mx = std::max(mx, logits[i]);
  // Unnormalised probabilities once, in float; the sums in double so the walk matches the
  // total it is compared against.
  double total = 0;
  for (int i = 0; i < q; ++i) {
    scratch[i] = std::exp((logits[i] - mx) * inv_temperature);
    total += scratch[i];
  }
  const double target = u * total;
  double acc = 0;
  for (int i = 0; i < q; ++i) {
    acc += scratch[i];
    if (acc > target) return i;
  }
  return q - 1;
}

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

static std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

SequenceRng::SequenceRng(std::uint64_t seed, std::uint64_t sequence) {
  std::uint64_t x = seed ^ (sequence * 0xd1b54a32d192ed03ULL);
  for (auto& v : s_) v = splitmix64(x);
}

double SequenceRng::uniform() {
  const auto rotl = [](std::uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

GenerationLayout generation_layout(const EngineWeights& w, const GenerateRequest& req) {
  GenerationLayout g;
  g.n_seqs = static_cast<int>(req.temperatures.size());
  if (g.n_seqs < 1) throw Error(ErrorKind::kUsage, "generation needs at least one sequence");
  if (req.n_samples < 1) throw Error(ErrorKind::kUsage, "generation needs at least one sample");
  const std::int64_t L = g.lookback = w.config.lookback();
  g.n_seed = primed_length(static_cast<std::int64_t>(req.seed_levels.size()), L);
  if (req.seed_levels.size() >= static_cast<std::size_t>(L)) {
    g.seed = req.seed_levels.data() + (req.seed_levels.size() - static_cast<std::size_t>(g.n_seed));
  }
  g.q_zero = w.config.q_levels / 2;
  g.total = g.n_seed + req.n_samples;
  g.block = (std::max<std::int64_t>(req.block, L) + L - 1) / L * L;
  g.capacity = L + g.block;
  return g;
}

std::vector<std::vector<std::int32_t>> generate(const EngineWeights& w, const GenerateRequest& req) {
  const ModelConfig& c = w.config;
  const GenerationLayout layout = generation_layout(w, req);
  const int N = layout.n_seqs;
  const std::int64_t L = layout.lookback, n_seed = layout.n_seed, total = layout.total, block = layout.block,
                     capacity = layout.capacity;
  std::vector<std::vector<std::int32_t>> out(N);
  if (!req.on_samples) {
    for (auto& o : out) o.reserve(static_cast<std::size_t>(req.n_samples));
  }
  // Sequences are shared out between threads; with fewer sequences than threads, the
  // threads of a group share each product instead.
  const int n_threads = std::max(1, std::min(req.n_threads, N));
  const int team_size = std::max(1, req.n_threads / n_threads);
  std::mutex progress_mutex;
  std::vector<std::int64_t> done(n_threads, 0);

  auto run_group = [&](int g) {
    // Sequences g, g + n_threads, ...: each group gets its own engine over the shared weights.
    std::vector<int> seqs;
    for (int s = g; s < N; s += n_threads) seqs.push_back(s);
    const int n = static_cast<int>(seqs.size());
    ThreadTeam team(team_size);
    Engine engine(w, n, &team);
    std::vector<std::vector<std::int32_t>> buf(n, std::vector<std::int32_t>(static_cast<std::size_t>(capacity)));
    std::vector<const std::int32_t*> rows(n);
    std::vector<SequenceRng> rngs;
    std::vector<float> inv_temp(n), scratch(static_cast<std::size_t>(c.q_levels));
    for (int i = 0; i < n; ++i) {
      for (std::int64_t p = 0; p < L; ++p) buf[i][p] = layout.seed_at(p);
      rows[i] = buf[i].data();
      rngs.emplace_back(req.rng_seed, static_cast<std::uint64_t>(seqs[i]));
      inv_temp[i] = static_cast<float>(1.0 / req.temperatures[seqs[i]]);
    }
    std::int64_t base = 0;          // the sequence position of buf[.][0]
    std::int64_t emitted = n_seed;  // new levels handed over so far end here
    const auto emit = [&](std::int64_t upto) {
      if (upto <= emitted) return;
      std::lock_guard<std::mutex> lock(progress_mutex);
      for (int i = 0; i < n; ++i) {
        const std::int32_t* from = buf[i].data() + (emitted - base);
        if (req.on_samples) req.on_samples(seqs[i], from, upto - emitted);
        else out[seqs[i]].insert(out[seqs[i]].end(), from, from + (upto - emitted));
      }
      emitted = upto;
      done[g] = upto - n_seed;
      if (req.on_progress) req.on_progress(*std::min_element(done.begin(), done.end()));
    };
    std::int64_t p = L;
    for (; p < total; ++p) {
      if (p - base == capacity) {
        emit(p);
        for (auto& b : buf) std::copy(b.end() - L, b.end(), b.begin());
        base += block;
        if (req.stop != nullptr && req.stop->load()) break;
      }
      const std::int64_t t = p - base;
      engine.step_frames(rows.data(), t);
      if (p < n_seed) {
        // Priming: the seed runs through the frame tiers, teacher forced.
        for (int i = 0; i < n; ++i) buf[i][t] = layout.seed_at(p);
        if (g == 0 && req.on_priming && ((p + 1) % (4 * kGenerateBlock) == 0 || p + 1 == n_seed)) {
          std::lock_guard<std::mutex> lock(progress_mutex);
          req.on_priming(p + 1, n_seed);
        }
        continue;
      }
      const float* logits = engine.sample_logits(rows.data(), t);
      for (int i = 0; i < n; ++i) {
        buf[i][t] = sample_level(logits + static_cast<std::size_t>(i) * c.q_levels, c.q_levels, inv_temp[i],
                                 rngs[i].uniform(), scratch.data());
      }
    }
    emit(p);
  };
  std::vector<std::thread> threads;
  for (int g = 1; g < n_threads; ++g) threads.emplace_back(run_group, g);
  run_group(0);
  for (auto& th : threads) th.join();
  return out;
}

}  // namespace srnn
