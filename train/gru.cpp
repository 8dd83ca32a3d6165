#include "train/gru.h"

#include <cmath>

#include "core/model-spec.h"
#include "infer/kernels.h"

namespace srnn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y (M, N) = x (M, K) . b (K, N) (+ bias), row-major with the given row strides.
template <typename T>
void small_mm(int64_t M, int64_t N, int64_t K, const T* x, const T* b, const T* bias, T* y, bool accumulate) {
  if constexpr (std::is_same_v<T, float>) {
    gemm_small(M, N, K, x, K, b, N, bias, y, N, accumulate);
  } else {
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        T s = (accumulate ? y[m * N + n] : T(0)) + (bias ? bias[n] : T(0));
        for (int64_t k = 0; k < K; ++k) s += x[m * K + k] * b[k * N + n];
        y[m * N + n] = s;
      }
    }
  }
}

class GruFunction : public torch::autograd::Function<GruFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, Tensor x, Tensor h0, Tensor w_ih, Tensor w_hh, Tensor b_ih,
                               Tensor b_hh) {
    const int64_t B = x.size(0), n = x.size(1), I = x.size(2), H = w_hh.size(1);
    // gi: (n, B, 3H), time-major, so each step reads one contiguous block.
    const Tensor gi = torch::addmm(b_ih, x.transpose(0, 1).reshape({n * B, I}), w_ih.t()).view({n, B, 3 * H});
    const Tensor w_hh_t = w_hh.t().contiguous();  // (H, 3H)
    const auto opts = x.options();
    Tensor hs = torch::empty({n + 1, B, H}, opts);  // hs[t]: state before step t
    hs[0].copy_(h0);
    Tensor r = torch::empty({n, B, H}, opts), z = torch::empty({n, B, H}, opts), nn = torch::empty({n, B, H}, opts),
           ghn = torch::empty({n, B, H}, opts);
    Tensor gh = torch::empty({B, 3 * H}, opts);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
      const scalar_t* gi_p = gi.data_ptr<scalar_t>();
      const scalar_t* w = w_hh_t.data_ptr<scalar_t>();
      const scalar_t* bh = b_hh.contiguous().data_ptr<scalar_t>();
      scalar_t* hs_p = hs.data_ptr<scalar_t>();
      scalar_t *r_p = r.data_ptr<scalar_t>(), *z_p = z.data_ptr<scalar_t>(), *n_p = nn.data_ptr<scalar_t>(),
               *g_p = ghn.data_ptr<scalar_t>(), *gh_p = gh.data_ptr<scalar_t>();
      for (int64_t t = 0; t < n; ++t) {
        const scalar_t* hp = hs_p + t * B * H;
        small_mm<scalar_t>(B, 3 * H, H, hp, w, bh, gh_p, false);  // gh = h . W_hh^T + b_hh
        for (int64_t b = 0; b < B; ++b) {
          const scalar_t* gib = gi_p + (t * B + b) * 3 * H;
          const scalar_t* ghb = gh_p + b * 3 * H;
          const int64_t o = (t * B + b) * H;
          for (int64_t j = 0; j < H; ++j) {
            const GruGates<scalar_t> g = gru_gates(gib[kGruReset * H + j], ghb[kGruReset * H + j], gib[kGruUpdate * H + j],
                                                   ghb[kGruUpdate * H + j], gib[kGruNew * H + j], ghb[kGruNew * H + j]);
            r_p[o + j] = g.r;
            z_p[o + j] = g.z;
            n_p[o + j] = g.n;
            g_p[o + j] = ghb[kGruNew * H + j];
            hs_p[o + B * H + j] = gru_state(g, hp[b * H + j]);
          }
        }
      }
    });
    ctx->save_for_backward({x, w_ih, w_hh, hs, r, z, nn, ghn});
    const Tensor out = hs.narrow(0, 1, n).transpose(0, 1).contiguous();  // (B, n, H)
    return {out, hs[n].clone()};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w_ih = saved[1], &w_hh = saved[2], &hs = saved[3], &r = saved[4], &z = saved[5],
                 &nn = saved[6], &ghn = saved[7];
    const int64_t B = x.size(0), n = x.size(1), I = x.size(2), H = w_hh.size(1);
    const auto opts = x.options();
    const Tensor dout = grads[0].defined() ? grads[0].transpose(0, 1).contiguous() : torch::zeros({n, B, H}, opts);
    Tensor dh = grads[1].defined() ? grads[1].clone().contiguous() : torch::zeros({B, H}, opts);
    Tensor dgi = torch::empty({n, B, 3 * H}, opts), dgh = torch::empty({n, B, 3 * H}, opts);
    Tensor dh_prev = torch::empty({B, H}, opts);
    const Tensor w_hh_c = w_hh.contiguous();  // (3H, H): dh += dgh . W_hh
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_backward", [&] {
      const scalar_t *r_p = r.data_ptr<scalar_t>(), *z_p = z.data_ptr<scalar_t>(), *n_p = nn.data_ptr<scalar_t>(),
                     *g_p = ghn.data_ptr<scalar_t>(), *hs_p = hs.data_ptr<scalar_t>(),
                     *do_p = dout.data_ptr<scalar_t>(), *w = w_hh_c.data_ptr<scalar_t>();
      scalar_t *dh_p = dh.data_ptr<scalar_t>(), *dhp_p = dh_prev.data_ptr<scalar_t>(),
               *dgi_p = dgi.data_ptr<scalar_t>(), *dgh_p = dgh.data_ptr<scalar_t>();
      for (int64_t t = n - 1; t >= 0; --t) {
        for (int64_t b = 0; b < B; ++b) {
          const int64_t o = (t * B + b) * H;
          scalar_t* dgib = dgi_p + (t * B + b) * 3 * H;
          scalar_t* dghb = dgh_p + (t * B + b) * 3 * H;
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t d = dh_p[b * H + j] + do_p[o + j];
            const scalar_t zz = z_p[o + j], rr = r_p[o + j], nv = n_p[o + j], hp = hs_p[o + j];
            const scalar_t dn_pre = d * (scalar_t(1) - zz) * (scalar_t(1) - nv * nv);
            const scalar_t dz_pre = d * (hp - nv) * zz * (scalar_t(1) - zz);
            const scalar_t dr_pre = dn_pre * g_p[o + j] * rr * (scalar_t(1) - rr);
            dgib[kGruReset * H + j] = dr_pre;
            dgib[kGruUpdate * H + j] = dz_pre;
            dgib[kGruNew * H + j] = dn_pre;
            dghb[kGruReset * H + j] = dr_pre;
            dghb[kGruUpdate * H + j] = dz_pre;
            dghb[kGruNew * H + j] = dn_pre * rr;
            dhp_p[b * H + j] = d * zz;
          }
        }
        small_mm<scalar_t>(B, H, 3 * H, dgh_p + t * B * 3 * H, w, nullptr, dhp_p, true);
        std::swap(dh_p, dhp_p);
      }
      if (dh_p != dh.data_ptr<scalar_t>()) dh.copy_(dh_prev);
    });
    const Tensor dgh2 = dgh.view({n * B, 3 * H}), dgi2 = dgi.view({n * B, 3 * H});
    const Tensor d_w_hh = dgh2.t().mm(hs.narrow(0, 0, n).reshape({n * B, H}));
    const Tensor d_b_hh = dgh2.sum(0);
    const Tensor x_t = x.transpose(0, 1).reshape({n * B, I});
    const Tensor d_w_ih = dgi2.t().mm(x_t);
    const Tensor d_b_ih = dgi2.sum(0);
    const Tensor dx = dgi2.mm(w_ih).view({n, B, I}).transpose(0, 1);
    return {dx, dh, d_w_ih, d_w_hh, d_b_ih, d_b_hh};
  }
};

}  // namespace

std::pair<Tensor, Tensor> gru_layer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                                    const Tensor& b_ih, const Tensor& b_hh) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const Tensor xc = x.to(w_ih.scalar_type()).contiguous(), hc = h0.to(w_hh.scalar_type()).contiguous();
  if (!x.is_cpu()) {
    // On a GPU, cuDNN's GRU (the same function).
    auto [out, h_n] = torch::gru(xc, hc.unsqueeze(0), {w_ih, w_hh, b_ih, b_hh}, /*has_biases=*/true,
                                 /*num_layers=*/1, /*dropout=*/0.0, /*train=*/torch::GradMode::is_enabled(),
                                 /*bidirectional=*/false, /*batch_first=*/true);
    return {out, h_n.squeeze(0)};
  }
  const auto out = GruFunction::apply(xc, hc, w_ih, w_hh, b_ih, b_hh);
  return {out[0], out[1]};
}

std::tuple<Tensor, Tensor, Tensor> lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                                              const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, bool train) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const torch::ScalarType type = w_hh.scalar_type();
  auto [out, h, c] = torch::lstm(x.to(type), {h0.to(type), c0.to(type)}, {w_ih, w_hh, b_ih, b_hh}, /*has_biases=*/true,
                                 /*num_layers=*/1, /*dropout=*/0.0, train, /*bidirectional=*/false,
                                 /*batch_first=*/true);
  return {out.contiguous(), h, c};  // LibTorch returns a time-major view; the next dropout draws in logical order
}

}  // namespace srnn
