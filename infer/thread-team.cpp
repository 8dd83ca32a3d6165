#include "infer/thread-team.h"

#include <immintrin.h>

namespace srnn {

ThreadTeam::ThreadTeam(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { work(i); });
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadTeam::run(const std::function<void(int, int)>& fn) {
  if (n_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(0, n_);
  while (pending_.load(std::memory_order_acquire) != 0) _mm_pause();
}

void ThreadTeam::work(int index) {
  unsigned seen = 0;
  for (;;) {
    // Spin for a while (a step's next product follows within microseconds), then sleep.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < 200000) {
      _mm_pause();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    (*job_)(index, n_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace srnn
