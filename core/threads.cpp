#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace srnn {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void parallel_for(std::size_t n, int n_threads, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  const std::size_t n_workers = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, n_threads)));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> workers;
  workers.reserve(n_workers - 1);
  for (std::size_t t = 1; t < n_workers; ++t) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
}

}  // namespace srnn
