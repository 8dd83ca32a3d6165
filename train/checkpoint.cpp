#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cstring>
#include <mutex>
#include <sstream>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "core/model-spec.h"
#include "core/safetensors.h"
#include "train/train-step.h"

namespace srnn {
namespace {

Tensor to_file_tensor(const torch::Tensor& t) {
  Tensor out;
  torch::Tensor c = t.detach().contiguous().cpu();
  // A bf16 or fp16 tensor (autocast's, should one reach here) is stored as F32, which holds it
  // exactly, so that a checkpoint is always written.
  if (c.scalar_type() == torch::kBFloat16 || c.scalar_type() == torch::kHalf) c = c.to(torch::kFloat32);
  if (c.scalar_type() == torch::kFloat32) out.dtype = DType::kF32;
  else if (c.scalar_type() == torch::kInt64) out.dtype = DType::kI64;
  else if (c.scalar_type() == torch::kUInt8) out.dtype = DType::kU8;
  else throw Error(ErrorKind::kInternal, "cannot store tensor of type " + std::string(c.dtype().name()));
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.bytes.resize(c.numel() * c.element_size());
  if (!out.bytes.empty()) std::memcpy(out.bytes.data(), c.data_ptr(), out.bytes.size());
  return out;
}

torch::Tensor from_file_tensor(const Tensor& t) {
  if (t.dtype == DType::kI64 || t.dtype == DType::kU8) {
    torch::Tensor out = torch::empty(t.shape, t.dtype == DType::kI64 ? torch::kInt64 : torch::kUInt8);
    if (!t.bytes.empty()) std::memcpy(out.data_ptr(), t.bytes.data(), t.bytes.size());
    return out;
  }
  const std::vector<float> f = t.to_f32();
  torch::Tensor out = torch::empty(t.shape, torch::kFloat32);
  if (!f.empty()) std::memcpy(out.data_ptr(), f.data(), f.size() * 4);
  return out;
}

// The tensor `name`, checked against `like`'s shape and placed on its device in its dtype.
const torch::Tensor& checked(const TensorFile& f, const std::string& name, const torch::Tensor& like,
                             const std::filesystem::path& path, torch::Tensor& holder) {
  holder = from_file_tensor(f.at(name));
  if (holder.sizes() != like.sizes()) {
    std::ostringstream os;
    os << "tensor '" << name << "' in '" << path.string() << "' has shape " << holder.sizes() << ", expected "
       << like.sizes();
    throw Error(ErrorKind::kInput, os.str(), "the checkpoint does not match the model config");
  }
  holder = holder.to(like.device(), like.scalar_type());
  return holder;
}

// Checkpoint name of the carried RNN state of tier `tier`, layer `layer`; kind "h" or "c".
std::string rnn_state_name(std::size_t tier, const char* kind, std::size_t layer) {
  return "train.rnn." + std::to_string(tier) + "." + kind + std::to_string(layer);
}

// The first parameter or optimiser slot holding NaN or an infinity, as "<name>", or "".
std::string first_non_finite(SampleRNN& model, torch::optim::Optimizer* optimizer) {
  torch::NoGradGuard ng;
  const auto bad = [](const torch::Tensor& t) { return t.defined() && !torch::isfinite(t).all().item<bool>(); };
  for (const auto& item : model->named_parameters()) {
    if (bad(item.value())) return item.key();
  }
  if (optimizer == nullptr) return "";
  for (const auto& item : model->named_parameters()) {
    auto it = optimizer->state().find(state_key(item.value()));
    if (it == optimizer->state().end()) continue;
    const std::string base = "optim." + item.key() + ".";
    if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
      if (bad(a->exp_avg())) return base + "exp_avg";
      if (bad(a->exp_avg_sq())) return base + "exp_avg_sq";
    } else if (auto* g = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
      if (bad(g->momentum_buffer())) return base + "momentum_buffer";
    } else if (auto* r = dynamic_cast<torch::optim::RMSpropParamState*>(it->second.get())) {
      if (bad(r->square_avg())) return base + "square_avg";
      if (bad(r->momentum_buffer())) return base + "momentum_buffer";
    }
  }
  return "";
}

// Error(kInput) when a loaded weight or optimiser slot holds NaN or an infinity.
void require_finite(SampleRNN& model, torch::optim::Optimizer* optimizer, const std::filesystem::path& path) {
  const std::string bad = first_non_finite(model, optimizer);
  if (!bad.empty()) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' holds NaN or infinite values in '" + bad + "'",
                "the run diverged before this checkpoint was written, or the file is damaged; resume from an "
                "earlier checkpoint with --resume_from");
  }
}

// An optimiser step count as stored: a single non-negative number of plausible size.
std::int64_t step_count(const TensorFile& f, const std::string& name, const std::filesystem::path& path) {
  const std::int64_t step = from_file_tensor(f.at(name)).item<int64_t>();
  if (step < 0 || step > (std::int64_t{1} << 48)) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has an optimiser step count of " + std::to_string(step) +
                                       " in '" + name + "'",
                "the checkpoint is damaged; resume from an earlier one");
  }
  return step;
}

}  // namespace

TensorFile weights_to_tensor_file(SampleRNN& model) {
  TensorFile f;
  for (const auto& item : model->named_parameters()) f.put(item.key(), to_file_tensor(item.value()));
  return f;
}

void save_checkpoint(const std::filesystem::path& path, SampleRNN& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const ModelState* rnn_state, const PruneMasks* masks) {
  const std::string bad = first_non_finite(model, optimizer);
  if (!bad.empty()) {
    throw Error(ErrorKind::kDiverged, "'" + bad + "' holds NaN or infinite values at step " +
                                          std::to_string(info.train.step) + ", so '" + path.string() +
                                          "' was not written",
                "lower --learning_rate, or resume from the last checkpoint");
  }
  TensorFile f = weights_to_tensor_file(model);
  if (optimizer != nullptr) {
    auto& state = optimizer->state();
    for (const auto& item : model->named_parameters()) {
      auto it = state.find(state_key(item.value()));
      if (it == state.end()) continue;
      const std::string base = "optim." + item.key() + ".";
      if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        f.put(base + "exp_avg", to_file_tensor(s->exp_avg()));
        f.put(base + "exp_avg_sq", to_file_tensor(s->exp_avg_sq()));
        f.put(base + "step", to_file_tensor(torch::tensor({s->step()}, torch::kInt64)));
      } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
        if (s->momentum_buffer().defined()) f.put(base + "momentum_buffer", to_file_tensor(s->momentum_buffer()));
      } else if (auto* s = dynamic_cast<torch::optim::RMSpropParamState*>(it->second.get())) {
        f.put(base + "square_avg", to_file_tensor(s->square_avg()));
        if (s->momentum_buffer().defined()) f.put(base + "momentum_buffer", to_file_tensor(s->momentum_buffer()));
        f.put(base + "step", to_file_tensor(torch::tensor({s->step()}, torch::kInt64)));
      }
    }
  }
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    f.put("train.rng_state", to_file_tensor(gen.get_state()));
  }
  if (rnn_state != nullptr) {
    for (std::size_t k = 0; k < rnn_state->size(); ++k) {
      const TierState& t = (*rnn_state)[k];
      for (std::size_t l = 0; l < t.h.size(); ++l) f.put(rnn_state_name(k, "h", l), to_file_tensor(t.h[l]));
      for (std::size_t l = 0; l < t.c.size(); ++l) f.put(rnn_state_name(k, "c", l), to_file_tensor(t.c[l]));
    }
  }
  if (masks != nullptr) {
    for (const auto& [name, mask] : *masks) f.put(mask_tensor_name(name), to_file_tensor(mask));
  }
  f.metadata = to_metadata(info);
  save_safetensors(path, f);
}

namespace {

// The RNN state a stop inside a batch stored, per tier; empty when the file has none.
ModelState read_rnn_state(const TensorFile& f, const ModelConfig& c, const std::filesystem::path& path) {
  ModelState state;
  if (!f.has(rnn_state_name(0, "h", 0))) return state;
  for (int k = 0; k < c.n_frame_tiers(); ++k) {
    TierState t;
    for (int l = 0; l < c.num_rnn_layers; ++l) {
      t.h.push_back(from_file_tensor(f.at(rnn_state_name(k, "h", l))));
      if (c.rnn_type == RnnType::kLstm) t.c.push_back(from_file_tensor(f.at(rnn_state_name(k, "c", l))));
      const torch::Tensor& h = t.h.back();
      if (h.dim() != 3 || h.size(0) != 1 || h.size(2) != c.dim) {
        throw Error(ErrorKind::kInput, "'" + path.string() + "' holds an RNN state of the wrong shape",
                    "the checkpoint is damaged; resume from an earlier one");
      }
    }
    state.push_back(std::move(t));
  }
  return state;
}

// The pruning masks, by the weight each one masks.
PruneMasks read_masks(const TensorFile& f, const std::filesystem::path& path) {
  PruneMasks masks;
  for (const auto& [name, t] : f.tensors) {
    const std::string weight = masked_weight_name(name);
    if (weight.empty()) continue;
    const torch::Tensor m = from_file_tensor(t);
    if (m.gt(1).any().item<bool>()) {
      throw Error(ErrorKind::kInput, "'" + path.string() + "' holds a pruning mask with values other than 0 and 1 ('" +
                                         name + "')",
                  "the checkpoint is damaged; resume from an earlier one");
    }
    masks[weight] = m;
  }
  return masks;
}

// The optimiser's per-parameter state, where the file holds it for the optimiser it names.
void read_optimizer_state(const TensorFile& f, const CheckpointInfo& info, SampleRNN& model,
                          torch::optim::Optimizer& optimizer, const std::filesystem::path& path) {
  torch::Tensor holder;
  auto& state = optimizer.state();
  for (const auto& item : model->named_parameters()) {
    const std::string base = "optim." + item.key() + ".";
    const torch::Tensor& p = item.value();
    if (info.train.optimizer == "adam" && f.has(base + "exp_avg")) {
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->exp_avg(checked(f, base + "exp_avg", p, path, holder));
      s->exp_avg_sq(checked(f, base + "exp_avg_sq", p, path, holder));
      s->step(step_count(f, base + "step", path));
      state[state_key(p)] = std::move(s);
    } else if (info.train.optimizer == "sgd" && f.has(base + "momentum_buffer")) {
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(checked(f, base + "momentum_buffer", p, path, holder));
      state[state_key(p)] = std::move(s);
    } else if (info.train.optimizer == "rmsprop" && f.has(base + "square_avg")) {
      auto s = std::make_unique<torch::optim::RMSpropParamState>();
      s->square_avg(checked(f, base + "square_avg", p, path, holder));
      if (f.has(base + "momentum_buffer")) s->momentum_buffer(checked(f, base + "momentum_buffer", p, path, holder));
      s->step(step_count(f, base + "step", path));
      state[state_key(p)] = std::move(s);
    }
  }
}

// LibTorch's default CPU generator, as the run left it.
void read_rng_state(const TensorFile& f, const std::filesystem::path& path) {
  if (!f.has("train.rng_state")) return;
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(from_file_tensor(f.at("train.rng_state")));
  } catch (const c10::Error&) {
    throw Error(ErrorKind::kInput, "'" + path.string() + "' has an RNG state LibTorch does not accept",
                "the checkpoint is damaged, or was written by another LibTorch; resume from an earlier one");
  }
}

}  // namespace

CheckpointInfo load_checkpoint(const std::filesystem::path& path, SampleRNN& model,
                               torch::optim::Optimizer* optimizer, ModelState* rnn_state, PruneMasks* masks) {
  TensorFile f = load_safetensors(path, [&](const std::string& name) {
    return optimizer != nullptr || is_weight_tensor(name) || (rnn_state != nullptr && name.rfind("train.rnn.", 0) == 0) ||
           (masks != nullptr && !masked_weight_name(name).empty());
  });
  const CheckpointInfo info = checkpoint_info_of(f, path);
  dequantise_matrices_int8(f, info.config, path);
  const std::string diff = config_differences(info.config, model->config());
  if (!diff.empty()) {
    throw Error(ErrorKind::kConfig, "the config disagrees with checkpoint '" + path.string() + "': " + diff,
                "drop --config_file to use the checkpoint's config, or start a new --id");
  }
  torch::NoGradGuard ng;
  torch::Tensor holder;
  for (auto& item : model->named_parameters()) {
    item.value().copy_(checked(f, item.key(), item.value(), path, holder));
  }
  if (rnn_state != nullptr) *rnn_state = read_rnn_state(f, info.config, path);
  if (masks != nullptr) *masks = read_masks(f, path);
  if (optimizer == nullptr) {
    require_finite(model, nullptr, path);
    return info;
  }
  read_optimizer_state(f, info, model, *optimizer, path);
  require_finite(model, optimizer, path);
  read_rng_state(f, path);
  return info;
}

}  // namespace srnn
