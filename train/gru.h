// One GRU layer ("reset-after", PyTorch's gate order r, z, n) over a whole sequence, as a
// single autograd function. The input projection and all weight gradients are one large
// GEMM each; only the recurrent products run per time step, through the small-batch kernel
// of infer/kernels.h that streams W_hh once per step. This is what makes training with
// small batches fast on CPU; it computes the same function as torch::gru.
//
//   auto [out, h_n] = srnn::gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh);
//   // x: (B, n, I), h0: (B, H), w_ih: (3H, I), w_hh: (3H, H), b_*: (3H)
//   // out: (B, n, H), h_n: (B, H)
#pragma once

#include <torch/torch.h>

#include <utility>

namespace srnn {

std::pair<torch::Tensor, torch::Tensor> gru_layer(const torch::Tensor& x, const torch::Tensor& h0,
                                                  const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                                                  const torch::Tensor& b_ih, const torch::Tensor& b_hh);

}  // namespace srnn
