// Thread helpers.
//
// parallel_for runs fn(i) for i in [0, n) on up to n_threads threads (the caller's thread is
// one of them), handing out indices one at a time, so uneven items balance themselves. fn
// must not throw: report per-item failures through your own result slots.
//
//   std::vector<Result> results(files.size());
//   srnn::parallel_for(files.size(), 2, [&](size_t i) { results[i] = process(files[i]); });
#pragma once

#include <cstddef>
#include <functional>

namespace srnn {

// Number of hardware threads (at least 1).
int hardware_threads();

void parallel_for(std::size_t n, int n_threads, const std::function<void(std::size_t)>& fn);

}  // namespace srnn
