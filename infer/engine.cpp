#include "infer/engine.h"

#include <algorithm>

#include "core/model-spec.h"
#include "infer/kernels.h"

namespace srnn {

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
          const GruGates<float> g = gru_gates(gi[kGruReset * dim + d], gh[kGruReset * dim + d], gi[kGruUpdate * dim + d],
                                              gh[kGruUpdate * dim + d], gi[kGruNew * dim + d], gh[kGruNew * dim + d]);
          hs[d] = gru_state(g, hs[d]);
        }
      }
    } else {
      mm(lw.w_ih_t, in, lw.b_ih.data(), gi_.data());
      mm(lw.w_hh_t, h, lw.b_hh.data(), gi_.data(), true);
      float* cell = st.c[l].data();
      for (std::size_t s = 0; s < N; ++s) {
        const float* g = gi_.data() + s * 4 * dim;
        for (std::size_t d = 0; d < dim; ++d) {
          h[s * dim + d] = lstm_cell(g[kLstmInput * dim + d], g[kLstmForget * dim + d], g[kLstmCell * dim + d],
                                     g[kLstmOutput * dim + d], cell[s * dim + d]);
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

}  // namespace srnn
