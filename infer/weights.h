// Weights of a checkpoint in the layouts the generation engine reads, with everything that
// can be precomputed done once at load:
// - weight normalisation folded into plain weights (w = g * v / ||v||);
// - every matrix transposed to (in, out) and packed in stripes for gemm_packed;
// - with skip_conn, the first RNN layer's input weight, which PRiSM applies to concat(x, x),
//   folded into one (dim, G * H) matrix: W[:, :dim] + W[:, dim:];
// - the sample tier's embedding and kernel-F_1 convolution multiplied out into the lookup
//   table T[level * F_1 + j] = E[level] . W[:, j, :] (docs/design.md), so a sample costs F_1 row
//   additions instead of a (q * F_1) x dim product.
// This file is the one place where checkpoint layouts become engine layouts.
//
//   srnn::EngineWeights w = srnn::load_engine_weights("logdir/x/run/model.ckpt-9");
#pragma once

#include <filesystem>
#include <vector>

#include "core/checkpoint-info.h"
#include "core/config.h"
#include "core/safetensors.h"
#include "infer/kernels.h"

namespace srnn {

struct RnnLayerWeights {
  PackedMatrix w_ih_t;  // (in, G * H)
  PackedMatrix w_hh_t;  // (H, G * H)
  std::vector<float> b_ih, b_hh;  // (G * H)
};

struct FrameTierWeights {
  int frame_size = 0, ratio = 0;
  PackedMatrix input_t;        // (F_k, dim)
  std::vector<float> input_b;  // (dim)
  std::vector<RnnLayerWeights> layers;
  std::vector<PackedMatrix> skip_t;  // per layer (dim, dim) when skip_conn, else empty
  std::vector<float> skip_b;         // (dim): the first skip projection's bias
  std::vector<float> h0, c0;   // (layers, dim) when learn_h0, else empty
  PackedMatrix upsample;       // (dim, r_k * dim)
};

struct EngineWeights {
  ModelConfig config;
  // How the matrices are stored (biases, the table and states stay float). With int8, the
  // frame inputs stay bf16.
  WeightFormat format = WeightFormat::kF32;
  CheckpointInfo info;
  std::vector<FrameTierWeights> tiers;  // lowest first
  std::vector<float> table;             // (q * F_1, dim)
  PackedMatrix hidden1_t, hidden2_t, output_t;  // (dim, dim), (dim, dim), (dim, q)
  std::vector<float> hidden1_b, hidden2_b, output_b;
};

// Reads and checks a checkpoint (Error(kInput) naming the file and the problem). bf16 halves
// the memory generation streams, int8 quarters it (kernels.h, WeightFormat).
EngineWeights load_engine_weights(const std::filesystem::path& checkpoint, WeightFormat format = WeightFormat::kF32);
// The same from tensors already in memory (tests).
EngineWeights engine_weights_from(const TensorFile& file, const CheckpointInfo& info,
                                  WeightFormat format = WeightFormat::kF32);

// Bytes of matrices one sequence streams per generated sample: each frame tier's matrices once
// per frame, the sample tier's every sample. At one sequence, generation can go no faster
// than the memory bandwidth divided by this (the roofline in docs/benchmarks.md).
double weight_bytes_per_sample(const EngineWeights& weights);

// A packed matrix as plain row-major (K, N) floats, whatever its layout and format (what the
// CUDA engine uploads; sparse and int8 layouts are read back through gemm_packed).
std::vector<float> unpack_matrix(const PackedMatrix& m);

}  // namespace srnn
