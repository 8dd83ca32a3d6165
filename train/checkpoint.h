// Saving and restoring a model with its optimiser state as a safetensors checkpoint
// (core/checkpoint-info.h lists the names and metadata).
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "core/checkpoint-info.h"
#include "core/safetensors.h"
#include "train/model.h"

namespace srnn {

// Atomic and durable: a failed write leaves any earlier file at `path` untouched.
// optimizer may be null (weights only). The default CPU generator's state is saved too.
void save_checkpoint(const std::filesystem::path& path, SampleRNN& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info);

// Loads weights into `model`, whose config must equal the checkpoint's (Error(kConfig)
// naming the differences otherwise), and, when optimizer is given, its state and the RNG.
CheckpointInfo load_checkpoint(const std::filesystem::path& path, SampleRNN& model,
                               torch::optim::Optimizer* optimizer);

// Copies of the model's weights as a tensor file (what save_checkpoint writes, minus state).
TensorFile weights_to_tensor_file(SampleRNN& model);

}  // namespace srnn
