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

void TorchStepper::prime(const torch::Tensor& seqs, std::int64_t n_seed) {
  const ModelConfig& c = model_->config();
  const int64_t L = c.lookback();
  if (n_seed <= L) return;
  torch::Tensor cond;
  for (int k = c.n_frame_tiers() - 1; k >= 0; --k) {
    const int64_t F = c.frame_sizes[k];
    cond = model_->tiers[k]->forward(seqs.narrow(1, L - F, n_seed - L), cond, states_[k]);
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

torch::Tensor generate_torch(SampleRNN& model, const TorchGenerateOptions& o,
                             const std::function<void(std::int64_t)>& on_progress) {
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const ModelConfig& c = model->config();
  const int64_t N = static_cast<int64_t>(o.temperatures.size()), L = c.lookback();
  if (N < 1) throw Error(ErrorKind::kUsage, "generation needs at least one sequence");

  // Priming: the seed's samples are fed through every tier before generation starts.
  const int64_t n_seed = primed_length(static_cast<int64_t>(o.seed_levels.size()), L);
  const int64_t total = n_seed + o.n_samples;
  const torch::Device device = model->sample->embedding.device();
  const auto on_device = torch::TensorOptions().device(device);
  torch::Tensor seqs = torch::full({N, total}, c.q_levels / 2, on_device.dtype(torch::kLong));
  if (static_cast<int64_t>(o.seed_levels.size()) >= L) {  // a shorter seed is none (primed_length)
    const torch::Tensor s =
        torch::tensor(std::vector<int64_t>(o.seed_levels.end() - n_seed, o.seed_levels.end())).to(device);
    seqs.narrow(1, 0, n_seed).copy_(s.unsqueeze(0).expand({N, n_seed}));
  }
  torch::Tensor inv_temp = torch::tensor(std::vector<double>(o.temperatures.begin(), o.temperatures.end()))
                               .reciprocal()
                               .to(on_device.dtype(torch::kFloat32))
                               .unsqueeze(1);  // (N, 1)
  // On the CPU a private generator; on a GPU the device's default one, seeded here.
  c10::optional<at::Generator> gen;
  if (device.is_cpu()) {
    gen = at::make_generator<at::CPUGeneratorImpl>(o.rng_seed);
  } else {
    torch::manual_seed(o.rng_seed);
  }
  TorchStepper stepper(model, N);
  stepper.prime(seqs, n_seed);
  for (int64_t t = n_seed; t < total; ++t) {
    const torch::Tensor probs = torch::softmax(stepper.logits_at(seqs, t) * inv_temp, -1);
    seqs.select(1, t).copy_(torch::multinomial(probs, 1, false, gen).squeeze(1));
    const std::int64_t done = t - n_seed + 1;
    if (on_progress && (done % kProgressBlock == 0 || done == o.n_samples)) on_progress(done);
  }
  if (was_training) model->train();
  return seqs.narrow(1, n_seed, o.n_samples).contiguous();
}

std::vector<std::vector<std::int32_t>> generate_on_device(const std::filesystem::path& checkpoint,
                                                          const GenerateRequest& request, const std::string& device) {
  // The LibTorch path holds every sequence whole (int64 levels on the device), so it is
  // bounded; the CPU engine streams and is not.
  const double held = static_cast<double>(request.temperatures.size()) *
                      static_cast<double>(request.n_samples + static_cast<std::int64_t>(request.seed_levels.size()));
  if (held > static_cast<double>(kMaxDeviceSamples)) {
    throw Error(ErrorKind::kUsage,
                "generating on a device holds every sequence in memory, and " + std::to_string(request.temperatures.size()) +
                    " x " + std::to_string(request.n_samples) + " samples is more than " +
                    std::to_string(kMaxDeviceSamples),
                "use --device cpu, which streams, or a shorter --dur or fewer --num_seqs");
  }
  const torch::Device dev = resolve_device(device, 0);
  SampleRNN model(read_checkpoint_info(checkpoint).config);
  load_checkpoint(checkpoint, model, nullptr);
  model->to(dev);
  TorchGenerateOptions o;
  o.n_samples = request.n_samples;
  o.temperatures = request.temperatures;
  o.seed_levels.assign(request.seed_levels.begin(), request.seed_levels.end());
  if (!o.seed_levels.empty() && static_cast<std::int64_t>(o.seed_levels.size()) < model->config().lookback()) {
    throw Error(ErrorKind::kInput, "the seed has fewer than " + std::to_string(model->config().lookback()) + " samples");
  }
  o.rng_seed = request.rng_seed;
  const torch::Tensor levels = generate_torch(model, o, request.on_progress).to(torch::kCPU).to(torch::kInt32).contiguous();
  std::vector<std::vector<std::int32_t>> out(static_cast<std::size_t>(levels.size(0)));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int32_t* row = levels[static_cast<std::int64_t>(i)].data_ptr<std::int32_t>();
    if (request.on_samples) request.on_samples(static_cast<int>(i), row, levels.size(1));
    else out[i].assign(row, row + levels.size(1));
  }
  return out;
}

}  // namespace srnn
