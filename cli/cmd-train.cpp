// samplernn train: PRiSM's train.py flags, names and defaults.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/launch.h"
#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "train/dataset.h"
#include "train/train.h"

namespace srnn {
namespace {

// The fine-tuning recipe's defaults (docs/benchmarks.md, "Fine-tuning on one album").
constexpr double kFineTuneLearningRate = 1e-3;
constexpr std::int64_t kFineTuneWarmupSteps = 200;
constexpr const char* kFineTuneAugment = "polarity,gain";
constexpr double kFineTuneMinutes = 20;

struct TrainArgs {
  TrainOptions o;
  std::string verbose = "True", resume = "True", generate = "True";
  std::string max_checkpoints = "5", reduce_lr_after = "None";
  std::string prune_sample_tier = "False";
  std::string dc_guard = "False";
  std::string config_file = "./default.config.json";
  std::string data_dir, logdir_root = "./logdir", output_dir = "./generated", resume_from, seed;
  int num_val_batches = 1;
  LaunchOptions launch;
};


// The data, the run folders and how long to train.
void add_run_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "id", a.o.id, "Id of the training session; runs go to <logdir_root>/<id>/");
  add_flag_option(app, "data_dir", a.data_dir, "Folder of training audio (WAV, FLAC, Ogg, Opus, ...; searched recursively)")->required();
  add_flag_option(app, "verbose", a.verbose, "True: a line per step; False: redraw one line");
  add_flag_option(app, "batch_size", a.o.batch_size,
                  "Files per mini-batch (0: automatic, " + std::to_string(kSmallSetBatch) +
                      " or all the training files of a smaller set)");
  add_flag_option(app, "logdir_root", a.logdir_root, "Root folder for run folders and checkpoints");
  add_flag_option(app, "config_file", a.config_file,
                  "Model config JSON (PRiSM *.config.json); built-in defaults when the default file is absent");
  add_flag_option(app, "sample_rate", a.o.sample_rate,
                  "Sample rate of the data and the clips (Hz); when not given, the checkpoint's, or for a new model "
                  "the data's")
      ->default_str("the checkpoint's or the data's");
  add_flag_option(app, "num_epochs", a.o.num_epochs, "Epochs to train (counting those of a resumed checkpoint)");
  add_flag_option(app, "val_frac", a.o.val_frac,
                  "Fraction held out for validation: of the files (--val_split files, whole batches) or of each "
                  "track's chunks (--val_split time)");
  add_flag_option(app, "val_split", a.o.val_split,
                  "files: whole files at random, as PRiSM; time: the last --val_frac of each track's chunks "
                  "(<track>_chunk_<n> names), so that one track still has a held-out part")
      ->check(CLI::IsMember({"files", "time"}));
  add_flag_option(app, "augment", a.o.augment,
                  "Augment the training batches: any of polarity, gain (within +-6 dB), pitch (within +-2 "
                  "semitones, by resampling), comma-separated; none for none")
      ->default_str(a.o.augment.empty() ? "none" : a.o.augment);
  add_flag_option(app, "max_minutes", a.o.max_minutes,
                  "Stop with a checkpoint after this many minutes of this run (0: no limit); run again to go on");
  add_flag_option(app, "num_val_batches", a.num_val_batches,
                  "Deprecated in PRiSM and without effect there too; accepted for old command lines (use --val_frac)");
  add_flag_option(app, "rng_seed", a.o.rng_seed, "Seed for initialisation, data order and sampling (-1: random)");
  add_flag_option(app, "max_steps", a.o.max_steps, "Stop with a checkpoint after this many steps in total (0: no limit)");
}

// The optimiser and its learning rate.
void add_optimiser_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "optimizer", a.o.optimizer, "adam, sgd or rmsprop")->check(CLI::IsMember({"adam", "sgd", "rmsprop"}));
  add_flag_option(app, "learning_rate", a.o.learning_rate, "Learning rate");
  add_flag_option(app, "reduce_learning_rate_after", a.reduce_lr_after,
                  "From this epoch on, multiply the learning rate by exp(-0.1) every epoch (None: never)");
  add_flag_option(app, "lr_warmup_steps", a.o.lr_warmup_steps,
                  "Steps over which the learning rate rises from 0 when the run has no optimiser moments (-1: " +
                      std::to_string(kAutoWarmupSteps) + " for a checkpoint of weights only, none for a fresh start; 0: "
                      "never)");
  add_flag_option(app, "lr_half_life_steps", a.o.lr_half_life_steps,
                  "Steps over which the learning rate halves, continuously, counted over all the model's steps "
                  "(a resumed checkpoint's included; 0: never)");
  add_flag_option(app, "momentum", a.o.momentum, "Momentum (sgd and rmsprop)");
  add_flag_option(app, "optimizer_style", a.o.optimizer_style,
                  "keras: Adam and RMSprop as PRiSM's TensorFlow runs them (Adam's epsilon after the bias correction; "
                  "RMSprop with rho 0.9, epsilon inside the square root); torch: LibTorch's")
      ->check(CLI::IsMember({"keras", "torch"}))
      ->capture_default_str();
}

// Checkpoints, resuming and early stopping.
void add_checkpoint_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "monitor", a.o.monitor, "Metric for Best checkpoints and early stopping")
      ->check(CLI::IsMember({"loss", "accuracy", "val_loss", "val_accuracy"}));
  add_flag_option(app, "checkpoint_every", a.o.checkpoint_every, "Epochs between checkpoints");
  add_flag_option(app, "checkpoint_policy", a.o.checkpoint_policy,
                  "Always; Best: only when the monitored metric improved; Clips: every checkpoint, keeping the "
                  "--max_checkpoints best by the clip score of their clips (and the newest)")
      ->check(CLI::IsMember({"Always", "Best", "Clips"}));
  add_flag_option(app, "max_checkpoints", a.max_checkpoints, "Checkpoints kept per run folder (None: all)");
  add_flag_option(app, "resume", a.resume, "Continue from the latest checkpoint of this id, if any");
  add_flag_option(app, "resume_from", a.resume_from,
                  "Checkpoint to continue from (with --resume True): a file, or a run or id folder for its latest");
  add_flag_option(app, "early_stopping_patience", a.o.early_stopping_patience,
                  "Stop after this many epochs without improvement of --monitor");
}

// The clips written after each checkpoint.
void add_clip_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "output_dir", a.output_dir, "Folder for audio generated during training");
  add_flag_option(app, "output_file_dur", a.o.output_file_dur, "Seconds of audio per generated clip");
  add_flag_option(app, "generate", a.generate, "Write clips after every checkpoint");
  add_flag_option(app, "max_generate_per_epoch", a.o.max_generate_per_epoch, "Clips written per checkpoint");
  add_flag_option(app, "temperature", a.o.temperature, "Sampling temperature(s), one per clip; the last repeats");
  add_flag_option(app, "top_p", a.o.top_p, "Top-p (nucleus) of the clips written after each checkpoint; 1: plain temperature sampling");
  add_flag_option(app, "dc_guard", a.dc_guard, "Guard the clips against DC drift inside the sampling loop (generate --dc_guard)");
  add_flag_option(app, "seed", a.seed, "Audio file to prime generated clips with");
  add_flag_option(app, "seed_offset", a.o.seed_offset, "First sample of the seed audio to use (at the model's rate)");
  add_flag_option(app, "seed_dur", a.o.seed_dur, "Seconds of the seed that prime each clip");
}

// Threads, device, precision and data-parallel processes.
void add_compute_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "num_threads", a.o.num_threads, "CPU threads for tensor operations");
  add_flag_option(app, "device", a.o.device, "auto, cpu, cuda or cuda:N (auto: the GPU of the local rank if CUDA is available)");
  add_flag_option(app, "precision", a.o.precision,
                  "auto, fp32, bf16 or fp16 (autocast; fp16 with loss scaling, CUDA only); auto: bf16 on a GPU or a "
                  "CPU with AMX or AVX512-BF16, fp32 elsewhere")
      ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}));
  add_flag_option(app, "nproc", a.launch.n_processes,
                  "Data-parallel worker processes to start on this machine (Gloo; --batch_size is the global batch)")
      ->check(CLI::Range(1, 1024));
  add_flag_option(app, "master_addr", a.launch.master_addr, "With --nproc: the rendezvous address");
  add_flag_option(app, "master_port", a.launch.master_port, "With --nproc: the rendezvous port (0: a free port)")
      ->check(CLI::Range(0, 65535));
  add_flag_option(app, "dist_timeout", a.o.dist_timeout_s,
                  "Distributed runs: seconds to wait for every rank to arrive, and for each collective");
}

// Block pruning for sparse generation.
void add_pruning_flags(CLI::App& app, TrainArgs& a) {
  add_flag_option(app, "sparsity", a.o.sparsity,
                  "Prune this fraction of the blocks of the frame tiers' RNN and upsampling weights (0: none; "
                  "generation then streams only the rest)");
  add_flag_option(app, "sparse_block", a.o.sparse_block, "Pruned block: outputs x inputs (16x4 is the engine's tile)");
  add_flag_option(app, "prune_start", a.o.prune_start, "Step at which pruning starts");
  add_flag_option(app, "prune_end", a.o.prune_end, "Step at which --sparsity is reached (cubic schedule in between)");
  add_flag_option(app, "prune_sample_tier", a.prune_sample_tier, "Prune the sample tier's hidden layers too");
}

// The options the flags give, their PRiSM spellings parsed.
TrainOptions train_options(const TrainArgs& a, const CLI::App& cmd) {
  TrainOptions o = a.o;
  for (const CLI::Option* opt : cmd.get_options()) {
    if (opt->count() > 0 && opt->nonpositional()) o.given.insert(opt->get_single_name());
  }
  if (o.given.count("num_val_batches") > 0) {
    log_warn("--num_val_batches is deprecated (as in PRiSM) and has no effect; the validation split is --val_frac " +
             fixed(o.val_frac, 3));
  }
  o.verbose = parse_prism_bool("--verbose", a.verbose);
  o.resume = parse_prism_bool("--resume", a.resume);
  o.generate = parse_prism_bool("--generate", a.generate);
  o.prune_sample_tier = parse_prism_bool("--prune_sample_tier", a.prune_sample_tier);
  o.dc_guard = parse_prism_bool("--dc_guard", a.dc_guard);
  o.max_checkpoints = parse_positive_or_none("--max_checkpoints", a.max_checkpoints);
  o.reduce_learning_rate_after = parse_positive_or_none("--reduce_learning_rate_after", a.reduce_lr_after);
  o.config_file = a.config_file;
  o.config_file_given = o.given.count("config_file") > 0;
  o.data_dir = a.data_dir;
  o.logdir_root = a.logdir_root;
  o.output_dir = a.output_dir;
  o.resume_from = a.resume_from;
  o.seed = a.seed;
  if (o.batch_size < 0) throw Error(ErrorKind::kUsage, "--batch_size must be at least 1 (0: automatic)");
  if (o.augment == "none" || o.augment == "None") o.augment.clear();
  return o;
}

// --nproc > 1: starts the worker processes, each of which runs this command again.
int launch_training(const TrainArgs& a, const TrainOptions& o) {
  if (std::getenv("WORLD_SIZE") != nullptr) {
    throw Error(ErrorKind::kUsage, "--nproc cannot be used inside a distributed launch (WORLD_SIZE is set)",
                "drop --nproc, or unset WORLD_SIZE");
  }
  if (o.batch_size % a.launch.n_processes != 0) {
    throw Error(ErrorKind::kUsage,
                "--batch_size " + std::to_string(o.batch_size) + " does not split evenly over --nproc " +
                    std::to_string(a.launch.n_processes),
                "use a multiple of --nproc: --batch_size is the global batch");
  }
  LaunchOptions launch = a.launch;
  // The cores are shared out: one process per core is measured fastest on small machines.
  launch.threads_per_worker =
      o.given.count("num_threads") > 0 ? o.num_threads : std::max(1, hardware_threads() / launch.n_processes);
  return launch_workers(strip_launcher_flags(command_line()), launch);
}

}  // namespace

namespace {

void add_all_flags(CLI::App& cmd, TrainArgs& a) {
  cmd.option_defaults()->always_capture_default();
  add_run_flags(cmd, a);
  add_optimiser_flags(cmd, a);
  add_checkpoint_flags(cmd, a);
  add_clip_flags(cmd, a);
  add_compute_flags(cmd, a);
  add_pruning_flags(cmd, a);
}

int run_train_args(const TrainArgs& a, TrainOptions o) {
  if (a.launch.n_processes > 1) return launch_training(a, o);
  // A worker of --nproc takes its share of the cores unless --num_threads was given.
  const char* worker_threads = std::getenv("SRNN_WORKER_THREADS");
  if (o.given.count("num_threads") == 0 && worker_threads != nullptr && std::atoi(worker_threads) > 0) {
    o.num_threads = std::atoi(worker_threads);
  }
  return run_training(o);
}

// The fine-tuning recipe (docs/benchmarks.md, "Fine-tuning on one album"): each default
// with the reason printed at the start of a run.
struct FineTuneDefault {
  const char* flag;
  const char* why;
};
const FineTuneDefault kFineTuneDefaults[] = {
    {"learning_rate", "on a new track, held notes in 10 minutes where 5e-4 took 17 (docs/benchmarks.md, \"Fine-tuning on one album\")"},
    {"lr_warmup_steps", "fresh Adam moments on trained weights"},
    {"batch_size", "automatic: batches of up to 16 files, every chunk in every epoch"},
    {"augment", "a few tracks are little data (not yet measured against none)"},
    {"val_split", "one track still has a held-out part: the last 10% of each track"},
    {"checkpoint_policy", "the loss keeps falling while the clips swing between tone, noise and DC"},
    {"precision", "bf16 where the CPU computes it natively"},
    {"max_minutes", "one new track's clips held notes within 10 minutes in the study; run again for more"},
    {"optimizer_style", "LibTorch's Adam trained the shipped base"},
};

}  // namespace

CommandRunner add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  // Measured on a 2-core VM: 2 threads train the small config 1.6-2x faster than 1.
  a->o.num_threads = hardware_threads();
  a->o.precision = "auto";
  CLI::App* cmd = app.add_subcommand("train", "Train a SampleRNN model (PRiSM train.py flags).");
  add_all_flags(*cmd, *a);
  return [a, cmd]() { return run_train_args(*a, train_options(*a, *cmd)); };
}

CommandRunner add_finetune_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  TrainOptions& o = a->o;
  o.num_threads = hardware_threads();
  o.id = "finetune";
  o.batch_size = 0;
  o.learning_rate = kFineTuneLearningRate;
  o.lr_warmup_steps = kFineTuneWarmupSteps;
  o.augment = kFineTuneAugment;
  o.val_split = "time";
  o.val_frac = 0.1;
  o.checkpoint_policy = "Clips";
  a->max_checkpoints = "3";
  o.early_stopping_patience = 0;
  o.num_epochs = 100000;
  o.max_minutes = kFineTuneMinutes;
  o.max_generate_per_epoch = 4;
  o.output_file_dur = 4;
  o.precision = "auto";
  o.optimizer_style = "torch";
  CLI::App* cmd = app.add_subcommand(
      "finetune",
      "Continue a trained model on your own tracks (chunked with `samplernn chunk`): the train command with the "
      "fine-tuning recipe's defaults; the checkpoint kept and used is the one whose clips score best.");
  auto base = std::make_shared<std::string>();
  add_flag_option(*cmd, "base", *base, "The model to start from: a checkpoint or export (a file), or a run or id folder")
      ->required();
  add_all_flags(*cmd, *a);
  return [a, cmd, base]() {
    TrainOptions t = train_options(*a, *cmd);
    if (!t.resume_from.empty()) {
      throw Error(ErrorKind::kUsage, "finetune takes its model from --base, not --resume_from",
                  "drop --resume_from; to continue a fine-tune, run the same command again");
    }
    t.resume_from = *base;
    t.resume = true;
    t.preamble.push_back("Fine-tuning " + *base + " on '" + t.data_dir.string() + "' (id " + t.id +
                         "); the recipe's defaults:");
    for (const FineTuneDefault& d : kFineTuneDefaults) {
      if (t.given.count(d.flag) > 0) continue;
      const CLI::Option* opt = cmd->get_option("--" + std::string(d.flag));
      t.preamble.push_back("  --" + std::string(d.flag) + " " + opt->get_default_str() + ": " + d.why);
    }
    // The recipe's split holds on the new data: not the base's own --val_frac.
    t.given.insert("val_frac");
    return run_train_args(*a, t);
  };
}

bool parse_prism_bool(const std::string& flag, const std::string& value) {
  std::string v;
  for (char c : value) v += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // PRiSM accepts any prefix of TRUE or FALSE.
  if (!v.empty() && std::string("TRUE").rfind(v, 0) == 0) return true;
  if (!v.empty() && std::string("FALSE").rfind(v, 0) == 0) return false;
  if (v == "1" || v == "YES" || v == "ON") return true;
  if (v == "0" || v == "NO" || v == "OFF") return false;
  throw Error(ErrorKind::kUsage, flag + " must be True or False, got '" + value + "'");
}

int parse_positive_or_none(const std::string& flag, const std::string& value) {
  std::string v;
  for (char c : value) v += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (v == "NONE") return 0;
  try {
    std::size_t used = 0;
    const int n = std::stoi(value, &used);
    if (used == value.size() && n >= 1) return n;
  } catch (const std::exception&) {
  }
  throw Error(ErrorKind::kUsage, flag + " must be a positive integer or None, got '" + value + "'");
}

}  // namespace srnn
