// Chunking throughput on one full track of the default corpus (44.1 kHz stereo Ogg Vorbis to
// 16 kHz mono 8 s chunks with 1 s overlap), on one thread, in audio seconds per wall second
// (the "x_realtime" counter). The stages are timed separately to show where the time goes.
//
//   build/bench/bench-chunk [--track FILE] [--benchmark_repetitions=5]
//
// The track defaults to $SRNN_BENCH_TRACK or the Wesnoth "battle-epic.ogg".
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "audio/chunk-file.h"
#include "audio/chunk.h"
#include "audio/decode.h"
#include "audio/resample.h"
#include "core/fs.h"

namespace fs = std::filesystem;

namespace {

std::string g_track = "/usr/share/games/wesnoth/1.16/data/core/music/battle-epic.ogg";

double track_seconds() {
  static const double seconds = [] {
    srnn::AudioInfo info;
    const std::vector<float> x = srnn::load_interleaved(g_track, &info);
    return static_cast<double>(x.size() / info.n_channels) / info.rate_hz;
  }();
  return seconds;
}

void set_realtime(benchmark::State& state) {
  state.counters["x_realtime"] =
      benchmark::Counter(track_seconds() * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// The whole `samplernn chunk` pipeline for one file: decode, mix down, resample, silence
// test, write 16-bit WAV chunks.
void BM_ChunkFile(benchmark::State& state) {
  const fs::path out = fs::temp_directory_path() / ("srnn-bench-chunk-" + std::to_string(::getpid()));
  srnn::ChunkJob job;
  job.output_dir = out;
  job.chunk.overlap_ms = 1000;
  srnn::ensure_directory(out);
  for (auto _ : state) {
    const srnn::ChunkFileResult r = srnn::chunk_file(g_track, "track", job);
    benchmark::DoNotOptimize(r.n_saved);
  }
  fs::remove_all(out);
  set_realtime(state);
}

void BM_DecodeOnly(benchmark::State& state) {
  for (auto _ : state) {
    srnn::AudioInfo info;
    std::vector<float> x = srnn::load_interleaved(g_track, &info);
    benchmark::DoNotOptimize(x.data());
  }
  set_realtime(state);
}

void BM_Resample44kTo16k(benchmark::State& state) {
  srnn::AudioInfo info;
  const std::vector<float> mono = srnn::load_mono(g_track, 0).samples;
  for (auto _ : state) {
    std::vector<float> y = srnn::resample(mono, 44100, 16000);
    benchmark::DoNotOptimize(y.data());
  }
  set_realtime(state);
}

void BM_SilenceTest(benchmark::State& state) {
  const std::vector<float> x = srnn::load_mono(g_track, 16000).samples;
  srnn::ChunkOptions opt;
  opt.overlap_ms = 1000;
  for (auto _ : state) {
    srnn::SilenceDetector det(x, 16000);
    int n = 0;
    for (const auto& c : srnn::plan_chunks(x.size(), 16000, opt)) n += det.has_silent_window(c, opt);
    benchmark::DoNotOptimize(n);
  }
  set_realtime(state);
}

}  // namespace

BENCHMARK(BM_ChunkFile)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DecodeOnly)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Resample44kTo16k)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SilenceTest)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  if (const char* env = std::getenv("SRNN_BENCH_TRACK")) g_track = env;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--track") == 0 && i + 1 < argc) {
      g_track = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (!fs::exists(g_track)) {
    std::fprintf(stderr, "error: benchmark track '%s' not found (install wesnoth-1.16-music or pass --track FILE)\n",
                 g_track.c_str());
    return 3;
  }
  benchmark::AddCustomContext("track", g_track);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
