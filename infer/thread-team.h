// A fixed team of threads that share one computation at a time, with low dispatch latency
// (workers spin briefly before sleeping), for splitting the columns of one product when a
// generation step has too few sequences to give each thread its own.
//
//   srnn::ThreadTeam team(2);
//   team.run([&](int worker, int n_workers) { /* this worker's share */ });
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace srnn {

class ThreadTeam {
 public:
  explicit ThreadTeam(int n_threads);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return n_; }
  // Calls fn(i, size()) on every member i (0 on the caller's thread); returns when all are done.
  void run(const std::function<void(int, int)>& fn);

 private:
  void work(int index);

  int n_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace srnn
