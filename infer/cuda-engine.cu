// The CUDA generation engine (cuda-engine.h). Shapes follow the CPU engine: N sequences,
// matrices row-major (in, out) as unpack_matrix gives them, activations row-major (N, width).
// The current history index t lives on the device (d_t_), so that one captured graph serves
// every top frame: kernels read it, and the last kernel of each sample advances it.
#include "infer/cuda-engine.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <curand_kernel.h>

#include <algorithm>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda/functional>

#include "core/error.h"
#include "core/model-spec.h"

namespace srnn {
namespace {

constexpr int kThreads = 256;      // threads per block of the element-wise kernels
constexpr int kSampleThreads = 256;  // threads per sequence in the sampler

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  if (e == cudaErrorMemoryAllocation) {
    throw Error(ErrorKind::kMemory, std::string("the GPU ran out of memory (") + what + ")",
                "generate fewer sequences at once (--num_seqs), or use a GPU with more memory");
  }
  if (e == cudaErrorInvalidDevice) {
    throw Error(ErrorKind::kUsage, std::string("no CUDA GPU with that index (") + what + ")",
                "nvidia-smi lists the GPUs; --device cuda:N counts from 0");
  }
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    throw Error(ErrorKind::kUsage, std::string("no usable CUDA GPU: ") + cudaGetErrorString(e),
                "use --device cpu, or check the NVIDIA driver (nvidia-smi)");
  }
  throw Error(ErrorKind::kInternal, std::string("CUDA failed in ") + what + ": " + cudaGetErrorString(e));
}

void check(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  if (s == CUBLAS_STATUS_ALLOC_FAILED) check(cudaErrorMemoryAllocation, what);
  throw Error(ErrorKind::kInternal, std::string("cuBLAS failed in ") + what + " (status " +
                                        std::to_string(static_cast<int>(s)) + ")");
}

int blocks_for(std::size_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

// A device allocation of T, freed with its owner.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) { resize(n); }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  void resize(std::size_t n) {
    cudaFree(p_);
    p_ = nullptr;
    n_ = n;
    if (n > 0) check(cudaMalloc(&p_, n * sizeof(T)), "cudaMalloc");
  }
  void upload(const std::vector<T>& v) {
    resize(v.size());
    if (!v.empty()) check(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

struct DeviceMatrix {
  DeviceArray<float> w;  // (K, N) row-major
  int K = 0, N = 0;
  void upload(const PackedMatrix& m) {
    w.upload(unpack_matrix(m));
    K = static_cast<int>(m.K), N = static_cast<int>(m.N);
  }
};

struct DeviceLayer {
  DeviceMatrix w_ih, w_hh;
  DeviceArray<float> b_ih, b_hh;
};

struct DeviceTier {
  int frame_size = 0, ratio = 0;
  DeviceMatrix input, upsample;
  DeviceArray<float> input_b, skip_b;
  std::vector<DeviceLayer> layers;
  std::vector<DeviceMatrix> skip;
  std::vector<DeviceArray<float>> h, c;  // per layer: (N, dim)
  DeviceArray<float> out;                // (N, r * dim)
};

// ---- kernels ----

// frame (N, F): the levels [t - F, t) of each sequence scaled to [-2, 2].
__global__ void frame_input_kernel(const std::int32_t* levels, std::int64_t capacity, const std::int64_t* d_t, int F,
                                   int n, FrameInputScale scale, float* frame) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * F) return;
  const int s = i / F, j = i % F;
  const std::int64_t t = *d_t;
  frame[i] = frame_input(levels[s * capacity + t - F + j], scale);
}

// x (N, dim) += bias + the conditioning vector (t / F) % r of the tier above (when given).
__global__ void add_bias_cond_kernel(float* x, const float* bias, const float* up, int r_up, int F,
                                     const std::int64_t* d_t, int n, int dim) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * dim) return;
  const int s = i / dim, d = i % dim;
  float v = x[i] + bias[d];
  if (up != nullptr) {
    v += up[(s * r_up + conditioning_index(*d_t, F, r_up)) * dim + d];
  }
  x[i] = v;
}

// PyTorch's reset-after GRU: gi = x W_ih, gh = h W_hh (biases added here).
__global__ void gru_kernel(const float* gi, const float* gh, const float* b_ih, const float* b_hh, float* h, int n,
                           int dim) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * dim) return;
  const int s = i / dim, d = i % dim;
  const float* a = gi + s * 3 * dim;
  const float* b = gh + s * 3 * dim;
  const auto x_part = [&](int k) { return a[k * dim + d] + b_ih[k * dim + d]; };
  const auto h_part = [&](int k) { return b[k * dim + d] + b_hh[k * dim + d]; };
  const GruGates<float> g = gru_gates(x_part(kGruReset), h_part(kGruReset), x_part(kGruUpdate), h_part(kGruUpdate),
                                      x_part(kGruNew), h_part(kGruNew));
  h[i] = gru_state(g, h[i]);
}

// LSTM: g = x W_ih + h W_hh (summed by the second product), biases added here.
__global__ void lstm_kernel(const float* g, const float* b_ih, const float* b_hh, float* h, float* c, int n, int dim) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * dim) return;
  const int s = i / dim, d = i % dim;
  const float* a = g + s * 4 * dim;
  auto gate = [&](int k) { return a[k * dim + d] + b_ih[k * dim + d] + b_hh[k * dim + d]; };
  h[i] = lstm_cell(gate(kLstmInput), gate(kLstmForget), gate(kLstmCell), gate(kLstmOutput), c[i]);
}

// y (N, width) = max(y + bias, 0) when relu, else y + bias.
__global__ void bias_kernel(float* y, const float* bias, int n, int width, bool relu) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * width) return;
  const float v = y[i] + bias[i % width];
  y[i] = relu ? fmaxf(v, 0.0f) : v;
}

// x (N, dim) = the conditioning vector t % F_1 of tier 0 + sum_j table[level_{t - F_1 + j} * F_1 + j].
__global__ void gather_kernel(const std::int32_t* levels, std::int64_t capacity, const std::int64_t* d_t, int F1,
                              const float* table, const float* cond, int n, int dim, float* x) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * dim) return;
  const int s = i / dim, d = i % dim;
  const std::int64_t t = *d_t;
  float v = cond[(s * F1 + conditioning_index(t, 1, F1)) * dim + d];
  const std::int32_t* row = levels + s * capacity + t - F1;
  for (int j = 0; j < F1; ++j) v += table[conv_table_row(static_cast<std::int64_t>(row[j]), j, F1) * dim + d];
  x[i] = v;
}

// One block per sequence: draws a level from softmax(logits * inv_temperature) with a Philox
// uniform keyed by (seed, sequence, position), the first level whose cumulative probability
// reaches it (the last level if rounding leaves none), and writes it into the history at t.
__global__ void sample_kernel(const float* logits, int q, const float* inv_temp, unsigned long long seed,
                              const std::int64_t* d_t, const std::int64_t* d_base, std::int32_t* levels,
                              std::int64_t capacity) {
  using Reduce = cub::BlockReduce<float, kSampleThreads>;  // the maximum
  using ReduceIndex = cub::BlockReduce<int, kSampleThreads>;
  using Scan = cub::BlockScan<float, kSampleThreads>;
  __shared__ union {
    typename Reduce::TempStorage reduce;
    typename ReduceIndex::TempStorage reduce_index;
    typename Scan::TempStorage scan;
  } tmp;
  __shared__ float shared_max, target, carry;
  __shared__ int chosen;
  const int s = blockIdx.x, tid = threadIdx.x;
  const float* z = logits + static_cast<std::int64_t>(s) * q;
  const float it = inv_temp[s];
  float mx = -INFINITY;
  for (int i = tid; i < q; i += kSampleThreads) mx = fmaxf(mx, z[i]);
  mx = Reduce(tmp.reduce).Reduce(mx, cuda::maximum<>{});
  if (tid == 0) shared_max = mx;
  __syncthreads();
  mx = shared_max;
  // The total by the same tiled scan as the walk below, so that a uniform in (0, 1] always
  // reaches a level: a sum in another order could round above the walk's last value.
  if (tid == 0) carry = 0;
  __syncthreads();
  for (int first = 0; first < q; first += kSampleThreads) {
    const int i = first + tid;
    float inclusive;
    Scan(tmp.scan).InclusiveSum(i < q ? expf((z[i] - mx) * it) : 0.0f, inclusive);
    __syncthreads();  // every thread has its value; the storage and carry are free
    if (tid == kSampleThreads - 1) carry += inclusive;
    __syncthreads();
  }
  const std::int64_t t = *d_t;
  if (tid == 0) {
    curandStatePhilox4_32_10_t rng;
    curand_init(seed, static_cast<unsigned long long>(s), static_cast<unsigned long long>(*d_base + t) * 4, &rng);
    target = curand_uniform(&rng) * carry;  // u in (0, 1]
    carry = 0;
    chosen = q;
  }
  __syncthreads();
  // The cumulative sums, a tile of kSampleThreads levels at a time, until one reaches the target.
  for (int first = 0; first < q; first += kSampleThreads) {
    const int i = first + tid;
    const float p = i < q ? expf((z[i] - mx) * it) : 0.0f;
    float inclusive;
    Scan(tmp.scan).InclusiveSum(p, inclusive);
    inclusive += carry;
    const int candidate = i < q && inclusive >= target ? i : q;
    __syncthreads();  // every thread has read carry, and the scan's storage is free
    const int found = ReduceIndex(tmp.reduce_index).Reduce(candidate, cuda::minimum<>{});
    if (tid == kSampleThreads - 1) carry = inclusive;
    if (tid == 0) chosen = found;
    __syncthreads();
    if (chosen < q) break;
  }
  if (tid == 0) levels[s * capacity + t] = chosen < q ? chosen : q - 1;
}

__global__ void set_t_kernel(std::int64_t* d_t, std::int64_t t) { *d_t = t; }
__global__ void advance_t_kernel(std::int64_t* d_t) { *d_t += 1; }

}  // namespace

struct CudaEngine::Impl {
  const EngineWeights& w;
  int n, dim, q, device;
  std::int64_t capacity;
  struct StreamDeleter {
    void operator()(cudaStream_t s) const { cudaStreamDestroy(s); }
  };
  struct BlasDeleter {
    void operator()(cublasHandle_t h) const { cublasDestroy(h); }
  };
  struct GraphDeleter {
    void operator()(cudaGraphExec_t g) const { cudaGraphExecDestroy(g); }
  };
  DeviceArray<char> workspace;  // cuBLAS's; declared first, so freed after the handle
  std::unique_ptr<CUstream_st, StreamDeleter> stream_owner;
  std::unique_ptr<cublasContext, BlasDeleter> blas_owner;
  std::unique_ptr<CUgraphExec_st, GraphDeleter> period;  // one top frame of sampling, captured on first use
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::vector<DeviceTier> tiers;
  DeviceArray<float> table, hidden1_b, hidden2_b, output_b;
  DeviceMatrix hidden1, hidden2, output;
  DeviceArray<float> frame, x, gi, gh, skip, h1, h2, logits, inv_temp;
  DeviceArray<std::int32_t> levels;  // (N, capacity)
  DeviceArray<std::int64_t> d_t, d_base;
  unsigned long long seed = 0;

  Impl(const EngineWeights& weights, int n_seqs, std::int64_t cap, int dev)
      : w(weights), n(n_seqs), dim(weights.config.dim), q(weights.config.q_levels), device(dev), capacity(cap) {
    check(cudaSetDevice(device), "cudaSetDevice");
    // A blocking stream: the plain cudaMemcpy of the uploads below is ordered before its work.
    check(cudaStreamCreate(&stream), "cudaStreamCreate");
    stream_owner.reset(stream);
    check(cublasCreate(&blas), "cublasCreate");
    blas_owner.reset(blas);
    check(cublasSetStream(blas, stream), "cublasSetStream");
    // A workspace of its own keeps cuBLAS from allocating while a graph is captured.
    workspace.resize(std::size_t{32} << 20);
    check(cublasSetWorkspace(blas, workspace.get(), workspace.size()), "cublasSetWorkspace");
    const ModelConfig& c = w.config;
    const std::size_t N = n, G = gate_count(c.rnn_type);
    for (const FrameTierWeights& tw : w.tiers) {
      DeviceTier& t = tiers.emplace_back();
      t.frame_size = tw.frame_size, t.ratio = tw.ratio;
      t.input.upload(tw.input_t);
      t.input_b.upload(tw.input_b);
      t.upsample.upload(tw.upsample);
      for (const RnnLayerWeights& lw : tw.layers) {
        DeviceLayer& l = t.layers.emplace_back();
        l.w_ih.upload(lw.w_ih_t);
        l.w_hh.upload(lw.w_hh_t);
        l.b_ih.upload(lw.b_ih);
        l.b_hh.upload(lw.b_hh);
      }
      for (const PackedMatrix& m : tw.skip_t) t.skip.emplace_back().upload(m);
      std::vector<float> skip_b = tw.skip_b;
      if (skip_b.empty()) skip_b.assign(dim, 0.0f);
      t.skip_b.upload(skip_b);
      for (std::size_t l = 0; l < tw.layers.size(); ++l) {
        std::vector<float> h(N * dim, 0.0f), cc(N * dim, 0.0f);
        for (std::size_t s = 0; s < N; ++s) {
          for (int d = 0; d < dim; ++d) {
            if (!tw.h0.empty()) h[s * dim + d] = tw.h0[l * dim + d];
            if (!tw.c0.empty()) cc[s * dim + d] = tw.c0[l * dim + d];
          }
        }
        t.h.emplace_back().upload(h);
        t.c.emplace_back().upload(cc);
      }
      t.out.upload(std::vector<float>(N * tw.ratio * dim, 0.0f));
    }
    table.upload(w.table);
    hidden1.upload(w.hidden1_t);
    hidden2.upload(w.hidden2_t);
    output.upload(w.output_t);
    hidden1_b.upload(w.hidden1_b);
    hidden2_b.upload(w.hidden2_b);
    output_b.upload(w.output_b);
    frame.resize(N * c.lookback());
    x.resize(N * dim);
    gi.resize(N * G * dim);
    gh.resize(N * G * dim);
    skip.resize(N * dim);
    h1.resize(N * dim);
    h2.resize(N * dim);
    logits.resize(N * q);
    inv_temp.upload(std::vector<float>(N, 1.0f));
    levels.resize(N * capacity);
    d_t.upload(std::vector<std::int64_t>{0});
    d_base.upload(std::vector<std::int64_t>{0});
    check(cudaDeviceSynchronize(), "the uploads");
  }

  // y (n, m.N) = x (n, m.K) . m, or y += when accumulate. Row-major on both sides: cuBLAS's
  // column-major C = A B with A = m^T (N x K), B = x^T (K x n).
  void mm(const DeviceMatrix& m, const float* in, float* y, bool accumulate = false) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    check(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, m.N, n, m.K, &one, m.w.get(), m.N, in, m.K, &beta, y, m.N),
          "cublasSgemm");
  }

  void step_tier(int k) {
    const ModelConfig& c = w.config;
    DeviceTier& t = tiers[k];
    const int F = t.frame_size;
    const FrameInputScale fs = frame_input_scale(q);
    frame_input_kernel<<<blocks_for(n * F), kThreads, 0, stream>>>(levels.get(), capacity, d_t.get(), F, n, fs,
                                                                   frame.get());
    mm(t.input, frame.get(), x.get());
    const bool top = k + 1 == static_cast<int>(tiers.size());
    add_bias_cond_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(
        x.get(), t.input_b.get(), top ? nullptr : tiers[k + 1].out.get(), top ? 1 : tiers[k + 1].ratio, F, d_t.get(),
        n, dim);
    const float* in = x.get();
    for (std::size_t l = 0; l < t.layers.size(); ++l) {
      DeviceLayer& lw = t.layers[l];
      float* h = t.h[l].get();
      if (c.rnn_type == RnnType::kGru) {
        mm(lw.w_ih, in, gi.get());
        mm(lw.w_hh, h, gh.get());
        gru_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(gi.get(), gh.get(), lw.b_ih.get(), lw.b_hh.get(), h,
                                                                 n, dim);
      } else {
        mm(lw.w_ih, in, gi.get());
        mm(lw.w_hh, h, gi.get(), true);
        lstm_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(gi.get(), lw.b_ih.get(), lw.b_hh.get(), h,
                                                                  t.c[l].get(), n, dim);
      }
      if (c.skip_conn) mm(t.skip[l], h, skip.get(), l > 0);
      in = h;
    }
    if (c.skip_conn) {
      bias_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(skip.get(), t.skip_b.get(), n, dim, false);
      in = skip.get();
    }
    mm(t.upsample, in, t.out.get());
  }

  // Tiers whose frame starts at t, given t modulo the lookback (their schedule's period).
  void step_frames_at(std::int64_t t_mod) {
    for (int k = static_cast<int>(tiers.size()) - 1; k >= 0; --k) {
      if (t_mod % tiers[k].frame_size == 0) step_tier(k);
    }
  }

  void sample_tier() {
    gather_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(levels.get(), capacity, d_t.get(), w.config.frame_sizes[0],
                                                               table.get(), tiers[0].out.get(), n, dim, x.get());
    mm(hidden1, x.get(), h1.get());
    bias_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(h1.get(), hidden1_b.get(), n, dim, true);
    mm(hidden2, h1.get(), h2.get());
    bias_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(h2.get(), hidden2_b.get(), n, dim, true);
    mm(output, h2.get(), logits.get());
    bias_kernel<<<blocks_for(n * q), kThreads, 0, stream>>>(logits.get(), output_b.get(), n, q, false);
  }

  void set_t(std::int64_t t) { set_t_kernel<<<1, 1, 0, stream>>>(d_t.get(), t); }

  // One top frame of samples from a t that is a multiple of the lookback: tiers, sample tier,
  // draw, advance; captured once, then replayed.
  void run_period() {
    if (period == nullptr) capture_period();
    check(cudaGraphLaunch(period.get(), stream), "cudaGraphLaunch");
  }

  void capture_period() {
    // Everything the captured period launches must be loaded before the capture (lazy module
    // loading, cuBLAS's first call): the sample tier and the sampler run once here (they touch
    // only scratch buffers, and the draw at t is redrawn), and the frame tiers' kernels are
    // loaded by asking for their attributes. The frame tiers' cuBLAS GEMMs are not run here;
    // they use the same handle and workspace as the sample tier's, which this call set up.
    sample_tier();
    sample_kernel<<<n, kSampleThreads, 0, stream>>>(logits.get(), q, inv_temp.get(), seed, d_t.get(), d_base.get(),
                                                    levels.get(), capacity);
    for (const void* f : {reinterpret_cast<const void*>(frame_input_kernel),
                          reinterpret_cast<const void*>(add_bias_cond_kernel), reinterpret_cast<const void*>(gru_kernel),
                          reinterpret_cast<const void*>(lstm_kernel), reinterpret_cast<const void*>(advance_t_kernel)}) {
      cudaFuncAttributes attributes;
      check(cudaFuncGetAttributes(&attributes, f), "cudaFuncGetAttributes");
    }
    sync();
    const std::int64_t L = w.config.lookback();
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    try {
      for (std::int64_t i = 0; i < L; ++i) {
        step_frames_at(i);
        sample_tier();
        sample_kernel<<<n, kSampleThreads, 0, stream>>>(logits.get(), q, inv_temp.get(), seed, d_t.get(),
                                                        d_base.get(), levels.get(), capacity);
        advance_t_kernel<<<1, 1, 0, stream>>>(d_t.get());
      }
    } catch (...) {
      cudaStreamEndCapture(stream, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(e, "cudaGraphInstantiate");
    period.reset(exec);
  }

  // Waits for the stream; a failed launch (no code for this GPU, say) is reported here too.
  void sync() {
    check(cudaGetLastError(), "a kernel launch");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }
};

bool cuda_engine_built() { return true; }

bool cuda_engine_available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why != nullptr) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA GPU is present";
    return false;
  }
  return true;
}

CudaEngine::CudaEngine(const EngineWeights& weights, int n_seqs, std::int64_t capacity, int device) {
  std::string why;
  if (!cuda_engine_available(&why)) {
    throw Error(ErrorKind::kUsage, "the CUDA engine found no GPU: " + why, "use --device cpu");
  }
  if (weights.config.lookback() > capacity) {
    throw Error(ErrorKind::kInternal, "CudaEngine: the history must hold at least a lookback");
  }
  impl_ = std::make_unique<Impl>(weights, n_seqs, capacity, device);
}

CudaEngine::~CudaEngine() = default;

void CudaEngine::set_levels(const std::int32_t* const* levels, std::int64_t len) {
  Impl& m = *impl_;
  if (len > m.capacity) throw Error(ErrorKind::kInternal, "CudaEngine::set_levels: more levels than the history holds");
  for (int s = 0; s < m.n; ++s) {
    check(cudaMemcpyAsync(m.levels.get() + s * m.capacity, levels[s], len * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, m.stream),
          "set_levels");
  }
}

void CudaEngine::step_frames(std::int64_t t) {
  Impl& m = *impl_;
  m.set_t(t);
  m.step_frames_at(t % m.w.config.lookback());
  m.sync();
}

void CudaEngine::sample_logits(std::int64_t t, float* logits) {
  Impl& m = *impl_;
  m.set_t(t);
  m.sample_tier();
  check(cudaMemcpyAsync(logits, m.logits.get(), m.logits.size() * sizeof(float), cudaMemcpyDeviceToHost, m.stream),
        "sample_logits");
  m.sync();
}

namespace {

// The CUDA engine under the generation driver: the history lives on the device, a top frame
// of samples per graph launch.
class CudaBackend : public GenerationBackend {
 public:
  CudaBackend(CudaEngine::Impl& m, std::int64_t capacity) : m_(m), capacity_(capacity) {}

  void load(const std::int32_t* host, std::int64_t from, std::int64_t to) override {
    check(cudaMemcpy2DAsync(m_.levels.get() + from, capacity_ * sizeof(std::int32_t), host + from,
                            capacity_ * sizeof(std::int32_t), (to - from) * sizeof(std::int32_t), m_.n,
                            cudaMemcpyHostToDevice, m_.stream),
          "upload the seed");
  }

  void store(std::int32_t* host, std::int64_t from, std::int64_t to) override {
    check(cudaMemcpy2DAsync(host + from, capacity_ * sizeof(std::int32_t), m_.levels.get() + from,
                            capacity_ * sizeof(std::int32_t), (to - from) * sizeof(std::int32_t), m_.n,
                            cudaMemcpyDeviceToHost, m_.stream),
          "copy the levels back");
    m_.sync();
  }

  void shift(std::int64_t block) override {
    check(cudaMemcpy2DAsync(m_.levels.get(), capacity_ * sizeof(std::int32_t), m_.levels.get() + block,
                            capacity_ * sizeof(std::int32_t), m_.w.config.lookback() * sizeof(std::int32_t), m_.n,
                            cudaMemcpyDeviceToDevice, m_.stream),
          "shift the history");
  }

  void prime(std::int64_t from, std::int64_t to) override {
    const ModelConfig& c = m_.w.config;
    for (std::int64_t t = from; t < to; t += c.frame_sizes[0]) {
      m_.set_t(t);
      m_.step_frames_at(t % c.lookback());
    }
    m_.sync();
  }

  // Whole top frames from `from`; what comes past `to` is drawn and overwritten later, or
  // dropped at the end.
  void sample(std::int64_t from, std::int64_t to, std::int64_t base) override {
    const std::int64_t L = m_.w.config.lookback();
    check(cudaMemcpyAsync(m_.d_base.get(), &base, sizeof base, cudaMemcpyHostToDevice, m_.stream), "set the base");
    m_.set_t(from);
    for (std::int64_t t = from; t < to; t += L) m_.run_period();
  }

 private:
  CudaEngine::Impl& m_;
  std::int64_t capacity_;
};

}  // namespace

std::vector<std::vector<std::int32_t>> generate_cuda(const EngineWeights& w, const GenerateRequest& req, int device) {
  const GenerationLayout layout = generation_layout(w.config, req);
  if (req.dc_guard) {
    throw Error(ErrorKind::kUsage, "the DC guard runs on the CPU engine",
                "use --device cpu with --dc_guard, or --dc_guard False on the GPU");
  }
  if (req.top_p < 1) {
    throw Error(ErrorKind::kUsage, "top-p (nucleus) sampling runs on the CPU engine; the CUDA engine draws from the whole softmax",
                "use --device cpu with --top_p, or --top_p 1 on the GPU");
  }
  const int N = layout.n_seqs;
  CudaEngine engine(w, N, layout.capacity, device);
  CudaEngine::Impl& m = *engine.impl_;
  m.seed = req.rng_seed;
  std::vector<float> inv_temp(N);
  for (int s = 0; s < N; ++s) inv_temp[s] = static_cast<float>(1.0 / req.temperatures[s]);
  m.inv_temp.upload(inv_temp);
  CudaBackend backend(m, layout.capacity);
  return run_generation(layout, req, backend);
}

}  // namespace srnn
