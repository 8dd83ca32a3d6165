// `samplernn train`: the training workflow of PRiSM's train.py. Torch-free interface, so
// the command line does not compile LibTorch headers.
//
//   srnn::TrainOptions o;  o.id = "aamgen";  o.data_dir = "chunks";
//   int rc = srnn::run_training(o);
//
// Run layout: <logdir_root>/<id>/<DD.MM.YYYY_HH.MM.SS>/ holds model.ckpt-<epoch>
// (safetensors), metrics.jsonl and run.json (config and flags); clips go to
// <output_dir>/<id>/<id>_e=<epoch>_t=<temperature>.wav.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "infer/engine.h"

namespace srnn {

// The warm-up of a run continued from weights alone (--lr_warmup_steps -1; docs/cli.md):
// fresh Adam moments at the full rate move a trained model far from where it was.
constexpr std::int64_t kAutoWarmupSteps = 500;

struct TrainOptions {
  std::string id = "default";
  std::filesystem::path data_dir;
  bool verbose = true;  // a line per step; false redraws one line
  int batch_size = 64;  // 0: automatic (kSmallSetBatch, or all the files of a smaller set)
  std::filesystem::path logdir_root = "./logdir";
  std::filesystem::path config_file = "./default.config.json";
  bool config_file_given = false;  // an explicit --config_file must exist and agree with a resumed checkpoint
  std::filesystem::path output_dir = "./generated";
  int output_file_dur = 3;  // seconds
  int sample_rate = 16000;  // when not given: the checkpoint's, or for a new model the data's
  int num_epochs = 100;
  std::string optimizer = "adam";  // adam | sgd | rmsprop
  std::string optimizer_style = "keras";  // keras (PRiSM's TensorFlow optimisers) | torch (make_optimizer)
  double learning_rate = 0.001;
  int reduce_learning_rate_after = 0;  // 0: never; else lr *= exp(-0.1) every epoch from this one on
  // Steps over which the rate rises linearly from 0 at the start of a run that has no
  // optimiser moments (a fresh start, or a checkpoint of weights only); -1: kAutoWarmupSteps
  // for a checkpoint of weights only and none for a fresh start.
  std::int64_t lr_warmup_steps = -1;
  // Steps over which the learning rate halves, continuously: step k + 1 of the run takes
  // 0.5^(k / lr_half_life_steps) of the rate (0: never).
  std::int64_t lr_half_life_steps = 0;
  double momentum = 0.9;
  std::string monitor = "val_loss";  // loss | accuracy | val_loss | val_accuracy
  int checkpoint_every = 1;
  // Always | Best (the monitored metric improved) | Clips (keep the max_checkpoints best by
  // the clips' score, and the newest, so that the run resumes)
  std::string checkpoint_policy = "Always";
  int max_checkpoints = 5;                   // 0: keep all (PRiSM's None)
  bool resume = true;
  std::filesystem::path resume_from;
  int early_stopping_patience = 3;
  bool generate = true;
  int max_generate_per_epoch = 1;
  std::vector<double> temperature = {0.95};
  double top_p = 1.0;          // nucleus of the clips (GenerateRequest::top_p); 1: plain temperature sampling
  bool dc_guard = false;       // the clips' guard against DC drift (GenerateRequest::dc_guard)
  std::filesystem::path seed;  // audio to prime generation with
  int seed_offset = 0;         // samples
  double seed_dur = 2.0;       // seconds of the seed that prime the clips
  double val_frac = 0.1;
  std::string val_split = "files";  // files | time (train/dataset.h)
  std::string augment;              // "polarity,gain,pitch", any of them; empty: none
  double max_minutes = 0;           // 0: no limit; else stop (with a checkpoint) after this wall-clock time
  std::int64_t rng_seed = -1;  // -1: random (printed, and stored in checkpoints)
  int num_threads = 1;
  std::int64_t max_steps = 0;  // 0: no limit; else stop (with a checkpoint) after this many steps
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  // fp32 | bf16 | fp16 (autocast; fp16 with loss scaling, CUDA only) | auto (bf16 on a GPU
  // or a CPU with bf16 arithmetic, AMX or AVX512-BF16; fp32 elsewhere)
  std::string precision = "fp32";
  int dist_timeout_s = 300;        // distributed runs: rendezvous and collective timeout
  // Block-sparse pruning (train/pruning.h): the final fraction of blocks zeroed (0: none),
  // the block (outputs x inputs), the steps over which the sparsity rises, and whether the
  // sample tier's hidden layers are pruned too.
  double sparsity = 0;
  std::string sparse_block = "16x4";
  std::int64_t prune_start = 2000, prune_end = 20000;
  bool prune_sample_tier = false;
  // Lines logged once the run's checks have passed, before its first step (what `finetune`
  // chose and why), so that bad input still gives one line alone.
  std::vector<std::string> preamble;
  // Flags given on the command line, by name ("batch_size"). A resumed run takes the
  // checkpoint's values for sample_rate, batch_size and val_frac unless they are given.
  std::set<std::string> given;
};

// Runs training; returns the process exit code. Throws srnn::Error for failures.
// Data-parallel when torchrun's variables say so (WORLD_SIZE > 1; train/distributed.h):
// every rank runs this with the same options, and rank 0 alone writes files.
int run_training(const TrainOptions& options);

// The newest checkpoint under <logdir_root>/<id>: the highest epoch in the newest run
// folder that has one. Empty when there is none.
std::filesystem::path find_latest_checkpoint(const std::filesystem::path& logdir_root, const std::string& id);

// True when LibTorch was built with CUDA and sees a GPU.
bool torch_cuda_available();

// Generation with the LibTorch model of a checkpoint on `device` (auto, cpu, cuda or cuda:N):
// what `samplernn generate --device cuda` runs where the build has no CUDA engine. The
// engine's request and contract (generate_torch, train/generate-torch.h): levels stream
// block by block, and a stop ends it after the current block.
std::vector<std::vector<std::int32_t>> generate_on_device(const std::filesystem::path& checkpoint,
                                                          const GenerateRequest& request, const std::string& device);

}  // namespace srnn
