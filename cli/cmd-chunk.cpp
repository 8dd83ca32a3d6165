// samplernn chunk: cut audio files into fixed-length mono chunks for training, dropping the
// silent ones (PRiSM's chunk_audio.py, plus --input_dir, resampling and parallel files).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "audio/chunk-file.h"
#include "audio/decode.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/threads.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

struct ChunkArgs {
  std::string input_file;
  std::string input_dir;
  std::string output_dir;
  int chunk_length_ms = 8000;
  int overlap_ms = 0;
  int sample_rate_hz = 16000;
  double silence_threshold_db = -64.0;
  int silence_min_len_ms = 0;
  std::string format = "wav";
  int num_threads = hardware_threads();
  bool verbose = false;
};

// True when p lies inside dir (p == dir counts as inside).
bool is_under(const fs::path& p, const fs::path& dir) {
  const fs::path rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// After Ctrl-C: one line saying what was written (every chunk written is whole).
void throw_if_interrupted(int n_saved) {
  if (interrupted()) {
    throw Error(ErrorKind::kInterrupted, "interrupted after writing " + std::to_string(n_saved) + " whole chunks",
                "run the same command again to chunk everything");
  }
}

void print_summary(int n_chunks, int n_silent, int n_saved, const std::string& dir) {
  std::printf("%d chunks processed, %d were silent. Saved %d chunks to %s.\n", n_chunks, n_silent, n_saved, dir.c_str());
  std::fflush(stdout);
}

int run_chunk(const ChunkArgs& a) {
  ChunkJob job;
  job.output_dir = a.output_dir;
  job.chunk.chunk_length_ms = a.chunk_length_ms;
  job.chunk.overlap_ms = a.overlap_ms;
  job.chunk.silence_threshold_db = a.silence_threshold_db;
  job.chunk.silence_min_len_ms = a.silence_min_len_ms;
  job.rate_hz = a.sample_rate_hz;
  job.format = parse_audio_format(a.format);
  job.verbose = a.verbose;
  validate(job.chunk);
  if (a.sample_rate_hz < 1000 || a.sample_rate_hz > 384000) {
    throw Error(ErrorKind::kUsage, "--sample_rate must be in [1000, 384000] Hz, got " + std::to_string(a.sample_rate_hz));
  }
  if (a.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
  const InterruptScope interrupt;  // Ctrl-C stops between chunks; no partial chunk is left

  if (!a.input_file.empty()) {
    const std::vector<fs::path> input = {a.input_file};
    const ChunkFileResult r = chunk_files(input, {fs::path(a.input_file).stem().string()}, job, 1, nullptr).front();
    throw_if_interrupted(r.n_saved);
    if (!r.ok) {
      log_error(r.error);
      return r.error_code;
    }
    log_info("Finished chunking " + a.input_file + ".");
    print_summary(r.n_chunks, r.n_silent, r.n_saved, a.output_dir);
    return 0;
  }

  // When the output folder lies inside the input folder, files in it are chunks of an earlier
  // run, not inputs. (When both are the same folder, everything is input.)
  const fs::path out_abs = fs::weakly_canonical(fs::absolute(a.output_dir));
  const fs::path in_abs = fs::weakly_canonical(fs::absolute(a.input_dir));
  const bool skip_output_dir = out_abs != in_abs && is_under(out_abs, in_abs);
  std::size_t n_other = 0;
  const std::vector<fs::path> inputs = list_files_recursive(a.input_dir, [&](const fs::path& p) {
    std::error_code ec;
    if (skip_output_dir && is_under(fs::weakly_canonical(fs::absolute(p), ec), out_abs)) return false;
    if (!has_audio_extension(p)) {
      ++n_other;
      return false;
    }
    return true;
  });
  if (inputs.empty()) {
    throw Error(ErrorKind::kInput, "no audio files found in '" + a.input_dir + "'",
                "samplernn reads .wav .flac .ogg .opus .mp3 .aiff files, searching subfolders too");
  }
  if (n_other > 0) log_info("Skipping " + std::to_string(n_other) + " files that are not audio.");

  const auto t0 = std::chrono::steady_clock::now();
  double audio_seconds = 0.0;
  const auto on_done = [&](const ChunkFileResult& r, std::size_t n_done) {
    if (!r.ok && !interrupted()) log_error(r.error);
    audio_seconds += r.audio_seconds;
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_progress("[" + std::to_string(n_done) + "/" + std::to_string(inputs.size()) + " files] " +
                     fixed(audio_seconds / 3600.0, 2) + " h of audio, " +
                     fixed(wall_s > 0 ? audio_seconds / wall_s : 0.0, 0) + "x real time",
                 n_done == inputs.size());
  };
  const std::vector<ChunkFileResult> results =
      chunk_files(inputs, output_stems(inputs, a.input_dir), job, a.num_threads, on_done);

  int n_chunks = 0, n_silent = 0, n_saved = 0, n_failed = 0, first_error_code = 0;
  for (const ChunkFileResult& r : results) {
    n_chunks += r.n_chunks;
    n_silent += r.n_silent;
    n_saved += r.n_saved;
    if (!r.ok) {
      ++n_failed;
      if (first_error_code == 0) first_error_code = r.error_code;
    }
  }
  throw_if_interrupted(n_saved);
  print_summary(n_chunks, n_silent, n_saved, a.output_dir);
  if (n_failed > 0) {
    log_error(std::to_string(n_failed) + " of " + std::to_string(inputs.size()) +
              " files could not be chunked; see the messages above.");
    return first_error_code;
  }
  return 0;
}

}  // namespace

CommandRunner add_chunk_command(CLI::App& app) {
  auto args = std::make_shared<ChunkArgs>();
  CLI::App* cmd = app.add_subcommand("chunk", "Cut audio into fixed-length mono chunks for training, dropping silent ones.");
  cmd->option_defaults()->always_capture_default();
  auto* file = add_flag_option(*cmd, "input_file", args->input_file, "Audio file to chunk");
  auto* dir = add_flag_option(*cmd, "input_dir", args->input_dir,
                              "Folder to chunk, searched recursively; files are processed in parallel");
  file->excludes(dir);
  dir->excludes(file);
  add_flag_option(*cmd, "output_dir", args->output_dir, "Folder for the chunks (created if needed)")->required();
  add_flag_option(*cmd, "chunk_length", args->chunk_length_ms, "Chunk length in ms");
  add_flag_option(*cmd, "overlap", args->overlap_ms, "Overlap between consecutive chunks in ms");
  add_flag_option(*cmd, "sample_rate", args->sample_rate_hz, "Output sample rate in Hz (audio is mixed to mono)");
  add_flag_option(*cmd, "silence_threshold", args->silence_threshold_db,
                  "A window at or below this RMS (dBFS) counts as silence");
  add_flag_option(*cmd, "silence_min_len", args->silence_min_len_ms,
                  "Window length in ms for the silence test; a chunk with one silent window is dropped "
                  "(0: chunk_length/2)");
  add_flag_option(*cmd, "format", args->format, std::string("Output format: ") + audio_format_names());
  add_flag_option(*cmd, "num_threads", args->num_threads, "Files processed in parallel");
  cmd->add_flag("--verbose", args->verbose, "Print a line per chunk");
  return [args, file, dir]() {
    if (file->count() == 0 && dir->count() == 0) {
      throw Error(ErrorKind::kUsage, "chunk needs --input_file or --input_dir");
    }
    return run_chunk(*args);
  };
}

}  // namespace srnn
