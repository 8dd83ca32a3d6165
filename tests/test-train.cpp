// The training workflow through run_training(): checkpoints, resume equivalence,
// continuing on new data, config and data errors, divergence.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "audio/write.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/naming.h"
#include "core/run-layout.h"
#include "core/safetensors.h"
#include "core/sparsity.h"
#include "infer/weights.h"
#include "tests/test-util.h"
#include "train/checkpoint.h"
#include "train/train.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

void write_corpus(const fs::path& dir, int n_files, int rate_hz = 16000, double seconds = 0.5, int salt = 0) {
  fs::create_directories(dir);
  for (int i = 0; i < n_files; ++i) {
    std::vector<float> x = test::sine(200.0 + 37.0 * (i + salt), 0.3, rate_hz, static_cast<std::size_t>(seconds * rate_hz));
    const std::vector<float> n = test::noise(0.05, x.size(), static_cast<std::uint32_t>(i + 100 * salt));
    for (std::size_t j = 0; j < x.size(); ++j) x[j] += n[j];
    write_audio(dir / ("f" + std::to_string(i) + ".wav"), x, rate_hz);
  }
}

void write_config(const fs::path& path, const std::string& extra = "") {
  std::ofstream(path) << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 16, "num_rnn_layers": 2,
    "q_type": "mu-law", "q_levels": 256, "emb_size": 8, "rnn_dropout": 0.1)" + extra + "}";
}

TrainOptions tiny_options(const test::TempDir& dir, const std::string& id) {
  TrainOptions o;
  o.id = id;
  o.data_dir = dir / "data";
  o.batch_size = 4;
  o.val_frac = 0.25;
  o.logdir_root = dir / "logdir";
  o.output_dir = dir / "generated";
  o.config_file = dir / "tiny.config.json";
  o.config_file_given = true;
  o.generate = false;
  o.rng_seed = 7;
  o.num_threads = 1;
  o.verbose = false;
  o.early_stopping_patience = 0;
  return o;
}

TensorFile read_all(const fs::path& p) { return load_safetensors(p); }

// Every tensor of two checkpoints, byte for byte: weights, optimiser moments and step
// counts, the RNG state. Returns how many were compared.
int expect_identical_tensors(const TensorFile& a, const TensorFile& b) {
  int compared = 0;
  for (const auto& [name, t] : a.tensors) {
    if (!b.has(name)) {
      ADD_FAILURE() << name << " is missing from the second checkpoint";
      continue;
    }
    const Tensor& u = b.at(name);
    if (t.bytes == u.bytes && t.shape == u.shape) {
      ++compared;
      continue;
    }
    std::string detail;
    if (t.dtype == DType::kF32 && u.dtype == DType::kF32 && t.shape == u.shape) {
      const std::vector<float> x = t.to_f32(), y = u.to_f32();
      std::size_t at = 0;
      double worst = -1;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (std::fabs(double(x[i]) - y[i]) > worst) worst = std::fabs(double(x[i]) - y[i]), at = i;
      }
      detail = "largest difference " + std::to_string(worst) + " at " + std::to_string(at) + ": " +
               std::to_string(x[at]) + " vs " + std::to_string(y[at]);
    }
    ADD_FAILURE() << name << " differs; " << detail;
  }
  EXPECT_EQ(a.tensors.size(), b.tensors.size());
  return compared;
}

// The epoch rows of a run folder's metrics.jsonl.
std::vector<nlohmann::json> epoch_rows(const fs::path& run_dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["kind"] == "epoch") rows.push_back(j);
  }
  return rows;
}

struct ResumeCase {
  const char* name;
  const char* config;                // extra config keys
  const char* precision = "fp32";
};
void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

class ExactResume : public ::testing::TestWithParam<ResumeCase> {};

// Stops inside a batch (twice, once in each epoch) and resumes with the same options: the
// weights, the Adam moments and the RNG state end bit-identical to an uninterrupted run, and
// the epoch lines cover whole epochs. One thread, so that the arithmetic is reproducible.
TEST_P(ExactResume, StopsInsideABatchChangeNothing) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);  // 8 training files: 2 batches of 31 windows per epoch
  write_config(dir / "tiny.config.json", GetParam().config);

  TrainOptions straight = tiny_options(dir, "straight");
  straight.num_epochs = 2;
  straight.precision = GetParam().precision;
  ASSERT_EQ(run_training(straight), 0);

  TrainOptions resumed = tiny_options(dir, "resumed");
  resumed.num_epochs = 2;
  resumed.precision = GetParam().precision;
  // After 9 windows of epoch 1's second batch, and after 13 windows of epoch 2's first.
  for (std::int64_t stop : {40, 75}) {
    resumed.max_steps = stop;
    ASSERT_EQ(run_training(resumed), 0);
    const CheckpointInfo partial = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "resumed"));
    ASSERT_FALSE(partial.train.epoch_complete);
    ASSERT_GT(partial.train.window, 0) << "the stop should fall inside a batch";
    EXPECT_EQ(partial.train.step, stop);
    resumed.config_file_given = false;  // the checkpoint carries the config
  }
  resumed.max_steps = 0;
  ASSERT_EQ(run_training(resumed), 0);

  const fs::path a = find_latest_checkpoint(dir / "logdir", "straight");
  const fs::path b = find_latest_checkpoint(dir / "logdir", "resumed");
  ASSERT_EQ(b.filename(), "model.ckpt-2");
  const TensorFile fa = read_all(a), fb = read_all(b);
  EXPECT_EQ(fa.metadata.at("step"), fb.metadata.at("step"));
  EXPECT_GT(expect_identical_tensors(fa, fb), 40);  // weights, Adam moments, the RNG
  // An epoch's end carries no RNN state, the resumed run's final checkpoint included; both
  // carry the RNG state that the comparison above covered.
  EXPECT_EQ(fa.tensors.count("train.rnn.0.h0"), 0u);
  EXPECT_EQ(fb.tensors.count("train.rnn.0.h0"), 0u);
  EXPECT_EQ(fa.tensors.count("train.rng_state"), 1u);
  EXPECT_EQ(fb.tensors.count("train.rng_state"), 1u);

  // The epoch line after a resume covers the whole epoch: the same loss as without a stop.
  const nlohmann::json straight_epoch2 = epoch_rows(a.parent_path()).back();
  const nlohmann::json resumed_epoch2 = epoch_rows(b.parent_path()).back();
  EXPECT_EQ(resumed_epoch2["epoch"], 2);
  EXPECT_EQ(straight_epoch2["loss"], resumed_epoch2["loss"]);
  EXPECT_EQ(straight_epoch2["accuracy"], resumed_epoch2["accuracy"]);
  EXPECT_EQ(straight_epoch2["val_loss"], resumed_epoch2["val_loss"]);
}

INSTANTIATE_TEST_SUITE_P(
    Train, ExactResume,
    ::testing::Values(ResumeCase{"GruLearnedH0SkipDropout", R"(, "learn_h0": true, "skip_conn": true)"},
                      ResumeCase{"LstmLearnedH0", R"(, "rnn_type": "lstm", "learn_h0": true)"},
                      // Under autocast the carried state must stay storable and exact.
                      ResumeCase{"LstmBf16", R"(, "rnn_type": "lstm")", "bf16"},
                      ResumeCase{"GruBf16", "", "bf16"}),
    [](const ::testing::TestParamInfo<ResumeCase>& info) { return std::string(info.param.name); });

TEST(Train, CheckpointRoundTripAndContinueOnNewData) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_corpus(dir / "more", 8, 16000, 0.5, 3);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "run");
  o.num_epochs = 1;
  o.max_checkpoints = 0;
  ASSERT_EQ(run_training(o), 0);
  const fs::path ckpt = find_latest_checkpoint(dir / "logdir", "run");
  const CheckpointInfo info = read_checkpoint_info(ckpt);
  EXPECT_EQ(info.train.epoch, 1);
  EXPECT_TRUE(info.train.epoch_complete);
  EXPECT_EQ(info.config.dim, 16);
  EXPECT_EQ(info.config.frame_sizes, (std::vector<int>{4, 16}));
  EXPECT_EQ(info.sample_rate_hz, 16000);
  EXPECT_EQ(info.train.optimizer, "adam");
  EXPECT_TRUE(info.train.metrics.contains("val_loss"));

  // Weights load back into a fresh model unchanged.
  SampleRNN model(info.config);
  load_checkpoint(ckpt, model, nullptr);
  const TensorFile saved = read_all(ckpt);
  for (const auto& item : model->named_parameters()) {
    const std::vector<float> w = saved.at(item.key()).to_f32();
    const torch::Tensor t = item.value().contiguous();
    ASSERT_EQ(static_cast<int64_t>(w.size()), t.numel());
    EXPECT_EQ(std::memcmp(w.data(), t.data_ptr<float>(), w.size() * 4), 0) << item.key();
  }

  // Continue the finished model on another folder: epoch 2 starts from epoch 1's weights.
  TrainOptions more = o;
  more.data_dir = dir / "more";
  more.num_epochs = 2;
  more.config_file_given = false;
  ASSERT_EQ(run_training(more), 0);
  const CheckpointInfo after = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "run"));
  EXPECT_EQ(after.train.epoch, 2);
  // Each folder has 8 files of 0.5 s: a batch of 4 validates, one batch of 4 trains, and a
  // batch gives 8000 / 256 = 31 windows, so each epoch is 31 steps.
  const std::int64_t windows_per_epoch = 8000 / 256;
  EXPECT_EQ(info.train.step, windows_per_epoch);
  EXPECT_EQ(after.train.step, info.train.step + windows_per_epoch);
}

TEST(Train, MaxStepsStopsWithACheckpointThatResumesMidBatch) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "budget");
  o.num_epochs = 1;
  o.max_steps = 40;  // one batch of files is 31 windows
  ASSERT_EQ(run_training(o), 0);
  const fs::path ckpt = find_latest_checkpoint(dir / "logdir", "budget");
  const CheckpointInfo partial = read_checkpoint_info(ckpt);
  EXPECT_FALSE(partial.train.epoch_complete);
  EXPECT_EQ(partial.train.epoch, 1);
  EXPECT_EQ(partial.train.batch, 1);
  EXPECT_EQ(partial.train.window, 9);
  EXPECT_EQ(partial.train.step, 40);
  EXPECT_EQ(partial.train.epoch_steps, 40);
  // The RNN state after window 9 of the second batch: (1, batch, dim) per tier and layer.
  const TensorFile f = read_all(ckpt);
  ASSERT_TRUE(f.has("train.rnn.1.h1"));
  EXPECT_EQ(f.at("train.rnn.1.h1").shape, (std::vector<std::int64_t>{1, 4, 16}));
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo done = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "budget"));
  EXPECT_TRUE(done.train.epoch_complete);
  EXPECT_EQ(done.train.step, 62);  // no window is trained twice
}

// The fraction of 16x4 blocks of a (rows, cols) mask that are all zero.
double zero_blocks(const std::vector<float>& m, int rows, int cols, int br, int bc) {
  int zero = 0, n = 0;
  for (int r0 = 0; r0 < rows; r0 += br) {
    for (int c0 = 0; c0 < cols; c0 += bc) {
      bool all = true;
      for (int r = r0; r < std::min(rows, r0 + br); ++r) {
        for (int c = c0; c < std::min(cols, c0 + bc); ++c) all = all && m[r * cols + c] == 0.0f;
      }
      zero += all;
      ++n;
    }
  }
  return static_cast<double>(zero) / n;
}

TEST(Train, PruningReachesItsSparsityKeepsPrunedWeightsZeroAndResumesWithItsMasks) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json", R"(, "dim": 32)");
  TrainOptions o = tiny_options(dir, "pruned");
  o.num_epochs = 1;
  o.max_steps = 25;
  o.sparsity = 0.75;
  o.prune_start = 0;
  o.prune_end = 20;
  ASSERT_EQ(run_training(o), 0);
  const fs::path first = find_latest_checkpoint(dir / "logdir", "pruned");
  const TensorFile a = read_all(first);
  const ModelConfig c = read_checkpoint_info(first).config;
  const auto weights = prunable_weights(c, false);
  ASSERT_EQ(weights.size(), 2u * (2 * 2 + 1));  // 2 tiers x (2 layers x ih, hh + upsampling)
  for (const WeightMatrix& w : weights) {
    ASSERT_TRUE(a.has("train.mask." + w.name)) << w.name;
    const auto& bytes = a.at("train.mask." + w.name).bytes;
    const std::vector<float> mask(bytes.begin(), bytes.end()), value = a.at(w.name).to_f32();
    ASSERT_EQ(mask.size(), value.size());
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (mask[i] == 0.0f) {
        ASSERT_EQ(value[i], 0.0f) << w.name << " " << i;
      }
    }
    // The target, in whole blocks; the recurrent weights keep their diagonals besides.
    std::vector<float> off_diagonal = mask;
    for (int r = 0; r < w.rows && w.keep_diagonal; ++r) {
      EXPECT_EQ(off_diagonal[r * w.cols + r % w.cols], 1.0f) << w.name;
      off_diagonal[r * w.cols + r % w.cols] = 0.0f;
    }
    const double zero = w.transposed ? zero_blocks(off_diagonal, w.rows, w.cols, 4, 16)
                                     : zero_blocks(off_diagonal, w.rows, w.cols, 16, 4);
    EXPECT_NEAR(zero, 0.75, 0.03) << w.name;
  }
  // The engine finds the zero tiles and packs those matrices sparse.
  const EngineWeights e = load_engine_weights(first);
  EXPECT_TRUE(e.tiers[0].layers[1].w_ih_t.sparse);
  EXPECT_TRUE(e.tiers[1].upsample.sparse);
  EXPECT_FALSE(e.hidden1_t.sparse);  // the sample tier was left alone

  // Resumed: the same masks (the schedule ended at step 20), the weights still zero under them.
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  const TensorFile b = read_all(find_latest_checkpoint(dir / "logdir", "pruned"));
  EXPECT_GT(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "pruned")).train.step, 25);
  for (const WeightMatrix& w : weights) {
    EXPECT_EQ(b.at("train.mask." + w.name).bytes, a.at("train.mask." + w.name).bytes) << w.name;
    const auto& bytes = b.at("train.mask." + w.name).bytes;
    const std::vector<float> mask(bytes.begin(), bytes.end()), value = b.at(w.name).to_f32();
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (mask[i] == 0.0f) {
        ASSERT_EQ(value[i], 0.0f) << w.name << " " << i;
      }
    }
  }
}

TEST(Train, AStopAtTheEndOfABatchDoesNotRedoIt) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "edge");
  o.num_epochs = 1;
  o.max_steps = 31;  // exactly the first batch of files
  ASSERT_EQ(run_training(o), 0);
  const fs::path ckpt = find_latest_checkpoint(dir / "logdir", "edge");
  const CheckpointInfo partial = read_checkpoint_info(ckpt);
  EXPECT_EQ(partial.train.batch, 1);
  EXPECT_EQ(partial.train.window, 0);
  EXPECT_FALSE(read_all(ckpt).has("train.rnn.0.h0"));  // nothing to carry at a batch's end
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "edge")).train.step, 62);
}

TEST(Train, AStopAfterTheLastWindowStillEndsTheEpochOnResume) {
  // Every window of the epoch is done, but its validation, epoch line and checkpoint are
  // not: the resumed run does them without training another step.
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "last");
  o.num_epochs = 1;
  o.max_steps = 62;
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo partial = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "last"));
  EXPECT_FALSE(partial.train.epoch_complete);
  EXPECT_EQ(partial.train.batch, 2);
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  const fs::path ckpt = find_latest_checkpoint(dir / "logdir", "last");
  const CheckpointInfo done = read_checkpoint_info(ckpt);
  EXPECT_TRUE(done.train.epoch_complete);
  EXPECT_EQ(done.train.step, 62);
  EXPECT_TRUE(done.train.metrics.contains("val_loss"));
  const auto rows = epoch_rows(ckpt.parent_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NEAR(rows[0]["loss"].get<double>(), partial.train.loss_sum / 62, 1e-12);
}

TEST(Train, AMidEpochCheckpointContinuedOnOtherDataStartsANewEpoch) {
  // Skipping the checkpoint's done batches only makes sense on the data they came from: on
  // another folder the run starts the next epoch and trains every batch of it.
  test::TempDir dir;
  write_corpus(dir / "data", 16);
  write_corpus(dir / "more", 8, 16000, 0.5, 3);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "mid");
  o.num_epochs = 1;
  o.max_steps = 62;  // two of the three batches of epoch 1
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo partial = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "mid"));
  ASSERT_EQ(partial.train.batch, 2);
  ASSERT_FALSE(partial.train.epoch_complete);
  TrainOptions more = o;
  more.data_dir = dir / "more";  // one training batch of 4 files (31 windows)
  more.num_epochs = 2;
  more.max_steps = 0;
  more.config_file_given = false;
  ASSERT_EQ(run_training(more), 0);
  const CheckpointInfo after = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "mid"));
  EXPECT_EQ(after.train.epoch, 2);
  EXPECT_TRUE(after.train.epoch_complete);
  EXPECT_EQ(after.train.step, 62 + 31);
  EXPECT_GT(after.train.metrics.value("loss", 0.0), 0.0);
  // The run wrote epoch 2 alone: no empty remainder of epoch 1.
  const auto written = checkpoints_in(find_latest_checkpoint(dir / "logdir", "mid").parent_path());
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].first, 2);
}

void expect_error(const TrainOptions& o, ErrorKind kind, const std::string& needle) {
  try {
    run_training(o);
    FAIL() << "no error; expected " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Train, ConfigErrorsNameTheKeyAndRule) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  TrainOptions o = tiny_options(dir, "bad");
  write_config(dir / "tiny.config.json", R"(, "seq_len": 100)");
  expect_error(o, ErrorKind::kConfig, "seq_len");
  write_config(dir / "tiny.config.json", R"(, "frame_sizes": [16, 4])");
  expect_error(o, ErrorKind::kConfig, "ascending");
  write_config(dir / "tiny.config.json", R"(, "frame_sizes": [4, 18], "seq_len": 36)");
  expect_error(o, ErrorKind::kConfig, "divide");
  write_config(dir / "tiny.config.json", R"(, "q_levels": 512)");
  expect_error(o, ErrorKind::kConfig, "q_levels");
  write_config(dir / "tiny.config.json", R"(, "rnn_type": "transformer")");
  expect_error(o, ErrorKind::kConfig, "rnn_type");
  std::ofstream(dir / "tiny.config.json") << "{ not json";
  expect_error(o, ErrorKind::kConfig, "not valid JSON");
  EXPECT_FALSE(fs::exists(dir / "logdir" / "bad"));  // nothing was started
}

TEST(Train, AConfigThatContradictsTheCheckpointIsRefused) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "x");
  o.num_epochs = 1;
  ASSERT_EQ(run_training(o), 0);
  write_config(dir / "tiny.config.json", R"(, "dim": 32)");
  o.num_epochs = 2;
  expect_error(o, ErrorKind::kConfig, "(checkpoint != file): dim: 16 != 32");
}

TEST(Train, AFileAtAnotherSampleRateStopsBeforeTheFirstStep) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_audio(dir / "data" / "odd.wav", test::sine(440, 0.3, 22050, 22050), 22050);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "rate");
  expect_error(o, ErrorKind::kInput, "odd.wav");
  expect_error(o, ErrorKind::kInput, "samplernn chunk");
  EXPECT_FALSE(fs::exists(dir / "logdir" / "rate"));
}

TEST(Train, DivergenceStopsWithAClearMessageAndKeepsTheLastCheckpoint) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "nan");
  o.num_epochs = 1;
  ASSERT_EQ(run_training(o), 0);
  const fs::path good = find_latest_checkpoint(dir / "logdir", "nan");
  const auto good_bytes = fs::file_size(good);
  o.num_epochs = 3;
  o.optimizer = "sgd";
  o.learning_rate = 1e30;
  o.config_file_given = false;
  expect_error(o, ErrorKind::kDiverged, "the last good checkpoint is " + good.string());
  EXPECT_EQ(find_latest_checkpoint(dir / "logdir", "nan"), good);
  EXPECT_EQ(fs::file_size(good), good_bytes);
}

TEST(Train, EarlyStoppingAndBestPolicy) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "early");
  o.num_epochs = 30;
  o.learning_rate = 0.0;  // nothing improves after the first epoch
  o.optimizer = "sgd";
  o.early_stopping_patience = 2;
  o.checkpoint_policy = "Best";
  o.max_checkpoints = 0;
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo info = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "early"));
  EXPECT_EQ(info.train.epoch, 1);  // only the first epoch improved on "nothing"
  // Epochs 1, 2 and 3 ran: the metrics log has three epoch rows.
  std::ifstream in(find_latest_checkpoint(dir / "logdir", "early").parent_path() / "metrics.jsonl");
  int epochs = 0;
  for (std::string line; std::getline(in, line);) epochs += line.find("\"kind\":\"epoch\"") != std::string::npos;
  EXPECT_EQ(epochs, 3);
}

TEST(Train, ResumedWithOtherSplitFlagsTheValidationFilesStay) {
  test::TempDir dir;
  write_corpus(dir / "data", 16);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "split");
  o.num_epochs = 1;
  ASSERT_EQ(run_training(o), 0);
  const DataSplit before = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "split")).train.data;
  ASSERT_EQ(before.val_files.size(), 4u);
  EXPECT_EQ(before.batch_size, 4);

  // Another batch size, validation fraction and seed, given on the command line: the split
  // does not move.
  TrainOptions other = o;
  other.num_epochs = 2;
  other.config_file_given = false;
  other.batch_size = 2;
  other.val_frac = 0.5;
  other.rng_seed = 99;
  other.given = {"batch_size", "val_frac", "rng_seed"};
  testing::internal::CaptureStderr();
  const int other_rc = run_training(other);
  std::string said = testing::internal::GetCapturedStderr();
  ASSERT_EQ(other_rc, 0) << said;
  EXPECT_NE(said.find("--batch_size 2 (checkpoint: 4): the checkpoint's 4 validation files stay in validation"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("--rng_seed 99 (checkpoint: 7)"), std::string::npos) << said;
  const DataSplit after = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "split")).train.data;
  EXPECT_EQ(after.val_files, before.val_files);
  EXPECT_EQ(after.batch_size, 2);
  EXPECT_EQ(after.n_train_files, 12);

  // New files in the same folder join training; the validation files still do not.
  write_corpus(dir / "data" / "new", 4, 16000, 0.5, 7);
  TrainOptions grown = o;
  grown.num_epochs = 3;
  grown.config_file_given = false;
  testing::internal::CaptureStderr();
  const int grown_rc = run_training(grown);
  said = testing::internal::GetCapturedStderr();
  ASSERT_EQ(grown_rc, 0) << said;
  EXPECT_NE(said.find("has changed since the checkpoint (20 files in the split, 16 before)"), std::string::npos) << said;
  const DataSplit grown_split = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "split")).train.data;
  EXPECT_EQ(grown_split.val_files, before.val_files);
  EXPECT_EQ(grown_split.batch_size, 2);  // not given: the checkpoint's
  EXPECT_EQ(grown_split.n_train_files, 16);
  EXPECT_NE(grown_split.files_hash, before.files_hash);
}

TEST(Train, ResumeFromAFolderContinuesItsNewestCheckpoint) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions base = tiny_options(dir, "base");
  base.num_epochs = 1;
  ASSERT_EQ(run_training(base), 0);
  const fs::path start = find_latest_checkpoint(dir / "logdir", "base");  // 62 steps

  TrainOptions cont = tiny_options(dir, "cont");
  cont.config_file_given = false;
  cont.resume_from = dir / "logdir" / "base";  // the id folder, as --checkpoint_path takes it
  cont.num_epochs = 5;
  cont.max_steps = 70;
  ASSERT_EQ(run_training(cont), 0);
  const CheckpointInfo info = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "cont"));
  EXPECT_EQ(info.train.origin, absolute_normal(start));
  EXPECT_EQ(info.train.step, 70);

  TrainOptions empty = tiny_options(dir, "empty");
  empty.config_file_given = false;
  empty.resume_from = dir / "data";  // a folder without checkpoints
  expect_error(empty, ErrorKind::kInput, "is a folder without checkpoints");
}

TEST(Train, ResumeFromContinuesTheNewerRunThatStartedFromIt) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions base = tiny_options(dir, "base");
  base.num_epochs = 1;
  ASSERT_EQ(run_training(base), 0);
  const fs::path start = find_latest_checkpoint(dir / "logdir", "base");  // 62 steps

  // The same command twice: the second run goes on from where the first stopped.
  TrainOptions cont = tiny_options(dir, "cont");
  cont.config_file_given = false;
  cont.resume_from = start;
  cont.num_epochs = 5;
  cont.max_steps = 70;
  ASSERT_EQ(run_training(cont), 0);
  const fs::path first = find_latest_checkpoint(dir / "logdir", "cont");
  EXPECT_EQ(read_checkpoint_info(first).train.origin, absolute_normal(start));
  cont.max_steps = 80;
  testing::internal::CaptureStderr();
  const int rc = run_training(cont);
  const std::string said = testing::internal::GetCapturedStderr();
  ASSERT_EQ(rc, 0) << said;
  EXPECT_NE(said.find("--resume_from " + start.string() + ": continuing the newer run that started from it, " +
                      first.string() + " (epoch 2, partly done, step 70)"),
            std::string::npos)
      << said;
  const CheckpointInfo second = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "cont"));
  EXPECT_EQ(second.train.step, 80);  // 62 + 8 + 10: the first run's steps were kept
  EXPECT_EQ(second.train.origin, absolute_normal(start));

  // A plain resume keeps the line's origin; --resume_from another file starts from that file.
  TrainOptions plain = cont;
  plain.resume_from.clear();
  plain.max_steps = 85;
  ASSERT_EQ(run_training(plain), 0);
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "cont")).train.origin, absolute_normal(start));
  TrainOptions again = cont;
  again.resume_from = first;
  again.max_steps = 75;
  ASSERT_EQ(run_training(again), 0);
  const CheckpointInfo other = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "cont"));
  EXPECT_EQ(other.train.step, 75);
  EXPECT_EQ(other.train.origin, absolute_normal(first));
}

// The learning rate of each step row of a run folder's metrics.jsonl, by step.
std::map<std::int64_t, double> step_rates(const fs::path& run_dir) {
  std::map<std::int64_t, double> lr;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["kind"] == "step") lr[j["step"].get<std::int64_t>()] = j["lr"].get<double>();
  }
  return lr;
}

// Weights alone (a shipped model): fresh moments would start at the full rate, so the rate
// rises from 0; a stop inside the warm-up resumes it exactly where it was.
TEST(Train, AStartFromWeightsAloneWarmsUpTheRateAndAStopInsideTheWarmUpResumesIt) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions base = tiny_options(dir, "base");
  base.num_epochs = 1;
  ASSERT_EQ(run_training(base), 0);
  TensorFile f = load_safetensors(find_latest_checkpoint(dir / "logdir", "base"));  // 62 steps
  for (auto it = f.tensors.begin(); it != f.tensors.end();) {
    it = it->first.rfind("optim.", 0) == 0 || it->first.rfind("train.", 0) == 0 ? f.tensors.erase(it) : std::next(it);
  }
  const fs::path weights = dir / "weights.safetensors";
  save_safetensors(weights, f);

  const auto from_weights = [&](const std::string& id, std::int64_t max_steps, std::int64_t warmup) {
    TrainOptions o = tiny_options(dir, id);
    o.config_file_given = false;
    o.resume_from = weights;
    o.num_epochs = 3;
    o.max_steps = max_steps;
    o.lr_warmup_steps = warmup;
    return o;
  };
  // By default, kAutoWarmupSteps steps.
  ASSERT_EQ(run_training(from_weights("auto", 63, -1)), 0);
  const fs::path auto_run = find_latest_checkpoint(dir / "logdir", "auto").parent_path();
  EXPECT_DOUBLE_EQ(step_rates(auto_run).at(63), 1e-3 / kAutoWarmupSteps);
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "auto")).train.warmup_steps, kAutoWarmupSteps);

  // Eight steps of warm-up, stopped after five and resumed, against one uninterrupted run.
  ASSERT_EQ(run_training(from_weights("whole", 74, 8)), 0);
  ASSERT_EQ(run_training(from_weights("split", 67, 8)), 0);
  TrainOptions resumed = from_weights("split", 74, 8);
  resumed.resume_from.clear();  // the id's newest checkpoint, which holds moments now
  ASSERT_EQ(run_training(resumed), 0);
  const auto rates = step_rates(find_latest_checkpoint(dir / "logdir", "whole").parent_path());
  for (std::int64_t k = 1; k <= 12; ++k) {
    EXPECT_DOUBLE_EQ(rates.at(62 + k), 1e-3 * std::min<std::int64_t>(k, 8) / 8.0) << "step " << 62 + k;
  }
  std::map<std::int64_t, double> split;
  for (const fs::path& run : run_folders(dir / "logdir" / "split")) {
    for (const auto& [step, lr] : step_rates(run)) split[step] = lr;
  }
  EXPECT_EQ(split, rates);
  EXPECT_GT(expect_identical_tensors(read_all(find_latest_checkpoint(dir / "logdir", "whole")),
                                     read_all(find_latest_checkpoint(dir / "logdir", "split"))),
            10);

  // A fresh start warms up only when asked; --lr_warmup_steps 0 never does.
  TrainOptions none = from_weights("none", 63, 0);
  ASSERT_EQ(run_training(none), 0);
  EXPECT_DOUBLE_EQ(step_rates(find_latest_checkpoint(dir / "logdir", "none").parent_path()).at(63), 1e-3);
  TrainOptions fresh = tiny_options(dir, "fresh");
  fresh.max_steps = 2;
  ASSERT_EQ(run_training(fresh), 0);
  EXPECT_DOUBLE_EQ(step_rates(find_latest_checkpoint(dir / "logdir", "fresh").parent_path()).at(1), 1e-3);
  fresh = tiny_options(dir, "fresh-warm");
  fresh.max_steps = 2;
  fresh.lr_warmup_steps = 4;
  ASSERT_EQ(run_training(fresh), 0);
  EXPECT_DOUBLE_EQ(step_rates(find_latest_checkpoint(dir / "logdir", "fresh-warm").parent_path()).at(2), 0.5e-3);
}

TEST(Train, TheLearningRateHalvesEveryHalfLifeAndResumesOnTheSameCurve) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  const auto decaying = [&](const std::string& id, std::int64_t max_steps) {
    TrainOptions o = tiny_options(dir, id);
    o.num_epochs = 3;
    o.max_steps = max_steps;
    o.lr_half_life_steps = 4;
    return o;
  };
  ASSERT_EQ(run_training(decaying("whole", 9)), 0);
  const auto rates = step_rates(find_latest_checkpoint(dir / "logdir", "whole").parent_path());
  for (std::int64_t k = 1; k <= 9; ++k) {
    EXPECT_NEAR(rates.at(k), 1e-3 * std::exp2(-(k - 1) / 4.0), 1e-12) << "step " << k;
  }
  // Stopped after five steps and resumed: the same rates, step for step.
  ASSERT_EQ(run_training(decaying("split", 5)), 0);
  ASSERT_EQ(run_training(decaying("split", 9)), 0);
  std::map<std::int64_t, double> split;
  for (const fs::path& run : run_folders(dir / "logdir" / "split")) {
    for (const auto& [step, lr] : step_rates(run)) split[step] = lr;
  }
  EXPECT_EQ(split, rates);
  TrainOptions bad = decaying("bad", 1);
  bad.lr_half_life_steps = -1;
  expect_error(bad, ErrorKind::kUsage, "--lr_half_life_steps must be 0");
}

TEST(Train, TheSampleRateBelongsToTheModel) {
  test::TempDir dir;
  write_corpus(dir / "data", 8, 22050);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "rate");
  o.num_epochs = 1;
  ASSERT_EQ(run_training(o), 0);  // --sample_rate not given: the data's rate
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "rate")).sample_rate_hz, 22050);
  o.num_epochs = 2;
  o.config_file_given = false;
  o.sample_rate = 16000;
  o.given = {"sample_rate"};
  expect_error(o, ErrorKind::kConfig, "--sample_rate 16000 contradicts checkpoint");
  o.sample_rate = 22050;
  ASSERT_EQ(run_training(o), 0);
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "rate")).train.epoch, 2);
}

TEST(Train, AFileThatFailsMidEpochSkipsItsBatchAndTrainingGoesOn) {
  // FLAC files whose headers are fine at listing time, one of them damaged in the middle:
  // it decodes to a fraction of its announced length when its batch comes.
  test::TempDir dir;
  fs::create_directories(dir / "data");
  for (int i = 0; i < 12; ++i) {
    write_audio(dir / "data" / ("f" + std::to_string(i) + ".flac"), test::sine(200.0 + 37.0 * i, 0.3, 16000, 8000), 16000,
                parse_audio_format("flac"));
  }
  std::string bytes = test::read_file(dir / "data" / "f3.flac");
  for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 2000; ++i) bytes[i] = static_cast<char>(i * 37);
  std::ofstream(dir / "data" / "f3.flac", std::ios::binary) << bytes;
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "damaged");
  o.num_epochs = 1;
  o.val_frac = 0;
  o.monitor = "loss";
  testing::internal::CaptureStderr();
  const int rc = run_training(o);
  const std::string said = testing::internal::GetCapturedStderr();
  ASSERT_EQ(rc, 0) << said;
  EXPECT_NE(said.find("warning: skipping batch"), std::string::npos) << said;
  EXPECT_NE(said.find("f3.flac'"), std::string::npos) << said;
  const CheckpointInfo info = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "damaged"));
  EXPECT_TRUE(info.train.epoch_complete);
  EXPECT_EQ(info.train.step, 2 * 31);  // three batches of 31 windows, one skipped
}

// Replaces tensor `name` of a checkpoint, keeping everything else.
void edit_checkpoint(const fs::path& path, const std::string& name, Tensor t) {
  TensorFile f = load_safetensors(path);
  ASSERT_TRUE(f.has(name)) << name;
  f.put(name, std::move(t));
  save_safetensors(path, f);
}

TEST(Train, ACheckpointWithBadOptimiserStateIsRefusedNotTrainedOn) {
  test::TempDir dir;
  write_corpus(dir / "data", 8);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "bad");
  o.num_epochs = 1;
  ASSERT_EQ(run_training(o), 0);
  const fs::path ckpt = find_latest_checkpoint(dir / "logdir", "bad");
  const TensorFile good = load_safetensors(ckpt);
  o.num_epochs = 2;
  o.config_file_given = false;
  const auto expect_refused = [&](const std::string& needle) {
    expect_error(o, ErrorKind::kInput, needle);
    EXPECT_EQ(find_latest_checkpoint(dir / "logdir", "bad"), ckpt) << "a new checkpoint was written";
    save_safetensors(ckpt, good);
  };
  // A NaN in Adam's second moment would turn every weight NaN at the first step.
  Tensor moment = good.at("optim.sample.output.weight.exp_avg_sq");
  const float nan = NAN;
  std::memcpy(moment.bytes.data() + 4 * 5, &nan, 4);
  edit_checkpoint(ckpt, "optim.sample.output.weight.exp_avg_sq", moment);
  expect_refused("holds NaN or infinite values in 'optim.sample.output.weight.exp_avg_sq'");
  Tensor step = good.at("optim.sample.output.weight.step");
  const std::int64_t negative = -5;
  std::memcpy(step.bytes.data(), &negative, 8);
  edit_checkpoint(ckpt, "optim.sample.output.weight.step", step);
  expect_refused("optimiser step count of -5");
  Tensor rng;
  rng.dtype = DType::kU8;
  rng.shape = {10};
  rng.bytes.assign(10, 7);
  edit_checkpoint(ckpt, "train.rng_state", rng);
  expect_refused("an RNG state LibTorch does not accept");
  ASSERT_EQ(run_training(o), 0);  // the good file still resumes
}

TEST(Train, NamingAndTemperatureRules) {
  EXPECT_EQ(clip_name("aamgen", 90, 0, 1, 0.95), "aamgen_e=90_t=0.95.wav");
  EXPECT_EQ(clip_name("aamgen", 90, 1, 2, 0.75), "aamgen_e=90(1)_t=0.75.wav");
  EXPECT_EQ(expand_temperatures({0.5, 0.9, 1.0}, 2), (std::vector<double>{0.5, 0.9}));
  EXPECT_EQ(expand_temperatures({0.5, 0.9}, 4), (std::vector<double>{0.5, 0.9, 0.9, 0.9}));
  EXPECT_EQ(expand_temperatures({}, 2), (std::vector<double>{0.95, 0.95}));
  EXPECT_EQ(clip_name("out", 3, 0, 1, 1.0), "out_e=3_t=1.0.wav");
}

}  // namespace
}  // namespace srnn
