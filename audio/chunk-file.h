// The `samplernn chunk` pipeline: decode each input, mix down to mono, resample, cut into
// chunks (audio/chunk.h), drop the silent ones and write the rest.
//
// Files are processed in parallel, one file per thread; a file that fails is reported in its
// result and the others go on. Input files are never written: an output path that would
// equal an input is refused.
//
//   srnn::ChunkJob job;  job.output_dir = "chunks";  job.rate_hz = 16000;
//   auto results = srnn::chunk_files(inputs, stems, job, 2, on_progress);
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "audio/chunk.h"
#include "audio/write.h"

namespace srnn {

struct ChunkJob {
  std::filesystem::path output_dir;
  ChunkOptions chunk;
  int rate_hz = 16000;
  AudioFormat format;  // 16-bit WAV by default
  bool verbose = false;  // log each chunk, as chunk_audio.py does
};

struct ChunkFileResult {
  std::filesystem::path input;
  int n_chunks = 0;         // chunks processed (written + silent)
  int n_silent = 0;
  int n_saved = 0;
  double audio_seconds = 0; // duration of the input
  bool ok = false;
  std::string error;        // one line, when !ok
  int error_code = 0;       // exit code for the error's kind
};

// Chunks one file into job.output_dir as <stem>_chunk_<n>.<ext>. The caller checks first
// with protect_inputs() that no input would be overwritten. Throws srnn::Error.
ChunkFileResult chunk_file(const std::filesystem::path& input, const std::string& stem, const ChunkJob& job);

// Output stems for a set of inputs: the file stem, or, where two inputs share a stem, the
// path relative to `root` without extension, with '/' replaced by '_'.
std::vector<std::string> output_stems(const std::vector<std::filesystem::path>& inputs,
                                      const std::filesystem::path& root);

// Throws Error(kUsage) naming both inputs when two of them have the same stem (a.wav and
// a.flac; x/a.wav and x_a.wav beside another a.wav): their chunks would overwrite each other.
void refuse_colliding_stems(const std::vector<std::filesystem::path>& inputs, const std::vector<std::string>& stems,
                            const ChunkJob& job);

// Throws Error(kUsage) when an input file sits in job.output_dir under a name this run could
// write (<stem>_chunk_<n>.<ext> for one of `stems`), before anything is written.
void protect_inputs(const std::vector<std::filesystem::path>& inputs, const std::vector<std::string>& stems,
                    const ChunkJob& job);

// Chunks every input on n_threads threads, after refuse_colliding_stems() and
// protect_inputs(); temporary files a killed run left in the output folder are removed. on_done(result, n_done) is called under a lock
// after each file, in completion order. Never throws for a single bad file.
std::vector<ChunkFileResult> chunk_files(
    const std::vector<std::filesystem::path>& inputs, const std::vector<std::string>& stems,
    const ChunkJob& job, int n_threads,
    const std::function<void(const ChunkFileResult&, std::size_t)>& on_done);

}  // namespace srnn
