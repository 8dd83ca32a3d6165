#include "train/generate-torch.h"

#include "core/error.h"
#include "core/model-spec.h"
#include "train/checkpoint.h"
#include "train/precision.h"
#include "train/train.h"

namespace srnn {

TorchStepper::TorchStepper(SampleRNN& model, std::int64_t n_seqs)
    : model_(model),
      states_(model->initial_state(n_seqs)),
      table_(model->sample->conv_table()),
      outs_(static_cast<std::size_t>(model->config().n_frame_tiers())) {}

void TorchStepper::prime(const torch::Tensor& seqs, std::int64_t from, std::int64_t to) {
  const ModelConfig& c = model_->config();
  if (to <= from) return;
  torch::Tensor cond;
  for (int k = c.n_frame_tiers() - 1; k >= 0; --k) {
    const int64_t F = c.frame_sizes[k];
    cond = model_->tiers[k]->forward(seqs.narrow(1, from - F, to - from), cond, states_[k]);
  }
}

torch::Tensor TorchStepper::logits_at(const torch::Tensor& seqs, std::int64_t t) {
  const ModelConfig& c = model_->config();
  const int K = c.n_frame_tiers();
  const int64_t F1 = c.frame_sizes[0];
  for (int k = K - 1; k >= 0; --k) {
    const int64_t F = c.frame_sizes[k];
    if (t % F != 0) continue;
    torch::Tensor cond;
    if (k + 1 < K) cond = outs_[k + 1].narrow(1, conditioning_index(t, F, c.upsample_ratio(k + 1)), 1);  // (N, 1, dim)
    outs_[k] = model_->tiers[k]->forward(seqs.narrow(1, t - F, F), cond, states_[k]);
  }
  const torch::Tensor cond = outs_[0].narrow(1, conditioning_index(t, 1, F1), 1);                 // (N, 1, dim)
  return model_->sample->forward_with_table(table_, seqs.narrow(1, t - F1, F1), cond).squeeze(1);  // (N, q)
}

namespace {

// The LibTorch model under the generation driver: the history as int64 levels on the
// model's device.
class TorchBackend : public GenerationBackend {
 public:
  TorchBackend(SampleRNN& model, const GenerateRequest& req, const GenerationLayout& layout)
      : stepper_(model, layout.n_seqs), capacity_(layout.capacity), lookback_(layout.lookback) {
    const torch::Device device = model->sample->embedding.device();
    history_ = torch::full({layout.n_seqs, capacity_}, layout.q_zero, torch::TensorOptions().device(device).dtype(torch::kLong));
    inv_temp_ = torch::tensor(std::vector<double>(req.temperatures.begin(), req.temperatures.end()))
                    .reciprocal()
                    .to(device, torch::kFloat32)
                    .unsqueeze(1);  // (N, 1)
    if (device.is_cpu()) {
      gen_ = at::make_generator<at::CPUGeneratorImpl>(req.rng_seed);
    } else {
      torch::manual_seed(req.rng_seed);
    }
  }

  void load(const std::int32_t* host, std::int64_t from, std::int64_t to) override {
    const torch::Tensor rows = host_rows(const_cast<std::int32_t*>(host)).narrow(1, from, to - from);
    history_.narrow(1, from, to - from).copy_(rows.to(torch::kLong));
  }
  void store(std::int32_t* host, std::int64_t from, std::int64_t to) override {
    host_rows(host).narrow(1, from, to - from).copy_(history_.narrow(1, from, to - from).to(torch::kCPU, torch::kInt32));
  }
  void shift(std::int64_t block) override {
    history_.narrow(1, 0, lookback_).copy_(history_.narrow(1, block, lookback_).clone());
  }
  void prime(std::int64_t from, std::int64_t to) override { stepper_.prime(history_, from, to); }
  void sample(std::int64_t from, std::int64_t to, std::int64_t /*base*/) override {
    for (std::int64_t t = from; t < to; ++t) {
      const torch::Tensor probs = torch::softmax(stepper_.logits_at(history_, t) * inv_temp_, -1);  // (N, q)
      history_.select(1, t).copy_(torch::multinomial(probs, 1, false, gen_).squeeze(1));
    }
  }

 private:
  torch::Tensor host_rows(std::int32_t* host) const {
    return torch::from_blob(host, {history_.size(0), capacity_}, torch::kInt32);
  }
  TorchStepper stepper_;
  std::int64_t capacity_, lookback_;
  torch::Tensor history_, inv_temp_;  // (N, capacity), (N, 1)
  c10::optional<at::Generator> gen_;
};

}  // namespace

std::vector<std::vector<std::int32_t>> generate_torch(SampleRNN& model, const GenerateRequest& req) {
  if (req.dc_guard) {
    throw Error(ErrorKind::kUsage, "the DC guard runs on the CPU engine",
                "use --device cpu with --dc_guard, or --dc_guard False on the GPU");
  }
  if (req.top_p < 1) {
    throw Error(ErrorKind::kUsage, "top-p (nucleus) sampling runs on the CPU engine; the LibTorch generator draws from the whole softmax",
                "use --device cpu with --top_p, or --top_p 1 on the GPU");
  }
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const GenerationLayout layout = generation_layout(model->config(), req);
  TorchBackend backend(model, req, layout);
  auto levels = run_generation(layout, req, backend);
  if (was_training) model->train();
  return levels;
}

std::vector<std::vector<std::int32_t>> generate_on_device(const std::filesystem::path& checkpoint,
                                                          const GenerateRequest& request, const std::string& device) {
  const torch::Device dev = resolve_device(device, 0);
  SampleRNN model(read_checkpoint_info(checkpoint).config);
  load_checkpoint(checkpoint, model, nullptr);
  model->to(dev);
  return generate_torch(model, request);
}

}  // namespace srnn
