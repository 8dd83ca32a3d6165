// Saving and restoring a model with its optimiser state as a safetensors checkpoint
// (core/checkpoint-info.h lists the names and metadata).
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "core/checkpoint-info.h"
#include "core/safetensors.h"
#include "train/model.h"
#include "train/pruning.h"

namespace srnn {

// Atomic and durable: a failed write leaves any earlier file at `path` untouched.
// optimizer may be null (weights only). The default CPU generator's state is saved too, and
// `rnn_state`, when given, as "train.rnn.<tier>.h<layer>" (and ".c<layer>"), each
// (1, batch, dim): the RNN state training carries into the next window of a batch. masks,
// when given, go in as "train.mask.<weight>" (U8, 0 or 1).
void save_checkpoint(const std::filesystem::path& path, SampleRNN& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const ModelState* rnn_state = nullptr,
                     const PruneMasks* masks = nullptr);

// Loads weights into `model`, whose config must equal the checkpoint's (Error(kConfig)
// naming the differences otherwise), and, when optimizer is given, its state and the RNG.
// When rnn_state is given, it receives the stored RNN state (on the CPU), or stays empty
// when the checkpoint holds none. masks, when given, receives the stored pruning masks
// (Error(kInput) for a mask with values other than 0 and 1).
CheckpointInfo load_checkpoint(const std::filesystem::path& path, SampleRNN& model,
                               torch::optim::Optimizer* optimizer, ModelState* rnn_state = nullptr,
                               PruneMasks* masks = nullptr);

// Copies of the model's weights as a tensor file (what save_checkpoint writes, minus state).
TensorFile weights_to_tensor_file(SampleRNN& model);

}  // namespace srnn
