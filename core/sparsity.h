// Block-sparse pruning, torch-free, shared by training (train/pruning.h applies it to the
// model) and the generation benchmark (which prunes random weights to a target pattern).
//
// Gradual magnitude pruning (Zhu & Gupta, 2017): from prune_start to prune_end the target
// sparsity rises as s_f (1 - (1 - progress)^3), fast at first and gently at the end; at each
// mask update the blocks with the smallest L2 norms are zeroed until the target is reached.
//
//   srnn::BlockShape b = srnn::parse_block_shape("16x4");
//   auto mask = srnn::block_mask(w, rows, cols, b, srnn::cubic_sparsity(0.9, step, 1000, 20000));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/model-spec.h"

namespace srnn {

// A block of `out` outputs by `in` inputs of a weight (PyTorch's (out, in) orientation).
// 16x4 matches the engine's tiles exactly; other shapes work, but the engine streams every
// 16 x 4 tile a kept block touches.
struct BlockShape {
  int out = 16, in = 4;
};
// "RxC" (R outputs by C inputs, each 1..256); anything else is a usage Error.
BlockShape parse_block_shape(const std::string& text);
std::string block_shape_name(const BlockShape& b);

// The cubic schedule's sparsity at `step`: 0 up to start, final_sparsity from end on.
double cubic_sparsity(double final_sparsity, std::int64_t step, std::int64_t start, std::int64_t end);

// A 0/1 mask of a weight w (rows, cols) row-major in which `sparsity` of the blocks (those of
// smallest L2 norm; rounded down to whole blocks) are zero. The block is block.out rows by
// block.in columns; with transposed, the weight is stored (in, out) and the block is laid
// over it accordingly. Blocks cut by the edge are scored by what they hold. With
// keep_diagonal, the elements (r, c) with r % cols == c (the diagonal of each gate's square
// block of a recurrent weight) are always kept, as LPCNet keeps them, and left out of the
// blocks' norms: `sparsity` of the blocks are zero but for their diagonal elements.
std::vector<std::uint8_t> block_mask(const float* w, int rows, int cols, BlockShape block, double sparsity,
                                     bool transposed = false, bool keep_diagonal = false);

// What to prune, and when (train --sparsity, --sparse_block, --prune_start, --prune_end,
// --prune_sample_tier).
struct PruneOptions {
  double sparsity = 0;  // final fraction of blocks zeroed; 0: no pruning
  BlockShape block;
  std::int64_t start = 0, end = 0;  // steps
  bool sample_tier = false;         // the sample tier's hidden layers too
};
// "90% of the 16x4 blocks of the frame tiers and the sample tier, rising from step 2000 to
// 20000", for the training log.
std::string describe(const PruneOptions& options);

// The weights pruning touches (model-spec.h, is_prunable), in weight_matrices' order.
std::vector<WeightMatrix> prunable_weights(const ModelConfig& config, bool sample_tier);

}  // namespace srnn
