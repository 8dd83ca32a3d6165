// The CUDA engine against the CPU engine on the same weights: teacher-forced logits for 2-,
// 3- and 4-tier models, GRU and LSTM, with and without skip connections; generation at a cold
// temperature through the captured graphs, the history's shifts and a seed; the sampler's
// level histogram against the softmax; seeds that reproduce a clip. The tests that need a GPU
// skip, saying so, where there is none (or the build has no CUDA engine); the error a missing
// GPU gives is tested there instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "core/error.h"
#include "core/model-spec.h"
#include "infer/cuda-engine.h"

namespace srnn {
namespace {

#define SRNN_REQUIRE_CUDA_ENGINE()                                          \
  do {                                                                      \
    std::string why;                                                        \
    if (!cuda_engine_available(&why)) GTEST_SKIP() << "no CUDA engine: " << why; \
  } while (0)

ModelConfig config(std::vector<int> frames, RnnType rnn, bool skip, bool learn_h0 = false) {
  ModelConfig c;
  c.frame_sizes = std::move(frames);
  c.seq_len = c.frame_sizes.back() * 4;
  c.dim = 48;
  c.num_rnn_layers = 2;
  c.rnn_type = rnn;
  c.skip_conn = skip;
  c.learn_h0 = learn_h0;
  c.emb_size = 24;
  return c;
}

// Random weights for every tensor of the config, without LibTorch.
TensorFile random_file(const ModelConfig& c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.15f);
  TensorFile f;
  for (const auto& [name, shape] : weight_shapes(c)) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = normal(rng);
    f.put_f32(name, shape, v.data());
  }
  return f;
}

EngineWeights weights_of(const TensorFile& f, const ModelConfig& c) {
  CheckpointInfo info;
  info.config = c;
  return engine_weights_from(f, info);
}

std::string name_of(const ModelConfig& c) {
  return std::to_string(c.n_frame_tiers() + 1) + "tier" + (c.rnn_type == RnnType::kGru ? "Gru" : "Lstm") +
         (c.skip_conn ? "Skip" : "") + (c.learn_h0 ? "H0" : "");
}

}  // namespace

// Test names and failure messages show a config by its shape.
void PrintTo(const ModelConfig& c, std::ostream* os) { *os << name_of(c); }

namespace {

class CudaEngineModels : public ::testing::TestWithParam<ModelConfig> {};

TEST_P(CudaEngineModels, TeacherForcedLogitsMatchTheCpuEngine) {
  SRNN_REQUIRE_CUDA_ENGINE();
  const ModelConfig c = GetParam();
  const EngineWeights w = weights_of(random_file(c, 5), c);
  const int n = 3;
  const std::int64_t L = c.lookback(), T = 4 * L;
  std::mt19937 rng(9);
  std::vector<std::vector<std::int32_t>> rows(n, std::vector<std::int32_t>(L + T));
  std::vector<const std::int32_t*> ptrs;
  for (auto& r : rows) {
    for (auto& v : r) v = static_cast<std::int32_t>(rng() % c.q_levels);
    ptrs.push_back(r.data());
  }
  Engine cpu(w, n);
  CudaEngine gpu(w, n, L + T);
  gpu.set_levels(ptrs.data(), L + T);
  std::vector<float> got(static_cast<std::size_t>(n) * c.q_levels);
  double err = 0, ref = 0, worst = 0;
  for (std::int64_t t = L; t < L + T; ++t) {
    cpu.step_frames(ptrs.data(), t);
    const float* want = cpu.sample_logits(ptrs.data(), t);
    gpu.step_frames(t);
    gpu.sample_logits(t, got.data());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      err += d * d, ref += static_cast<double>(want[i]) * want[i];
      worst = std::max(worst, std::fabs(d));
    }
  }
  // The same fp32 arithmetic in another order (cuBLAS without TF32): about 1e-7 relative.
  EXPECT_LE(err / ref, 1e-9) << "largest difference " << worst;
}

TEST_P(CudaEngineModels, ColdGenerationFollowsTheCpuEngineThroughSeedAndShifts) {
  SRNN_REQUIRE_CUDA_ENGINE();
  const ModelConfig c = GetParam();
  // Output weights 20 times larger part the top two logits by about 1.5 (median), so that
  // at temperature 1e-6 the draw is the argmax and two engines with different generators and
  // float rounding pick the same level.
  TensorFile f = random_file(c, 6);
  std::vector<float> out = f.at("sample.output.weight").to_f32();
  for (float& v : out) v *= 20;
  f.put_f32("sample.output.weight", f.at("sample.output.weight").shape, out.data());
  const EngineWeights w = weights_of(f, c);
  GenerateRequest req;
  req.n_samples = 6 * c.lookback() + 5;  // not a whole number of top frames
  req.temperatures = {1e-6, 1e-6};
  req.block = c.lookback();              // the history shifts every top frame
  for (int i = 0; i < 3 * c.lookback(); ++i) req.seed_levels.push_back(40 + (i * 37) % 170);
  const auto want = generate(w, req);
  const auto got = generate_cuda(w, req);
  ASSERT_EQ(got.size(), 2u);
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(got[s].size(), static_cast<std::size_t>(req.n_samples));
    std::size_t t = 0;
    while (t < got[s].size() && got[s][t] == want[s][t]) ++t;
    if (t == got[s].size()) continue;
    // The engines may part only where the CPU's two largest logits nearly tie, which float
    // rounding can flip; anywhere else a difference is a bug. The CPU engine, teacher forced
    // on the seed and its own draws, gives the logits of the draw where they part.
    EXPECT_GE(t, static_cast<std::size_t>(2 * c.lookback())) << "sequence " << s << " parts within two top frames";
    std::vector<std::int32_t> row(req.seed_levels.end() - 3 * c.lookback(), req.seed_levels.end());
    row.insert(row.end(), want[s].begin(), want[s].begin() + static_cast<std::ptrdiff_t>(t) + 1);
    const std::int32_t* rows[1] = {row.data()};
    Engine cpu(w, 1);
    const std::int64_t at = 3 * c.lookback() + static_cast<std::int64_t>(t);
    const float* logits = nullptr;
    for (std::int64_t p = c.lookback(); p <= at; ++p) {
      cpu.step_frames(rows, p);
      if (p == at) logits = cpu.sample_logits(rows, p);
    }
    std::vector<float> z(logits, logits + c.q_levels);
    std::partial_sort(z.begin(), z.begin() + 2, z.end(), std::greater<float>());
    EXPECT_LT(z[0] - z[1], 1e-3f) << "sequence " << s << " parts at sample " << t << " of " << got[s].size()
                                  << ", where the top two logits are " << z[0] - z[1] << " apart: no near tie";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaEngineModels,
                         ::testing::Values(config({16}, RnnType::kGru, false), config({4, 16}, RnnType::kGru, false),
                                           config({4, 16}, RnnType::kLstm, true, true),
                                           config({2, 4, 16}, RnnType::kGru, true),
                                           config({2, 8}, RnnType::kLstm, false)),
                         [](const auto& info) { return name_of(info.param); });

// A model whose logits are its output bias whatever the input: the last layer's weights are 0.
EngineWeights fixed_logits_model(const ModelConfig& c, std::vector<float>& bias) {
  TensorFile f = random_file(c, 7);
  const Tensor& out = f.at("sample.output.weight");
  f.put_f32("sample.output.weight", out.shape, std::vector<float>(out.numel(), 0.0f).data());
  bias.resize(c.q_levels);
  for (int i = 0; i < c.q_levels; ++i) bias[i] = 3.0f * std::sin(0.37f * i) - 0.01f * i;
  f.put_f32("sample.output.bias", {c.q_levels}, bias.data());
  return weights_of(f, c);
}

TEST(CudaEngine, SampledLevelsFollowTheSoftmax) {
  SRNN_REQUIRE_CUDA_ENGINE();
  const ModelConfig c = config({4, 16}, RnnType::kGru, false);
  std::vector<float> bias;
  const EngineWeights w = fixed_logits_model(c, bias);
  GenerateRequest req;
  req.n_samples = 8192;
  const double temperature = 0.8;
  req.temperatures.assign(64, temperature);
  req.rng_seed = 11;
  const auto levels = generate_cuda(w, req);
  std::vector<double> p(c.q_levels), count(c.q_levels, 0.0);
  double total = 0;
  for (int i = 0; i < c.q_levels; ++i) total += p[i] = std::exp(bias[i] / temperature);
  for (double& v : p) v /= total;
  double n = 0;
  for (const auto& seq : levels) {
    for (std::int32_t l : seq) count[l] += 1, n += 1;
  }
  // Pearson's chi-square over the levels expected at least 5 times each, the rest pooled.
  double chi2 = 0, pooled_count = 0, pooled_p = 0;
  int cells = 0;
  for (int i = 0; i < c.q_levels; ++i) {
    if (n * p[i] < 5) {
      pooled_count += count[i], pooled_p += p[i];
      continue;
    }
    chi2 += (count[i] - n * p[i]) * (count[i] - n * p[i]) / (n * p[i]);
    ++cells;
  }
  if (pooled_p * n >= 5) {
    chi2 += (pooled_count - n * pooled_p) * (pooled_count - n * pooled_p) / (n * pooled_p);
    ++cells;
  }
  // The 99.9th percentile of chi-square with k degrees of freedom is below k + 3.1 sqrt(2k) + 10.
  const double dof = cells - 1;
  EXPECT_LT(chi2, dof + 3.1 * std::sqrt(2 * dof) + 10) << cells << " cells, " << n << " draws";
}

TEST(CudaEngine, TheSameSeedGivesTheSameClipWhateverTheBlock) {
  SRNN_REQUIRE_CUDA_ENGINE();
  const ModelConfig c = config({4, 16}, RnnType::kGru, true);
  const EngineWeights w = weights_of(random_file(c, 8), c);
  GenerateRequest req;
  req.n_samples = 3000;
  req.temperatures = {1.0, 0.9, 1.1};
  req.rng_seed = 5;
  const auto a = generate_cuda(w, req);
  req.block = 64;
  EXPECT_EQ(generate_cuda(w, req), a);
  req.rng_seed = 6;
  EXPECT_NE(generate_cuda(w, req), a);
}

TEST(CudaEngine, TopPIsRefusedWithOrWithoutAGpu) {
  // Nucleus sampling is the CPU engine's; the refusal comes before any GPU is looked for.
  const ModelConfig c = config({4, 16}, RnnType::kGru, false);
  const EngineWeights w = weights_of(random_file(c, 1), c);
  GenerateRequest req;
  req.temperatures = {1.0};
  req.top_p = 0.9;
  try {
    generate_cuda(w, req);
    FAIL() << "the CUDA engine sampled with top-p";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find(cuda_engine_built() ? "runs on the CPU engine" : "no CUDA engine"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaEngine, WithoutAGpuItSaysSoInOneError) {
  std::string why;
  if (cuda_engine_available(&why)) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_FALSE(why.empty());
  const ModelConfig c = config({4, 16}, RnnType::kGru, false);
  const EngineWeights w = weights_of(random_file(c, 1), c);
  GenerateRequest req;
  req.temperatures = {1.0};
  try {
    generate_cuda(w, req);
    FAIL() << "generated without a GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find(cuda_engine_built() ? "no GPU" : "no CUDA engine"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace srnn
