// Training and generation on a GPU against the CPU: one fp32 step gives the same loss and
// gradients, bf16 and fp16 steps run and fp16 loss scaling skips an overflowing step,
// checkpoints move between the devices, and the LibTorch generation path (`generate
// --device cuda`) gives the CPU engine's logits.
//
// The device under test is cuda:0; every test skips, saying so, where LibTorch sees no GPU.
// SRNN_TEST_DEVICE=cpu runs them against the CPU instead, to check the tests themselves on a
// machine without one (the fp16 tests still skip: CPU autocast has no fp16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "audio/write.h"
#include "core/run-layout.h"
#include "core/safetensors.h"
#include "infer/engine.h"
#include "tests/test-util.h"
#include "train/checkpoint.h"
#include "train/generate-torch.h"
#include "train/model.h"
#include "train/train-step.h"
#include "train/train.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

// The device under test, or "" when there is none.
std::string device_under_test() {
  if (const char* d = std::getenv("SRNN_TEST_DEVICE"); d != nullptr && *d != '\0') return d;
  return torch::cuda::is_available() ? "cuda:0" : "";
}

#define SRNN_REQUIRE_DEVICE()                                                                     \
  const std::string device_name = device_under_test();                                           \
  if (device_name.empty()) GTEST_SKIP() << "no CUDA GPU (SRNN_TEST_DEVICE=cpu runs it on the CPU)"; \
  const torch::Device device(device_name)

// For the tests that compare the device with the CPU: under SRNN_TEST_DEVICE=cpu they would
// compare the CPU with itself.
#define SRNN_REQUIRE_GPU()                                                              \
  SRNN_REQUIRE_DEVICE();                                                                \
  if (!device.is_cuda()) GTEST_SKIP() << "compares a GPU with the CPU; " << device_name << " is no GPU"

// fp32 on the GPU is fp32: TF32 matrix products would round inputs to 10 bits of mantissa.
void disable_tf32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

ModelConfig config(std::vector<int> frames, RnnType rnn, bool skip) {
  ModelConfig c;
  c.frame_sizes = std::move(frames);
  c.seq_len = c.frame_sizes.back() * 8;
  c.dim = 48;
  c.num_rnn_layers = 2;
  c.rnn_type = rnn;
  c.skip_conn = skip;
  c.emb_size = 32;
  return c;
}

std::string name_of(const ModelConfig& c) {
  return std::to_string(c.n_frame_tiers() + 1) + "tier" + (c.rnn_type == RnnType::kGru ? "Gru" : "Lstm") +
         (c.skip_conn ? "Skip" : "");
}

// The same random weights, non-zero biases included, for every call with the same seed.
SampleRNN random_model(const ModelConfig& c, int seed) {
  torch::manual_seed(seed);
  SampleRNN model(c);
  torch::NoGradGuard ng;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  return model;
}

// ||a - b|| / ||b||, both brought to the CPU in double precision.
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().to(torch::kCPU, torch::kDouble), y = b.detach().to(torch::kCPU, torch::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-300);
}

// Mean squared error over the mean square of b: the NMSE of the style guide.
double nmse(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().to(torch::kCPU, torch::kDouble), y = b.detach().to(torch::kCPU, torch::kDouble);
  return (x - y).pow(2).mean().item<double>() / std::max(y.pow(2).mean().item<double>(), 1e-300);
}

torch::Tensor random_levels(const ModelConfig& c, int64_t batch, int seed) {
  torch::manual_seed(seed);
  return torch::randint(0, c.q_levels, {batch, c.lookback() + c.seq_len}, torch::kLong);
}

}  // namespace

// Test names and failure messages show a config by its shape.
void PrintTo(const ModelConfig& c, std::ostream* os) { *os << name_of(c); }

namespace {

// The rows of x (N, len) as int32 levels on the host, with a pointer per row: what the CPU
// engine reads.
struct HostLevels {
  explicit HostLevels(const torch::Tensor& x) : rows(static_cast<std::size_t>(x.size(0))) {
    for (std::size_t s = 0; s < rows.size(); ++s) {
      const torch::Tensor row = x[static_cast<int64_t>(s)].to(torch::kInt32).contiguous();
      rows[s].assign(row.data_ptr<std::int32_t>(), row.data_ptr<std::int32_t>() + row.numel());
      ptrs.push_back(rows[s].data());
    }
  }
  std::vector<std::vector<std::int32_t>> rows;
  std::vector<const std::int32_t*> ptrs;
};

class CudaStep : public ::testing::TestWithParam<ModelConfig> {};

TEST_P(CudaStep, Fp32StepMatchesTheCpuStep) {
  SRNN_REQUIRE_GPU();
  disable_tf32();
  const ModelConfig c = GetParam();
  SampleRNN cpu = random_model(c, 3), gpu = random_model(c, 3);
  gpu->to(device);
  auto opt_cpu = make_optimizer("adam", 1e-3, 0.9, cpu), opt_gpu = make_optimizer("adam", 1e-3, 0.9, gpu);
  const torch::Tensor x = random_levels(c, 4, 5);
  ModelState s_cpu = cpu->initial_state(4), s_gpu = gpu->initial_state(4);
  // Two windows of the same batch: the second starts from the carried RNN state.
  for (int w = 0; w < 2; ++w) {
    const StepResult a = train_step(cpu, *opt_cpu, x, s_cpu);
    const StepResult b = train_step(gpu, *opt_gpu, x.to(device), s_gpu);
    EXPECT_NEAR(b.loss, a.loss, 1e-4 * a.loss) << "window " << w;
    const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
    for (const auto& item : pc) {
      const torch::Tensor& g_cpu = item.value().grad();
      const torch::Tensor& g_gpu = pg[item.key()].grad();
      ASSERT_TRUE(g_cpu.defined() && g_gpu.defined()) << item.key();
      EXPECT_LE(relative_error(g_gpu, g_cpu), 1e-4) << item.key() << ", window " << w;
      EXPECT_LE(relative_error(pg[item.key()], item.value()), 1e-5) << item.key() << " after the update, window " << w;
    }
    for (std::size_t k = 0; k < s_cpu.size(); ++k) {
      for (std::size_t l = 0; l < s_cpu[k].h.size(); ++l) EXPECT_LE(relative_error(s_gpu[k].h[l], s_cpu[k].h[l]), 1e-4);
    }
  }
}

TEST_P(CudaStep, TeacherForcedGenerationLogitsMatchTheCpuEngine) {
  SRNN_REQUIRE_DEVICE();
  disable_tf32();
  const ModelConfig c = GetParam();
  SampleRNN model = random_model(c, 7);
  model->eval();
  CheckpointInfo info;
  info.config = c;
  const EngineWeights w = engine_weights_from(weights_to_tensor_file(model), info);
  model->to(device);
  const int64_t n = 3, L = c.lookback(), T = c.seq_len;
  const torch::Tensor x = random_levels(c, n, 9);
  const HostLevels levels(x);
  torch::NoGradGuard ng;
  TorchStepper stepper(model, n);
  Engine engine(w, static_cast<int>(n));
  const torch::Tensor x_dev = x.to(device);
  std::vector<torch::Tensor> got, want;
  for (int64_t t = L; t < L + T; ++t) {
    got.push_back(stepper.logits_at(x_dev, t).to(torch::kCPU));
    engine.step_frames(levels.ptrs.data(), t);
    const float* logits = engine.sample_logits(levels.ptrs.data(), t);
    want.push_back(torch::from_blob(const_cast<float*>(logits), {n, c.q_levels}).clone());
  }
  const torch::Tensor a = torch::stack(got), b = torch::stack(want);
  EXPECT_LE(nmse(a, b), 1e-5) << "largest difference " << (a - b).abs().max().item<double>();
}

INSTANTIATE_TEST_SUITE_P(Models, CudaStep,
                         ::testing::Values(config({16}, RnnType::kGru, false), config({4, 16}, RnnType::kGru, false),
                                           config({4, 16}, RnnType::kLstm, true), config({2, 4, 16}, RnnType::kGru, true)),
                         [](const auto& info) { return name_of(info.param); });

// The fp32 step on the same device is the reference: a bf16 or fp16 step must give its loss
// and every gradient to the rounding of the reduced type, keep the parameters fp32, and carry
// an fp32 RNN state (which a stop inside a batch stores).
TEST(CudaPrecision, Bf16AndFp16StepsFollowTheFp32Step) {
  SRNN_REQUIRE_DEVICE();
  disable_tf32();
  const ModelConfig c = config({4, 16}, RnnType::kLstm, true);
  const torch::Tensor x = random_levels(c, 8, 5).to(device);
  SampleRNN ref = random_model(c, 3);
  ref->to(device);
  auto ref_opt = make_optimizer("adam", 1e-3, 0.9, ref);
  ModelState ref_state = ref->initial_state(8);
  const StepResult want = train_step(ref, *ref_opt, x, ref_state);
  const auto ref_params = ref->named_parameters();
  for (Precision p : {Precision::kBf16, Precision::kFp16}) {
    if (p == Precision::kFp16 && !device.is_cuda()) continue;  // CPU autocast has no fp16
    SampleRNN model = random_model(c, 3);
    model->to(device);
    auto opt = make_optimizer("adam", 1e-3, 0.9, model);
    LossScaler scaler(p == Precision::kFp16);
    StepOptions o;
    o.precision = p;
    o.scaler = &scaler;
    ModelState s = model->initial_state(8);
    const StepResult r = train_step(model, *opt, x, s, o);
    EXPECT_FALSE(r.skipped) << precision_name(p);
    EXPECT_NEAR(r.loss, want.loss, 2e-3 * want.loss) << precision_name(p);
    for (const auto& item : model->named_parameters()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat32) << item.key();
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      // bf16 keeps 8 bits: by the top tier, several products from the loss, its gradients
      // drift by up to 15% on the CPU; a gradient lost, doubled or left scaled is 100% off.
      EXPECT_LE(relative_error(item.value().grad(), ref_params[item.key()].grad()), 0.3)
          << precision_name(p) << " gradient of " << item.key();
    }
    for (const TierState& tier : s) {
      for (const auto& t : tier.h) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << precision_name(p) << " state h";
      for (const auto& t : tier.c) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << precision_name(p) << " state c";
    }
  }
}

TEST(CudaPrecision, Fp16LossScalingSkipsAStepThatOverflows) {
  SRNN_REQUIRE_DEVICE();
  if (!device.is_cuda()) GTEST_SKIP() << "fp16 autocast needs CUDA";
  const ModelConfig c = config({4, 16}, RnnType::kGru, false);
  SampleRNN model = random_model(c, 3);
  model->to(device);
  auto opt = make_optimizer("adam", 1e-3, 0.9, model);
  // A scale that overflows fp32 once the loss (about ln 256) multiplies it.
  LossScaler scaler(true, 1e38);
  StepOptions o;
  o.precision = Precision::kFp16;
  o.scaler = &scaler;
  ModelState s = model->initial_state(4);
  std::vector<torch::Tensor> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
  const StepResult r = train_step(model, *opt, random_levels(c, 4, 5).to(device), s, o);
  EXPECT_TRUE(r.skipped);
  EXPECT_DOUBLE_EQ(scaler.scale(), 5e37);
  const auto params = model->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i].detach(), before[i])) << i;
  // The next step, at a scale that fits, updates.
  scaler.restore(1024.0, 0);
  EXPECT_FALSE(train_step(model, *opt, random_levels(c, 4, 6).to(device), s, o).skipped);
}

// Checkpoints between the devices, through run_training as `samplernn train` runs it.
class CudaCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "data");
    for (int i = 0; i < 4; ++i) {
      const std::vector<float> x = test::sine(200.0 + 37.0 * i, 0.3, 16000, 8000);
      write_audio(dir_ / "data" / ("f" + std::to_string(i) + ".wav"), x, 16000);
    }
    std::ofstream(dir_ / "tiny.config.json")
        << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 32, "num_rnn_layers": 2, "emb_size": 16})";
  }
  TrainOptions options(const std::string& id, const std::string& device, std::int64_t max_steps) const {
    TrainOptions o;
    o.id = id;
    o.data_dir = dir_ / "data";
    o.batch_size = 2;
    o.val_frac = 0.25;
    o.logdir_root = dir_ / "logdir";
    o.output_dir = dir_ / "generated";
    o.config_file = dir_ / "tiny.config.json";
    o.config_file_given = true;
    o.generate = false;
    o.rng_seed = 7;
    o.num_threads = 1;
    o.verbose = false;
    o.max_steps = max_steps;
    o.device = device;
    return o;
  }
  // loss of each step row of an id's metrics.jsonl files, by step.
  std::map<std::int64_t, double> step_losses(const std::string& id) const {
    std::map<std::int64_t, double> out;
    for (const fs::path& run : run_folders(dir_ / "logdir" / id)) {
      std::ifstream in(run / "metrics.jsonl");
      for (std::string line; std::getline(in, line);) {
        const auto row = nlohmann::json::parse(line);
        if (row.value("kind", "") == "step") out[row["step"].get<std::int64_t>()] = row["loss"].get<double>();
      }
    }
    return out;
  }
  test::TempDir dir_;
};

TEST_F(CudaCheckpoint, TrainedOnTheGpuTheCpuEngineGivesTheSameLogits) {
  SRNN_REQUIRE_DEVICE();
  disable_tf32();
  ASSERT_EQ(run_training(options("gpu", device_name, 5)), 0);
  const fs::path ckpt = latest_checkpoint(dir_ / "logdir" / "gpu");
  ASSERT_FALSE(ckpt.empty());
  SampleRNN model(read_checkpoint_info(ckpt).config);
  load_checkpoint(ckpt, model, nullptr);
  model->to(device);
  model->eval();
  const ModelConfig& c = model->config();
  const int64_t n = 2, L = c.lookback(), T = c.seq_len;
  const torch::Tensor x = random_levels(c, n, 4);
  torch::Tensor want;
  {
    torch::NoGradGuard ng;
    ModelState s = model->initial_state(n);
    want = model->forward(x.to(device), s).to(torch::kCPU);  // (n, T, q)
  }
  const EngineWeights w = load_engine_weights(ckpt, WeightFormat::kF32);
  const HostLevels levels(x);
  Engine engine(w, static_cast<int>(n));
  std::vector<torch::Tensor> got;
  for (int64_t t = L; t < L + T; ++t) {
    engine.step_frames(levels.ptrs.data(), t);
    const float* logits = engine.sample_logits(levels.ptrs.data(), t);
    got.push_back(torch::from_blob(const_cast<float*>(logits), {n, c.q_levels}).clone());
  }
  const torch::Tensor a = torch::stack(got, 1);  // (n, T, q)
  EXPECT_LE(nmse(a, want), 1e-6) << "largest difference " << (a - want).abs().max().item<double>();
}

TEST_F(CudaCheckpoint, ACpuCheckpointResumesOnTheGpu) {
  SRNN_REQUIRE_GPU();
  disable_tf32();
  // The same 3 + 3 steps twice: resumed on the CPU, and resumed on the device under test.
  ASSERT_EQ(run_training(options("cpu-cpu", "cpu", 3)), 0);
  ASSERT_EQ(run_training(options("cpu-cpu", "cpu", 6)), 0);
  ASSERT_EQ(run_training(options("cpu-gpu", "cpu", 3)), 0);
  ASSERT_EQ(run_training(options("cpu-gpu", device_name, 6)), 0);
  const auto a = step_losses("cpu-cpu"), b = step_losses("cpu-gpu");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (const auto& [step, loss] : a) EXPECT_NEAR(b.at(step), loss, 1e-4 * loss) << "step " << step;
  // The resumed run's weights, Adam's state carried over, match the CPU's.
  const TensorFile wa = load_safetensors(latest_checkpoint(dir_ / "logdir" / "cpu-cpu"));
  const TensorFile wb = load_safetensors(latest_checkpoint(dir_ / "logdir" / "cpu-gpu"));
  for (const auto& [name, t] : wa.tensors) {
    if (t.dtype != DType::kF32) continue;
    const std::vector<float> x = t.to_f32(), y = wb.at(name).to_f32();
    EXPECT_LE(relative_error(torch::tensor(y), torch::tensor(x)), 1e-4) << name;
  }
}

}  // namespace
}  // namespace srnn
