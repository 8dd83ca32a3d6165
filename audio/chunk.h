// Chunk planning and silence detection, following PRiSM's chunk_audio.py.
//
// - Chunk n (counted from 1) starts at (n - 1) * (chunk_length - overlap) ms and lasts
//   chunk_length ms. Positions in ms become sample indices as floor(ms * rate / 1000).
// - A chunk that reaches the end of the file (its end sample >= the file's length) is not
//   planned, as PRiSM never writes it.
// - A chunk is silent when some window of silence_min_len ms inside it, the windows starting
//   every 1 ms, has an RMS at or below silence_threshold dBFS (pydub's detect_silence, which
//   PRiSM calls). Energies are summed per millisecond once and prefix-summed, so checking all
//   windows of a file costs O(n) rather than a rescan of every window.
//
//   srnn::ChunkOptions opt;  opt.overlap_ms = 1000;
//   srnn::SilenceDetector silence(samples, 16000);
//   for (const srnn::ChunkSpan& c : srnn::plan_chunks(samples.size(), 16000, opt))
//     bool silent = silence.has_silent_window(c, opt);
#pragma once

#include <cstddef>
#include <vector>

#include "core/span.h"

namespace srnn {

struct ChunkOptions {
  int chunk_length_ms = 8000;
  int overlap_ms = 0;
  double silence_threshold_db = -64.0;
  int silence_min_len_ms = 0;  // 0: chunk_length_ms / 2

  int effective_silence_min_len_ms() const {
    return silence_min_len_ms > 0 ? silence_min_len_ms : chunk_length_ms / 2;
  }
};

// Throws Error(kUsage) naming the flag: chunk_length > 0, 0 <= overlap < chunk_length,
// 0 < silence_min_len <= chunk_length.
void validate(const ChunkOptions& options);

struct ChunkSpan {
  int number = 0;           // 1-based, silent chunks included in the count
  long long begin_ms = 0;   // start time in the file
  std::size_t begin = 0;    // first sample
  std::size_t end = 0;      // one past the last sample
};

std::size_t ms_to_sample(long long ms, int rate_hz);

std::vector<ChunkSpan> plan_chunks(std::size_t n_samples, int rate_hz, const ChunkOptions& options);

class SilenceDetector {
 public:
  SilenceDetector(Span<const float> samples, int rate_hz);

  // True when a window of options.effective_silence_min_len_ms() ms, starting at any whole
  // ms inside the chunk and ending inside it, is at or below the threshold.
  bool has_silent_window(const ChunkSpan& chunk, const ChunkOptions& options) const;

  // Mean square of the samples in [begin_ms, end_ms), exact in double precision.
  double mean_square(long long begin_ms, long long end_ms) const;

 private:
  int rate_hz_;
  std::size_t n_samples_;
  std::vector<double> prefix_;  // prefix_[m]: sum of squares of the samples before ms m
};

}  // namespace srnn
