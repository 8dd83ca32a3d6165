#include "train/distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < lo || n > hi) {
    throw Error(ErrorKind::kUsage, std::string("environment variable ") + name + "='" + v + "' is not a number in [" +
                                       std::to_string(lo) + ", " + std::to_string(hi) + "]",
                "set it as torchrun does, or unset it for a single process");
  }
  return static_cast<int>(n);
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// Polls the store counter `key` until it reaches `target` or `timeout` has passed; returns
// its last value. A rank that never comes thus gives an error instead of a hang.
std::int64_t poll_counter(c10d::Store& store, const std::string& key, std::int64_t target,
                          std::chrono::milliseconds timeout) {
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t n = store.add(key, 0);
  while (n < target && std::chrono::steady_clock::now() - t0 <= timeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    n = store.add(key, 0);
  }
  return n;
}

// The first line of a c10d message: they carry C++ backtraces after it.
std::string first_line(const std::string& text) {
  const std::size_t nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, 1 << 16);
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  return e;
}

struct Collective::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // for CUDA tensors
#endif

  // op(group) on the group for tensors where `t` lives: NCCL on a GPU, else Gloo.
  template <typename Op>
  auto on_group_for(const torch::Tensor& t, Op&& op) const {
#ifdef USE_C10D_NCCL
    if (t.is_cuda() && nccl) return op(*nccl);
#endif
    return op(*group);
  }
};

bool Collective::has_nccl() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

Collective::Collective(const DistEnv& env, std::chrono::milliseconds timeout, torch::Device device)
    : env_(env), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string seconds = std::to_string(timeout.count() / 1000);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = env.world_size;
  so.waitWorkers = false;  // arrival is checked below, with a message that counts the ranks
  so.timeout = timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    if (env.rank == 0) {
      throw Error(ErrorKind::kPeer, "rank 0 cannot serve the rendezvous on " + where + ": " + first_line(e.what()),
                  "the port may be taken: choose another with MASTER_PORT or --master_port");
    }
    throw Error(ErrorKind::kPeer,
                "rank " + std::to_string(env.rank) + " could not reach rank 0 at " + where + " within " + seconds +
                    " s: " + first_line(e.what()),
                "start rank 0, and check MASTER_ADDR, MASTER_PORT and the firewall");
  }
  // Every rank counts itself in, then waits until all have.
  std::int64_t arrived = 0;
  try {
    impl_->store->add("srnn/arrived", 1);
    arrived = poll_counter(*impl_->store, "srnn/arrived", env.world_size, timeout);
  } catch (const std::exception& e) {
    fail("the rendezvous", e);
  }
  if (arrived < env.world_size) {
    throw Error(ErrorKind::kPeer,
                "rank " + std::to_string(env.rank) + ": only " + std::to_string(arrived) + " of " +
                    std::to_string(env.world_size) + " ranks arrived at " + where + " within " + seconds + " s",
                "start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, or raise --dist_timeout");
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // Gloo binds to the address the peers will dial: loopback for one machine, else the
    // interface named by GLOO_SOCKET_IFNAME, else the host name's address (as torchrun).
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(env.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 1;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("srnn/gloo", impl_->store);
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    fail("joining the Gloo group", e);
  }
#ifdef USE_C10D_NCCL
  // On GPUs the gradients, the RNN state and the weights go through NCCL (its communicator is
  // made at the first collective, on the tensors' GPU); the few CPU doubles stay on Gloo.
  if (device.is_cuda()) {
    try {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("srnn/nccl", impl_->store);
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, options);
    } catch (const std::exception& e) {
      fail("joining the NCCL group", e);
    }
  }
#else
  (void)device;  // this LibTorch has no NCCL: Gloo carries CUDA tensors too
#endif
}

Collective::~Collective() = default;

void Collective::fail(const std::string& during, const std::exception& e) const {
  throw Error(ErrorKind::kPeer,
              "rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) + " lost contact with " +
                  "the other ranks during " + during + ": " + first_line(e.what()),
              "another rank has stopped or hangs; see its output. Rerun the same command to resume from the "
              "last checkpoint");
}

void Collective::average_gradients(const std::vector<torch::Tensor>& params, std::vector<double>* sums) {
  if (env_.world_size == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard ng;
  // Parameters without a gradient this step (a learned h0 after a batch's first window) keep
  // none, so the optimiser leaves them alone as it does in one process. Every rank steps the
  // same window of the same batch, so every rank has the same list.
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  std::size_t i = 0;
  do {
    // One bucket: gradients [i, j), flattened into one contiguous tensor; the last bucket
    // also carries the sums.
    std::vector<torch::Tensor> flat;
    std::int64_t n = 0;
    std::size_t j = i;
    for (; j < grads.size() && (j == i || n + grads[j].numel() <= bucket_floats_); ++j) {
      flat.push_back(grads[j].reshape({-1}).to(torch::kFloat32));
      n += grads[j].numel();
    }
    const bool last = j == grads.size();
    if (last && sums != nullptr) {
      const std::vector<float> values(sums->begin(), sums->end());
      const auto device = grads.empty() ? torch::Device(torch::kCPU) : grads[0].device();
      flat.push_back(torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat32).device(device)));
    }
    if (flat.empty()) break;
    std::vector<torch::Tensor> bucket = {torch::cat(flat)};
    try {
      impl_->on_group_for(bucket[0], [&](auto& g) { return g.allreduce(bucket); })->wait(timeout_);
    } catch (const std::exception& e) {
      fail("the gradient all-reduce", e);
    }
    bucket[0].div_(env_.world_size);
    std::int64_t offset = 0;
    for (std::size_t k = i; k < j; ++k) {
      grads[k].copy_(bucket[0].narrow(0, offset, grads[k].numel()).view(grads[k].sizes()));
      offset += grads[k].numel();
    }
    if (last && sums != nullptr) {
      const auto n_sums = static_cast<std::int64_t>(sums->size());
      const torch::Tensor s = bucket[0].narrow(0, offset, n_sums).mul(env_.world_size).cpu();
      for (std::size_t k = 0; k < sums->size(); ++k) (*sums)[k] = s[static_cast<std::int64_t>(k)].item<float>();
    }
    i = j;
  } while (i < grads.size());
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

torch::Tensor Collective::gather_rows(const torch::Tensor& t, int dim) {
  if (env_.world_size == 1) return t;
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> input = {t.contiguous()};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < env_.world_size; ++r) output[0].push_back(torch::empty_like(input[0]));
  try {
    impl_->on_group_for(input[0], [&](auto& g) { return g.allgather(output, input); })->wait(timeout_);
  } catch (const std::exception& e) {
    fail("the gathering of the RNN state", e);
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return torch::cat(output[0], dim);
}

std::vector<double> Collective::sum(const std::vector<double>& values) {
  if (env_.world_size == 1) return values;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> t = {torch::tensor(values, torch::kFloat64)};
  try {
    impl_->group->allreduce(t)->wait(timeout_);
  } catch (const std::exception& e) {
    fail("an all-reduce of the step's metrics", e);
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + values.size());
}

void Collective::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (env_.world_size == 1) return;
  torch::NoGradGuard ng;
  for (const torch::Tensor& t : tensors) {
    std::vector<torch::Tensor> one = {t.is_contiguous() ? t : t.contiguous()};
    try {
      impl_->on_group_for(one[0], [&](auto& g) { return g.broadcast(one); })->wait(timeout_);
    } catch (const std::exception& e) {
      fail("the broadcast of rank 0's weights", e);
    }
    if (!t.is_contiguous()) t.copy_(one[0]);
  }
}

void Collective::after_rank0(const std::string& key) {
  if (env_.world_size == 1) return;
  const std::string k = "srnn/after/" + key;
  try {
    if (env_.rank == 0) {
      impl_->store->set(k, bytes("1"));
      // Rank 0 hosts the store: it waits until every other rank has seen the key, so that
      // none is cut off when rank 0 exits next.
      if (poll_counter(*impl_->store, k + "/seen", env_.world_size - 1, timeout_) < env_.world_size - 1) {
        throw Error(ErrorKind::kPeer, "rank 0: not every rank followed after " + key + " within " +
                                          std::to_string(timeout_.count() / 1000) + " s",
                    "another rank has stopped or hangs; see its output");
      }
    } else {
      impl_->store->wait({k}, std::chrono::hours(24 * 365));
      impl_->store->add(k + "/seen", 1);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("a wait for rank 0 (" + key + ")", e);
  }
}

std::string Collective::broadcast_string(const std::string& key, const std::string& value) {
  if (env_.world_size == 1) return value;
  try {
    if (env_.rank == 0) impl_->store->set("srnn/bcast/" + key, bytes(value));
    const std::vector<std::uint8_t> v = impl_->store->get("srnn/bcast/" + key);
    return {v.begin(), v.end()};
  } catch (const std::exception& e) {
    fail("the exchange of " + key, e);
  }
}

void Collective::check_agreement(const std::string& what, const std::string& value) {
  const std::string reference = broadcast_string("agree/" + what, value);
  const double differs = sum({reference == value ? 0.0 : 1.0})[0];
  if (differs > 0) {
    throw Error(ErrorKind::kPeer,
                std::to_string(static_cast<int>(differs)) + " rank(s) see " + what + " differently from rank 0" +
                    (reference == value ? "" : " (this is one of them)"),
                "every rank must be given the same flags and see the same files");
  }
}

}  // namespace srnn
