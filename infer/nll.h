// Teacher-forced negative log-likelihood on the CPU engine: what `samplernn eval` scores.
//
//   double nats = srnn::teacher_forced_nll(weights, levels);  // per sample
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "infer/weights.h"

namespace srnn {

// Mean negative log-likelihood, in nats per sample, of `levels` under the model, teacher
// forced as in training: lookback samples of q_zero are prepended and every sample of
// `levels` is predicted from those before it.
double teacher_forced_nll(const EngineWeights& weights, const std::vector<std::int32_t>& levels);

// The summed NLL in nats of each sequence, teacher forced as above. Sequences of equal length
// run together in batches of up to kNllBatch on one Engine; batches are shared out over
// n_threads. on_progress, when set, is called (serialised) with the samples scored so far.
std::vector<double> teacher_forced_nll_sums(const EngineWeights& weights,
                                            const std::vector<std::vector<std::int32_t>>& sequences, int n_threads,
                                            const std::function<void(std::int64_t)>& on_progress = {});
constexpr int kNllBatch = 16;

}  // namespace srnn
