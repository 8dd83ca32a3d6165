// Data-parallel training over PyTorch's c10d collectives: a TCP store for the rendezvous, a
// Gloo process group for the collectives, and on GPUs an NCCL group for the tensors there
// (where LibTorch was built with NCCL, as PyTorch's CUDA wheels are), set up from torchrun's
// environment variables.
//
//   RANK, WORLD_SIZE    this process's rank and the number of processes (default 0 and 1)
//   LOCAL_RANK          its rank on this machine (default RANK)
//   MASTER_ADDR         the host of rank 0, which serves the store (default 127.0.0.1)
//   MASTER_PORT         the store's port (default 29500)
//
//   srnn::DistEnv env = srnn::dist_env_from_environment();
//   srnn::Collective group(env, std::chrono::seconds(300));
//   group.average_gradients(model->parameters());  // after backward, on every rank
//
// Every failure (a port that is taken, a rank that never arrives, a rank that dies during a
// collective, a timeout) becomes srnn::Error(kPeer) naming this rank, the address and what
// to check. Not thread-safe: one thread per process issues the collectives, in the same
// order on every rank.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace srnn {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// Reads the variables above; Error(kUsage) for values that are not numbers or out of range.
DistEnv dist_env_from_environment();

class Collective {
 public:
  // Rank 0 hosts the store on MASTER_ADDR:MASTER_PORT; every rank then joins the Gloo group,
  // and the NCCL group too when `device` is a GPU and has_nccl(). Waits at most `timeout`
  // for all ranks to arrive; the same timeout bounds every collective.
  Collective(const DistEnv& env, std::chrono::milliseconds timeout, torch::Device device = torch::kCPU);
  // Whether this LibTorch has c10d's NCCL group (USE_C10D_NCCL).
  static bool has_nccl();
  ~Collective();
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }

  // Replaces each parameter's gradient by its mean over the ranks. Gradients are flattened
  // into buckets of at most kBucketFloats (set_bucket_floats) and all-reduced one bucket at
  // a time. A parameter without a gradient keeps none (every rank must have the same
  // parameters without one). `sums`, when given, is summed over the ranks in the same
  // collective (in fp32): the step's metrics and stop flag cost no extra round trip.
  void average_gradients(const std::vector<torch::Tensor>& params, std::vector<double>* sums = nullptr);
  static constexpr std::int64_t kBucketFloats = 4 << 20;  // 16 MB of fp32
  void set_bucket_floats(std::int64_t n) { bucket_floats_ = n; }

  // Every rank's `t` concatenated along `dim` in rank order, on every rank (the RNN state
  // of each rank's share of a batch, as one process would hold it for the whole batch).
  torch::Tensor gather_rows(const torch::Tensor& t, int dim);

  // Element-wise sums over the ranks of a few doubles (metrics, stop flags).
  std::vector<double> sum(const std::vector<double>& values);

  // Copies rank 0's tensors into every rank's, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);

  // Rank 0 calls this when it has finished work the others wait for (a checkpoint, clips);
  // the others wait for it without the collective timeout, but fail at once if rank 0 dies.
  void after_rank0(const std::string& key);

  // Rank 0's `value` on every rank (through the store).
  std::string broadcast_string(const std::string& key, const std::string& value);

  // Error(kPeer) on every rank when some rank's `value` differs from rank 0's; `what` names
  // it in the message ("the data listing", "the config").
  void check_agreement(const std::string& what, const std::string& value);

  // Seconds spent inside collectives since construction.
  double comm_seconds() const { return comm_seconds_; }

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& during, const std::exception& e) const;

  DistEnv env_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Impl> impl_;
  double comm_seconds_ = 0;
  std::int64_t bucket_floats_ = kBucketFloats;
};

}  // namespace srnn
