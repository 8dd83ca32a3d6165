// samplernn generate: PRiSM's generate.py on the torch-free engine, with batching, seeds
// that prime every tier, streaming to stdout and a progress line.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>

#include "audio/quantize.h"
#include "audio/seed.h"
#include "audio/stats.h"
#include "audio/wav-stream.h"
#include "audio/write.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/run-layout.h"
#include "core/naming.h"
#include "core/threads.h"
#include "infer/cuda-engine.h"
#include "infer/engine.h"
#include "infer/kernels.h"
#include "train/train.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

struct GenerateArgs {
  std::string output_path, checkpoint_path, config_file, seed;
  double dur = 3;
  int num_seqs = 1;
  int sample_rate = 0;  // 0: the model's
  std::vector<double> temperature = {0.95};
  double top_p = 1.0;  // 1: plain temperature sampling
  std::string dc_guard = "False";
  long long seed_offset = 0;
  double seed_dur = kDefaultSeedSeconds;
  bool include_seed = false;
  long long rng_seed = -1;
  int num_threads = hardware_threads();
  std::string weights = "fp32";
  std::string device = "cpu";
};

// At most this many sequences at once (each has its own engine state and output).
constexpr int kMaxSequences = 4096;
// The statistics line of a sequence covers at most its first ten minutes, and all
// sequences together keep at most 2^24 samples (64 MB) for them.
constexpr double kStatsSeconds = 600;
constexpr std::int64_t kStatsSamples = std::int64_t{1} << 24;

// Where one sequence goes, and what of it is kept for its statistics line.
struct Output {
  std::unique_ptr<AudioFileWriter> file;  // null when streaming to stdout
  std::string path;
  std::vector<float> head;                // the first samples
  std::int64_t done = 0;
};

// --output_path without ".wav": clip_name() adds "_e=<epoch>..._t=<temp>.wav".
std::string output_stem(std::string path) {
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".wav") == 0) path.resize(path.size() - 4);
  return path;
}

// Fails early, before minutes of generation, when the output cannot be written.
void check_writable_dir(const fs::path& dir) {
  ensure_directory(dir);
  AtomicFile probe(dir / ".samplernn-write-test");
  std::FILE* f = std::fopen(probe.temp_path().c_str(), "wb");
  if (f == nullptr) {
    throw Error(ErrorKind::kIo, "cannot write to '" + dir.string() + "': " + errno_text(errno),
                "choose another --output_path");
  }
  std::fclose(f);
}

enum class GenerateEngine { kCpu, kCuda, kTorch };

// cuda -> 0, cuda:N -> N; Error(kUsage) for any other name but cpu and auto.
int cuda_index(const std::string& device) {
  if (device == "cuda" || device == "auto") return 0;
  if (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.size() < 9 &&
      device.find_first_not_of("0123456789", 5) == std::string::npos) {
    return std::stoi(device.substr(5));
  }
  throw Error(ErrorKind::kUsage, "--device '" + device + "' is not cpu, cuda, cuda:N or auto");
}

// cpu: the CPU engine. cuda[:N]: the CUDA engine where this build has one, else the LibTorch
// model on the GPU. auto: the CUDA engine when a GPU is present, else LibTorch's GPU when it
// sees one, else the CPU engine; with top_p < 1 or the DC guard the CPU engine, the only one
// that samples from a nucleus or guards.
GenerateEngine choose_engine(const std::string& device, bool cpu_only) {
  if (device == "cpu" || (device == "auto" && cpu_only)) return GenerateEngine::kCpu;
  cuda_index(device);  // checks the name
  std::string why;
  const bool available = cuda_engine_available(&why);
  if (device == "auto") {
    if (available) return GenerateEngine::kCuda;
    return torch_cuda_available() ? GenerateEngine::kTorch : GenerateEngine::kCpu;
  }
  if (!cuda_engine_built()) return GenerateEngine::kTorch;
  if (!available) {
    throw Error(ErrorKind::kUsage, "--device " + device + ": no CUDA GPU is available (" + why + ")",
                "use --device cpu, or run on a machine with an NVIDIA GPU and its driver");
  }
  return GenerateEngine::kCuda;
}

// The flags that need no file, checked before any work; a missing GPU fails here too.
GenerateEngine check_generate_args(const GenerateArgs& a) {
  if (!(a.dur > 0 && std::isfinite(a.dur))) throw Error(ErrorKind::kUsage, "--dur must be a positive number of seconds");
  if (a.num_seqs < 1 || a.num_seqs > kMaxSequences) {
    throw Error(ErrorKind::kUsage, "--num_seqs must be in [1, " + std::to_string(kMaxSequences) + "]");
  }
  if (a.sample_rate != 0 && a.sample_rate < 1000) throw Error(ErrorKind::kUsage, "--sample_rate must be at least 1000 Hz");
  if (a.num_threads < 1) throw Error(ErrorKind::kUsage, "--num_threads must be at least 1");
  check_temperatures(a.temperature);
  check_top_p(a.top_p);
  if (a.top_p < 1 && a.device != "cpu" && a.device != "auto") {
    throw Error(ErrorKind::kUsage, "--top_p runs on the CPU engine; --device " + a.device + " draws from the whole softmax",
                "add --device cpu, or leave --top_p at 1 on the GPU");
  }
  const bool dc_guard = parse_prism_bool("--dc_guard", a.dc_guard);
  if (dc_guard && a.device != "cpu" && a.device != "auto") {
    throw Error(ErrorKind::kUsage, "--dc_guard runs on the CPU engine", "add --device cpu, or --dc_guard False on the GPU");
  }
  const GenerateEngine engine = choose_engine(a.device, a.top_p < 1 || dc_guard);
  if (a.output_path == "-" && a.num_seqs != 1) {
    throw Error(ErrorKind::kUsage, "--output_path - streams one sequence; use --num_seqs 1");
  }
  if (a.output_path != "-") {
    const fs::path dir = fs::path(a.output_path).has_parent_path() ? fs::path(a.output_path).parent_path() : ".";
    check_writable_dir(dir);
    if (const int stale = remove_stale_temp_files(dir); stale > 0) {
      log_info("Removed " + std::to_string(stale) + " temporary files left by an interrupted run.");
    }
  }
  return engine;
}

// The checkpoint's weights, checked against --config_file when one is given.
EngineWeights load_checked_weights(const GenerateArgs& a, const fs::path& checkpoint) {
  EngineWeights weights = load_engine_weights(checkpoint, parse_weight_format(a.weights));
  if (!a.config_file.empty()) {
    std::vector<std::string> warnings;
    const std::string diff = config_differences(weights.config, load_model_config(a.config_file, &warnings));
    if (!diff.empty()) {
      throw Error(ErrorKind::kConfig, "--config_file disagrees with the checkpoint (checkpoint != file): " + diff,
                  "drop --config_file: the checkpoint carries its config");
    }
  }
  return weights;
}

// The request the flags ask for, without its sinks; the seed's audio goes to seed_audio.
GenerateRequest make_request(const GenerateArgs& a, const ModelConfig& c, const Quantizer& quantizer, int rate,
                             std::vector<float>& seed_audio) {
  GenerateRequest req;
  req.temperatures = expand_temperatures(a.temperature, a.num_seqs);
  req.top_p = a.top_p;
  req.dc_guard = parse_prism_bool("--dc_guard", a.dc_guard);
  req.sample_rate_hz = rate;
  const double n_samples = a.dur * rate + 0.5;
  if (n_samples < 1) throw Error(ErrorKind::kUsage, "--dur gives no samples at " + std::to_string(rate) + " Hz");
  // Files are WAV, whose sizes are 32-bit; a stream to stdout has no such limit.
  const double limit = a.output_path == "-" ? 9e15 : static_cast<double>(kMaxWavSamples16);
  if (n_samples > limit) {
    throw Error(ErrorKind::kUsage,
                "--dur " + fixed(a.dur, 0) + " s is longer than a WAV file holds (" + fixed(limit / rate / 3600, 1) +
                    " h at " + std::to_string(rate) + " Hz)",
                "generate less, or stream it: --output_path - | another program");
  }
  req.n_samples = static_cast<std::int64_t>(n_samples);
  req.rng_seed = a.rng_seed >= 0 ? static_cast<std::uint64_t>(a.rng_seed) : std::random_device{}();
  req.n_threads = a.num_threads;
  if (a.seed.empty()) return req;
  const SeedAudio seed = load_seed(a.seed, rate, a.seed_offset, a.seed_dur, c.lookback());
  log_info("Priming on " + seed.description + ".");
  seed_audio = seed.samples;
  req.seed_levels.resize(seed_audio.size());
  quantizer.quantize(Span<const float>(seed_audio.data(), seed_audio.size()),
                     Span<std::int32_t>(req.seed_levels.data(), req.seed_levels.size()));
  req.on_priming = [last = std::int64_t{0}](std::int64_t done, std::int64_t total) mutable {
    // A log gets a line per 10%; a terminal sees every update.
    if (!stderr_is_tty() && done - last < total / 10 && done != total) return;
    last = done;
    log_progress("Primed " + std::to_string(done) + "/" + std::to_string(total) + " seed samples (" +
                     fixed(100.0 * done / total, 0) + "%)",
                 done == total);
  };
  return req;
}

// Where the sequences go: each to its file (or the one to stdout), block by block as it is
// generated; only the first minutes of each are kept, for its statistics line.
class ClipSinks {
 public:
  ClipSinks(const GenerateArgs& a, const GenerateRequest& req, const EngineWeights& weights, const Quantizer& quantizer,
            int rate, const std::vector<float>& seed_audio)
      : quantizer_(quantizer), rate_(rate), outputs_(static_cast<std::size_t>(a.num_seqs)) {
    kept_ = static_cast<std::size_t>(std::min<double>({static_cast<double>(req.n_samples), kStatsSeconds * rate,
                                                       std::max<double>(rate, static_cast<double>(kStatsSamples) / a.num_seqs)}));
    if (a.output_path == "-") {
      stream_ = std::make_unique<WavStreamWriter>(stdout, rate);
      if (a.include_seed) stream_->write(seed_audio);
    }
    const std::string stem = output_stem(a.output_path);
    for (int i = 0; i < a.num_seqs; ++i) {
      Output& o = outputs_[static_cast<std::size_t>(i)];
      if (!stream_) {
        o.path = clip_name(stem, weights.info.train.epoch, i, a.num_seqs, req.temperatures[i]);
        o.file = std::make_unique<AudioFileWriter>(o.path, rate);
        if (a.include_seed) o.file->write(seed_audio);
      }
      o.head.reserve(kept_);
    }
  }

  // Sequence i's next n levels (GenerateRequest::on_samples).
  void write(int i, const std::int32_t* levels, std::int64_t n) {
    block_.resize(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) block_[j] = quantizer_.dequantize(levels[j]);
    Output& o = outputs_[static_cast<std::size_t>(i)];
    if (stream_) stream_->write(block_);
    else o.file->write(block_);
    o.head.insert(o.head.end(), block_.begin(), block_.begin() + std::min(block_.size(), kept_ - o.head.size()));
    o.done += n;
  }

  std::int64_t done() const { return outputs_[0].done; }
  bool streaming() const { return stream_ != nullptr; }

  // Closes the files (or the stream), printing each file's name and statistics.
  void finish(std::int64_t n_samples) {
    if (stream_) {
      stream_->finish();
      return;
    }
    for (Output& o : outputs_) {
      o.file->finish();
      std::printf("Generated sample output to %s\n", o.path.c_str());
      std::fflush(stdout);
      std::string what = fs::path(o.path).filename().string();
      if (o.head.size() < static_cast<std::size_t>(n_samples)) what += " (first " + fixed(o.head.size() / double(rate_), 0) + " s)";
      log_clip_stats(what, o.head, rate_);
    }
  }

 private:
  const Quantizer& quantizer_;
  int rate_;
  std::size_t kept_ = 0;
  std::vector<Output> outputs_;
  std::unique_ptr<WavStreamWriter> stream_;
  std::vector<float> block_;
};

// The progress line: at most 4 redraws a second on a terminal, a line per 10% in a log.
std::function<void(std::int64_t)> progress_line(std::int64_t n_samples, int num_seqs, int rate) {
  struct State {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    std::int64_t last_done = 0;
    double last_s = 0;
  };
  auto st = std::make_shared<State>();
  return [st, n_samples, num_seqs, rate](std::int64_t done) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - st->t0).count();
    const bool due = stderr_is_tty() ? s - st->last_s >= 0.25 : done - st->last_done >= n_samples / 10;
    if (done <= st->last_done || (!due && done != n_samples)) return;
    st->last_done = done;
    st->last_s = s;
    const double per_s = s > 0 ? done * static_cast<double>(num_seqs) / s : 0;
    const double eta = done > 0 ? s * (n_samples - done) / done : 0;
    log_progress("Generated " + std::to_string(done) + "/" + std::to_string(n_samples) + " samples x " +
                     std::to_string(num_seqs) + " (" + fixed(100.0 * done / n_samples, 0) + "%), " + fixed(per_s, 0) +
                     " samples/s, " + fixed(per_s / rate, 2) + "x real time, ETA " + fixed(eta, 1) + " s",
                 done == n_samples);
  };
}

int run_generate(const GenerateArgs& a) {
  const fs::path checkpoint = resolve_checkpoint_path(a.checkpoint_path);
  const GenerateEngine engine = check_generate_args(a);
  const EngineWeights weights = load_checked_weights(a, checkpoint);
  const Quantizer quantizer(weights.config.q_type, weights.config.q_levels);
  std::string rate_note;
  const int rate = model_sample_rate(weights.info, a.sample_rate, checkpoint, &rate_note);
  if (!rate_note.empty()) log_warn(rate_note);
  std::vector<float> seed_audio;
  GenerateRequest req = make_request(a, weights.config, quantizer, rate, seed_audio);
  ClipSinks sinks(a, req, weights, quantizer, rate, seed_audio);
  req.on_samples = [&](int i, const std::int32_t* levels, std::int64_t n) { sinks.write(i, levels, n); };
  req.on_progress = progress_line(req.n_samples, a.num_seqs, rate);
  const InterruptScope interrupt;  // Ctrl-C stops after the block in progress
  req.stop = &interrupt_flag();

  const int gpu = engine == GenerateEngine::kCpu ? 0 : cuda_index(a.device);
  std::string how = a.weights + " weights, " + kernel_level_name(kernel_level()) + " kernels, " +
                    std::to_string(std::min(a.num_threads, a.num_seqs)) + " threads";
  if (engine == GenerateEngine::kCuda) how = "the CUDA engine on GPU " + std::to_string(gpu);
  if (engine == GenerateEngine::kTorch) how = "LibTorch on " + a.device;
  if (a.top_p < 1) {
    char top_p[32];
    std::snprintf(top_p, sizeof(top_p), "%g", a.top_p);
    how += std::string(", top_p ") + top_p;
  }
  if (req.dc_guard) how += ", DC guard";
  log_info("Generating " + std::to_string(a.num_seqs) + " x " + fixed(a.dur, 2) + " s from " + checkpoint.string() +
           " (epoch " + std::to_string(weights.info.train.epoch) + ", " + how + ", rng_seed " +
           std::to_string(req.rng_seed) + ")");
  switch (engine) {
    case GenerateEngine::kCpu: generate(weights, req); break;
    case GenerateEngine::kCuda: generate_cuda(weights, req, gpu); break;
    case GenerateEngine::kTorch: generate_on_device(checkpoint, req, a.device); break;
  }
  if (interrupted()) {
    throw Error(ErrorKind::kInterrupted, "interrupted after " + std::to_string(sinks.done()) + " of " +
                                             std::to_string(req.n_samples) + " samples" +
                                             (sinks.streaming() ? "; the stream ends there" : "; no file was written"));
  }
  sinks.finish(req.n_samples);
  if (!sinks.streaming()) log_corpus_stats(weights.info.corpus_stats);
  return 0;
}

}  // namespace

CommandRunner add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate audio from a checkpoint (PRiSM generate.py flags).");
  cmd->option_defaults()->always_capture_default();
  add_flag_option(*cmd, "output_path", a->output_path,
                  "Output WAV; files are named <stem>_e=<epoch>(<i>)_t=<temp>.wav; '-' streams to stdout")->required();
  add_flag_option(*cmd, "checkpoint_path", a->checkpoint_path,
                  "Checkpoint file (model.ckpt-<epoch>), or a run or id folder: its best clip score (samplernn rank), "
                  "else its latest checkpoint")
      ->required();
  add_flag_option(*cmd, "config_file", a->config_file, "Optional; must agree with the checkpoint's config");
  add_flag_option(*cmd, "dur", a->dur, "Seconds of audio per sequence");
  add_flag_option(*cmd, "num_seqs", a->num_seqs, "Sequences generated together");
  add_flag_option(*cmd, "sample_rate", a->sample_rate,
                  "Sample rate of the output (Hz); 0: the model's. Another rate than the model's is an error");
  add_flag_option(*cmd, "temperature", a->temperature, "Sampling temperature(s), one per sequence; the last repeats");
  add_flag_option(*cmd, "top_p", a->top_p,
                  "Nucleus sampling: draw only from the most likely levels that hold this much of the probability, "
                  "in (0, 1]; 1: plain temperature sampling. CPU engine only");
  add_flag_option(*cmd, "dc_guard", a->dc_guard,
                  "Guard against DC drift inside the sampling loop: where the output's running mean (0.5 s) strays "
                  "beyond 0.002, tilt each draw against it. CPU engine only");
  add_flag_option(*cmd, "seed", a->seed, "Audio that primes every tier before generating (resampled if needed)");
  add_flag_option(*cmd, "seed_offset", a->seed_offset, "First sample of the seed to use (at the model's rate)");
  add_flag_option(*cmd, "seed_dur", a->seed_dur, "Seconds of the seed that prime the tiers");
  cmd->add_flag("--include_seed,--include-seed", a->include_seed, "Start the output with the seed audio");
  add_flag_option(*cmd, "rng_seed", a->rng_seed, "Seed of the sampling generator (-1: random); same seed, same audio");
  add_flag_option(*cmd, "num_threads", a->num_threads, "Threads; sequences are shared out between them");
  add_flag_option(*cmd, "device", a->device,
                  "cpu: the fast CPU engine; cuda or cuda:N: the CUDA engine on that GPU; auto: a GPU if there is one");
  add_flag_option(*cmd, "weights", a->weights,
                  "fp32; bf16: weights stored as bfloat16 (half the memory traffic; arithmetic stays fp32); "
                  "int8: the matrices and their inputs as int8, with a scale per output (a quarter of the traffic; the frame inputs stay bf16)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  return [a]() { return run_generate(*a); };
}

}  // namespace srnn
