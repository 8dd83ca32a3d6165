#include "core/sparsity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace srnn {

BlockShape parse_block_shape(const std::string& text) {
  const auto bad = [&] {
    return Error(ErrorKind::kUsage, "--sparse_block '" + text + "' is not RxC",
                 "give outputs x inputs per block, each 1-256, such as 16x4 (the engine's tile) or 8x4");
  };
  const std::size_t x = text.find('x');
  if (x == std::string::npos || x == 0 || x + 1 == text.size()) throw bad();
  const std::string r = text.substr(0, x), c = text.substr(x + 1);
  const auto digits = [](const std::string& s) {
    return s.size() <= 3 && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  if (!digits(r) || !digits(c)) throw bad();
  BlockShape b{std::stoi(r), std::stoi(c)};
  if (b.out < 1 || b.out > 256 || b.in < 1 || b.in > 256) throw bad();
  return b;
}

std::string block_shape_name(const BlockShape& b) { return std::to_string(b.out) + "x" + std::to_string(b.in); }

double cubic_sparsity(double final_sparsity, std::int64_t step, std::int64_t start, std::int64_t end) {
  if (step < start) return 0.0;
  if (step >= end) return final_sparsity;
  const double progress = static_cast<double>(step - start) / static_cast<double>(end - start);
  return final_sparsity * (1.0 - std::pow(1.0 - progress, 3.0));
}

std::vector<std::uint8_t> block_mask(const float* w, int rows, int cols, BlockShape block, double sparsity,
                                     bool transposed, bool keep_diagonal) {
  // The block in the storage's orientation.
  const int br = transposed ? block.in : block.out, bc = transposed ? block.out : block.in;
  const int n_br = (rows + br - 1) / br, n_bc = (cols + bc - 1) / bc;
  std::vector<double> norm(static_cast<std::size_t>(n_br) * n_bc, 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (keep_diagonal && r % cols == c) continue;  // kept anyway: not part of the choice
      const double v = w[static_cast<std::size_t>(r) * cols + c];
      norm[static_cast<std::size_t>(r / br) * n_bc + c / bc] += v * v;
    }
  }
  const std::size_t n_zero = static_cast<std::size_t>(std::floor(std::clamp(sparsity, 0.0, 1.0) * norm.size()));
  std::vector<std::uint8_t> keep_block(norm.size(), 1);
  if (n_zero > 0) {
    std::vector<std::size_t> order(norm.size());
    std::iota(order.begin(), order.end(), 0);
    // Ties (zero blocks of an earlier mask) broken by position, so masks are reproducible.
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_zero - 1), order.end(),
                     [&](std::size_t a, std::size_t b) { return norm[a] != norm[b] ? norm[a] < norm[b] : a < b; });
    for (std::size_t i = 0; i < n_zero; ++i) keep_block[order[i]] = 0;
  }
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const bool diagonal = keep_diagonal && r % cols == c;
      mask[static_cast<std::size_t>(r) * cols + c] =
          diagonal || keep_block[static_cast<std::size_t>(r / br) * n_bc + c / bc] ? 1 : 0;
    }
  }
  return mask;
}

std::string describe(const PruneOptions& o) {
  return std::to_string(static_cast<int>(std::lround(100 * o.sparsity))) + "% of the " + block_shape_name(o.block) +
         " blocks of the frame tiers" + (o.sample_tier ? " and the sample tier" : "") + ", rising from step " +
         std::to_string(o.start) + " to " + std::to_string(o.end);
}

std::vector<WeightMatrix> prunable_weights(const ModelConfig& c, bool sample_tier) {
  std::vector<WeightMatrix> out;
  for (WeightMatrix& m : weight_matrices(c)) {
    if (is_prunable(m, sample_tier)) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace srnn
