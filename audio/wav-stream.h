// Writes 16-bit mono PCM WAV to a stream whose length is not known in advance (a pipe to a
// player). The RIFF and data sizes in the header are 0xFFFFFFFF, which readers (libsndfile,
// ffmpeg, sox, aplay) take as "until the end of the stream"; when the stream is a regular
// file, finish() writes the real sizes into the header.
//
//   srnn::WavStreamWriter out(stdout, 16000);
//   out.write(block.data(), block.size());   // as samples are generated
//   out.finish();
//
// Errors: Error(kIo) when the stream refuses a write (e.g. the player quit).
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "core/span.h"

namespace srnn {

// A complete 16-bit mono PCM WAV file in memory (sizes filled in).
std::vector<unsigned char> encode_wav16(Span<const float> samples, int rate_hz);

class WavStreamWriter {
 public:
  WavStreamWriter(std::FILE* out, int rate_hz);
  void write(Span<const float> samples);
  void finish();  // flushes; fills in the sizes when the stream can seek

 private:
  std::FILE* out_;
  int rate_hz_;
  std::uint64_t n_samples_ = 0;
  std::vector<unsigned char> buf_;
};

}  // namespace srnn
