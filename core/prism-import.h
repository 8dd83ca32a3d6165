// PRiSM SampleRNN checkpoints (Keras save_weights, TensorFlow's bundle format) as samplernn
// checkpoints: the one place where PRiSM's layout becomes ours.
//
//   nlohmann::json prism = nlohmann::json::parse(std::ifstream("default.config.json"));
//   srnn::PrismImport im = srnn::import_prism(srnn::resolve_tf_checkpoint("logdir/default"), prism, 16000);
//   for (const auto& line : im.notes) std::cout << line << "\n";
//   srnn::save_safetensors("imported.ckpt", im.file);
//
// PRiSM's Keras names (model.py, frame_rnn.py, sample_mlp.py, nn.py) against ours
// (docs/formats.md), for frame tier <t> = frame_rnn (our tier 0) and big_frame_rnn (tier 1):
//
//   <t>/inputs/kernel (F_k, dim)                 tiers.k.input.weight (dim, F_k)     transposed
//   <t>/rnn/layer_l/cell/kernel (in, G dim)      tiers.k.rnn<l>.weight_ih (G dim, in) transposed;
//   <t>/rnn/layer_l/cell/recurrent_kernel        tiers.k.rnn<l>.weight_hh             GRU gates z, r, h
//                                                                                     become r, z, n
//   GRU bias (2, 3 dim): input, recurrent        bias_ih, bias_hh
//   LSTM bias (4 dim), gates i, f, c, o          bias_ih; bias_hh zero
//   <t>/rnn/layer_l_skip_out/kernel, bias        tiers.k.skip<l>.weight (transposed), skip0.bias
//   <t>/upsample (r, dim_out, dim_in)            tiers.k.upsample.weight (dim_in, r, dim_out)
//   sample_mlp/embedding/embeddings (q, q)       sample.embedding.weight (q, q)
//   sample_mlp/inputs/kernel (F_1, q, dim)       sample.input.weight (q, F_1, dim)
//   sample_mlp/hidden1, hidden2, outputs         sample.hidden1, hidden2, output (transposed)
//
// The model is read off the shapes (frame sizes, dim, layers, GRU or LSTM, skip_conn, q) and
// checked against PRiSM's config JSON; q_type, seq_len and rnn_dropout come from the JSON
// (mu-law, or PRiSM's linear quantiser as q_type prism-linear). Adam's moments m and v,
// mapped as their variables are, become optim.<weight>.exp_avg and .exp_avg_sq, with its
// iteration count as the step, so that `train --resume_from` continues PRiSM's optimiser
// (samplernn's default Adam is Keras's). The sample rate is not in the checkpoint: the caller
// gives it.
//
// Errors: Error(kInput) for a checkpoint that is not PRiSM's or that samplernn cannot
// represent (the sample tier of PRiSM before 2020-10-23: one hidden layer; partitioned
// variables; a missing or truncated data shard, from TfBundle); Error(kConfig) naming every
// key where the JSON disagrees with the checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checkpoint-info.h"
#include "core/safetensors.h"
#include "core/tf-bundle.h"

namespace srnn {

struct PrismImport {
  ModelConfig config;
  int epoch = 0;                   // from the prefix's model.ckpt-<epoch>, else 0
  std::int64_t iterations = 0;     // Adam's step count; 0 without moments
  bool has_moments = false;
  std::vector<std::string> notes;  // one line each: what was read, what differs from PRiSM
  TensorFile file;                 // a samplernn checkpoint, ready for save_safetensors
};

// `prism_config`: PRiSM's *.config.json, parsed.
PrismImport import_prism(const TfBundle& bundle, const nlohmann::json& prism_config, int sample_rate_hz);

// The model a PRiSM checkpoint holds, from its tensor shapes alone: q_type mu-law for 256
// levels, else linear; seq_len and rnn_dropout at their defaults. Not yet validated: the
// JSON's seq_len may be what makes it valid.
ModelConfig prism_config_from_shapes(const TfBundle& bundle);

}  // namespace srnn
