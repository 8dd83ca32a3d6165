// The training workflow through run_training(): checkpoints, resume equivalence,
// continuing on new data, config and data errors, divergence.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "audio/write.h"
#include "core/error.h"
#include "core/naming.h"
#include "core/run-layout.h"
#include "core/safetensors.h"
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

TEST(Train, ResumedRunEqualsAnUninterruptedOne) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");

  TrainOptions straight = tiny_options(dir, "straight");
  straight.num_epochs = 2;
  ASSERT_EQ(run_training(straight), 0);

  TrainOptions first = tiny_options(dir, "resumed");
  first.num_epochs = 1;
  ASSERT_EQ(run_training(first), 0);
  TrainOptions second = first;
  second.num_epochs = 2;
  second.config_file_given = false;  // the checkpoint carries the config
  ASSERT_EQ(run_training(second), 0);

  const fs::path a = find_latest_checkpoint(dir / "logdir", "straight");
  const fs::path b = find_latest_checkpoint(dir / "logdir", "resumed");
  ASSERT_EQ(a.filename(), "model.ckpt-2");
  ASSERT_EQ(b.filename(), "model.ckpt-2");
  EXPECT_NE(a.parent_path(), b.parent_path());
  const TensorFile fa = read_all(a), fb = read_all(b);
  EXPECT_EQ(fa.metadata.at("step"), fb.metadata.at("step"));
  int compared = 0;
  for (const auto& [name, t] : fa.tensors) {
    if (name == "train.rng_state") continue;
    ASSERT_TRUE(fb.has(name)) << name;
    if (t.dtype != DType::kF32) {
      EXPECT_EQ(t.bytes, fb.at(name).bytes) << name;
      continue;
    }
    const std::vector<float> x = t.to_f32(), y = fb.at(name).to_f32();
    ASSERT_EQ(x.size(), y.size());
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(double(x[i]) - y[i]));
    EXPECT_LE(worst, 1e-6) << name;
    ++compared;
  }
  EXPECT_GT(compared, 20);  // weights and Adam moments
}

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
  EXPECT_EQ(info.epoch, 1);
  EXPECT_TRUE(info.epoch_complete);
  EXPECT_EQ(info.config.dim, 16);
  EXPECT_EQ(info.config.frame_sizes, (std::vector<int>{4, 16}));
  EXPECT_EQ(info.optimizer, "adam");
  EXPECT_TRUE(info.metrics.contains("val_loss"));

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
  EXPECT_EQ(after.epoch, 2);
  EXPECT_GT(after.step, info.step);
}

TEST(Train, MaxStepsStopsWithACheckpointThatResumesMidEpoch) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "budget");
  o.num_epochs = 1;
  o.max_steps = 40;  // one batch of files is 31 windows
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo partial = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "budget"));
  EXPECT_FALSE(partial.epoch_complete);
  EXPECT_EQ(partial.epoch, 1);
  EXPECT_EQ(partial.batches_done, 1);
  EXPECT_EQ(partial.step, 40);
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo done = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "budget"));
  EXPECT_TRUE(done.epoch_complete);
  EXPECT_EQ(done.step, 40 + 31);  // the interrupted batch is redone from its start
}

TEST(Train, AStopAtTheEndOfABatchDoesNotRedoIt) {
  test::TempDir dir;
  write_corpus(dir / "data", 12);
  write_config(dir / "tiny.config.json");
  TrainOptions o = tiny_options(dir, "edge");
  o.num_epochs = 1;
  o.max_steps = 31;  // exactly the first batch of files
  ASSERT_EQ(run_training(o), 0);
  const CheckpointInfo partial = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "edge"));
  EXPECT_EQ(partial.batches_done, 1);
  o.max_steps = 0;
  o.config_file_given = false;
  ASSERT_EQ(run_training(o), 0);
  EXPECT_EQ(read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "edge")).step, 62);
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
  ASSERT_EQ(partial.batches_done, 2);
  ASSERT_FALSE(partial.epoch_complete);
  TrainOptions more = o;
  more.data_dir = dir / "more";  // one training batch of 4 files (31 windows)
  more.num_epochs = 2;
  more.max_steps = 0;
  more.config_file_given = false;
  ASSERT_EQ(run_training(more), 0);
  const CheckpointInfo after = read_checkpoint_info(find_latest_checkpoint(dir / "logdir", "mid"));
  EXPECT_EQ(after.epoch, 2);
  EXPECT_TRUE(after.epoch_complete);
  EXPECT_EQ(after.step, 62 + 31);
  EXPECT_GT(after.metrics.value("loss", 0.0), 0.0);
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
  EXPECT_EQ(info.epoch, 1);  // only the first epoch improved on "nothing"
  // Epochs 1, 2 and 3 ran: the metrics log has three epoch rows.
  std::ifstream in(find_latest_checkpoint(dir / "logdir", "early").parent_path() / "metrics.jsonl");
  int epochs = 0;
  for (std::string line; std::getline(in, line);) epochs += line.find("\"kind\":\"epoch\"") != std::string::npos;
  EXPECT_EQ(epochs, 3);
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
