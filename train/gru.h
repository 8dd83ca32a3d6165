// One GRU layer ("reset-after", PyTorch's gate order r, z, n) over a whole sequence, as a
// single autograd function. The input projection and all weight gradients are one large
// GEMM each; only the recurrent products run per time step, through the small-batch kernel
// of infer/kernels.h that streams W_hh once per step. This is what makes training with
// small batches fast on CPU; it computes the same function as torch::gru.
//
//   auto [out, h_n] = srnn::gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh);
//   // x: (B, n, I), h0: (B, H), w_ih: (3H, I), w_hh: (3H, H), b_*: (3H)
//   // out: (B, n, H), h_n: (B, H)
//
// Both RNN layers run outside autocast, in the parameters' precision (fp32), on every device
// and under every --precision: LibTorch's CPU autocast would send oneDNN's LSTM into bf16 and
// its CUDA autocast sends cuDNN's RNNs into fp16 (even under bf16, without loss scaling), and
// the state they carry from window to window would come back in that type.
#pragma once

#include <torch/torch.h>

#include <tuple>
#include <utility>

namespace srnn {

std::pair<torch::Tensor, torch::Tensor> gru_layer(const torch::Tensor& x, const torch::Tensor& h0,
                                                  const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                                                  const torch::Tensor& b_ih, const torch::Tensor& b_hh);

// One LSTM layer (gates i, f, g, o) through torch::lstm, batch first: x (B, n, I), h0 and c0
// (1, B, H); returns out (B, n, H), contiguous, h_n and c_n (1, B, H).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> lstm_layer(const torch::Tensor& x, const torch::Tensor& h0,
                                                                   const torch::Tensor& c0, const torch::Tensor& w_ih,
                                                                   const torch::Tensor& w_hh, const torch::Tensor& b_ih,
                                                                   const torch::Tensor& b_hh, bool train);

}  // namespace srnn
