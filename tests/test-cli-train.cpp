// `samplernn train` end to end through the binary: chunk, train, resume after Ctrl-C,
// continue on a second folder, and the PRiSM command line.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/run-layout.h"
#include "core/safetensors.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;

const std::string kBin = SRNN_BIN;
std::string q(const fs::path& p) { return test::shell_quote(p); }

// A few seconds of 44.1 kHz stereo "music": two tones and a little noise.
void write_album(const fs::path& path, int seconds, double f0) {
  const int rate = 44100;
  const std::size_t n = static_cast<std::size_t>(seconds) * rate;
  std::vector<float> a = test::sine(f0, 0.2, rate, n), b = test::sine(f0 * 1.5, 0.1, rate, n);
  const std::vector<float> z = test::noise(0.02, n, static_cast<std::uint32_t>(f0));
  std::vector<float> stereo(2 * n);
  for (std::size_t i = 0; i < n; ++i) stereo[2 * i] = stereo[2 * i + 1] = a[i] + b[i] + z[i];
  test::write_sndfile(path, stereo, rate, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
}

class CliTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "albums");
    write_album(dir_ / "albums" / "one.flac", 12, 220);
    write_album(dir_ / "albums" / "two.flac", 12, 330);
    std::ofstream(dir_ / "small.config.json")
        << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 16, "rnn_type": "gru", "num_rnn_layers": 1,
               "q_type": "mu-law", "q_levels": 256, "emb_size": 16, "skip_conn": false})";
    const auto r = run_command(kBin + " chunk --input_dir " + q(dir_ / "albums") + " --output_dir " + q(dir_ / "chunks") +
                               " --chunk_length 1000 --overlap 100");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string train_cmd(const std::string& extra, const std::string& id = "song") const {
    return "cd " + q(dir_.path()) + " && " + kBin + " train --id " + id + " --data_dir chunks --config_file small.config.json" +
           " --batch_size 4 --output_file_dur 1 --rng_seed 3 --early_stopping_patience 5 " + extra;
  }
  test::TempDir dir_;
};

TEST_F(CliTrain, TrainResumeAndContinueOnNewData) {
  auto r = run_command(train_cmd("--num_epochs 1 --val_frac 0.2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Epoch: 1/1, Step: \d+/\d+, Loss: \d+\.\d{3}, Accuracy: \d+\.\d{3}, \(\d+\.\d{4} sec/step\))")))
      << r.output;
  EXPECT_NE(r.output.find("bits/sample"), std::string::npos);
  EXPECT_NE(r.output.find("val_accuracy"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "generated" / "song" / "song_e=1_t=0.95.wav")) << r.output;

  const std::regex run_re(R"(logdir/song/(\d{2}\.\d{2}\.\d{4}_\d{2}\.\d{2}\.\d{2})/model\.ckpt-1)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, run_re)) << r.output;
  const fs::path first_ckpt = dir_ / "logdir" / "song" / m[1].str() / "model.ckpt-1";
  EXPECT_EQ(read_checkpoint_info(first_ckpt).train.epoch, 1);
  EXPECT_TRUE(fs::exists(first_ckpt.parent_path() / "metrics.jsonl"));
  // TensorBoard as Keras writes it: a train/ and a validation/ run with Keras's tags, as
  // scalars (Summary.Value field 2), and the clip as audio (field 6).
  const test::EventValues train_events = test::event_values(first_ckpt.parent_path() / "train");
  const test::EventValues validation_events = test::event_values(first_ckpt.parent_path() / "validation");
  auto expect_tag = [](const test::EventValues& events, const std::string& tag, int field, const std::string& run) {
    const auto it = events.find(tag);
    if (it == events.end()) {
      std::string tags;
      for (const auto& [t, points] : events) tags += " " + t;
      ADD_FAILURE() << tag << " not in " << run << "/, which has" << tags;
      return;
    }
    for (const auto& [step, value] : it->second) {
      EXPECT_EQ(value.bytes.count(field), 1u) << run << "/" << tag << " step " << step;
    }
  };
  for (const std::string tag : {"batch_loss", "batch_accuracy", "epoch_loss", "epoch_accuracy"}) {
    expect_tag(train_events, tag, 2, "train");
  }
  expect_tag(train_events, "samplernn/clips/song_e=1_t=0.95", 6, "train");
  for (const std::string tag : {"epoch_loss", "epoch_accuracy"}) expect_tag(validation_events, tag, 2, "validation");
  EXPECT_EQ(validation_events.count("batch_loss"), 0u);

  // The report was refreshed after the checkpoint: curves, the checkpoint and the clip.
  {
    std::ifstream page(dir_ / "logdir" / "song" / "report.html");
    const std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("model.ckpt-1"), std::string::npos);
    std::smatch src;
    ASSERT_TRUE(std::regex_search(html, src, std::regex("<audio controls preload='metadata' src='([^']+)'"))) << html;
    EXPECT_TRUE(fs::exists(dir_ / "logdir" / "song" / src[1].str())) << src[1].str();
    std::smatch img;
    ASSERT_TRUE(std::regex_search(html, img, std::regex("<img width='480' height='260' alt='spectrogram' src='([^']+)'")));
    EXPECT_GT(fs::file_size(dir_ / "logdir" / "song" / img[1].str()), 1000u);
  }
  // The same page in a real browser: tests/test-peers.cpp.

  // Resume: epoch 2 continues from the checkpoint, in a new run folder.
  r = run_command(train_cmd("--num_epochs 2 --val_frac 0.2 --generate False"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Resuming from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Epoch: 2/2"), std::string::npos);
  EXPECT_EQ(r.output.find("Epoch: 1/2"), std::string::npos);

  // Continue on a new folder with more data.
  fs::create_directories(dir_ / "more");
  write_album(dir_ / "more" / "three.wav", 10, 275);
  ASSERT_EQ(run_command(kBin + " chunk --input_dir " + q(dir_ / "more") + " --output_dir " + q(dir_ / "chunks2") +
                        " --chunk_length 1000").exit_code, 0);
  r = run_command("cd " + q(dir_.path()) + " && " + kBin +
                  " train --id song --data_dir chunks2 --batch_size 4 --num_epochs 3 --val_frac 0 --monitor loss"
                  " --generate false --rng_seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Resuming from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Epoch: 3/3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch: 1/3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch: 2/3"), std::string::npos) << r.output;
}

TEST_F(CliTrain, CtrlCAndTheSameCommandEndAsAnUninterruptedRun) {
  const std::string flags = "--num_epochs 2 --val_frac 0.2 --generate False --num_threads 1";
  const auto straight = run_command(train_cmd(flags, "once"));
  ASSERT_EQ(straight.exit_code, 0) << straight.output;

  // Interrupted as Ctrl-C would, some steps into the run.
  const std::string text = test::interrupt_when(train_cmd(flags), dir_ / "train.log", [](const std::string& log) {
    return log.find("Step: 40/") != std::string::npos;
  });
  ASSERT_NE(text.find("Step: 40/"), std::string::npos) << text;
  EXPECT_NE(text.find("exit=130"), std::string::npos) << text;
  EXPECT_NE(text.find("Stopped by signal; resume with the same command."), std::string::npos) << text;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(Saved checkpoint (\S+))"))) << text;
  const std::string saved = m[1].str();  // m points into text
  const TrainState stopped = read_checkpoint_info(dir_ / saved).train;
  EXPECT_FALSE(stopped.epoch_complete);
  EXPECT_GE(stopped.step, 40);
  // A batch here is 62 windows, so a stop within a window of the signal falls inside the
  // first batch, which the resume below must then finish exactly.
  EXPECT_GT(stopped.window, 0) << "the signal should land inside a batch";
  EXPECT_LT(stopped.step, 62) << "the run went on past the batch the signal reached";

  const auto r = run_command(train_cmd(flags));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("partly done, step " + std::to_string(stopped.step) + ")"), std::string::npos) << r.output;
  // Bit for bit what the uninterrupted run ended with: weights, moments, RNG.
  const TensorFile a = load_safetensors(latest_checkpoint(dir_ / "logdir" / "once"));
  const TensorFile b = load_safetensors(latest_checkpoint(dir_ / "logdir" / "song"));
  EXPECT_EQ(a.metadata.at("step"), b.metadata.at("step"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.has(name)) << name;
    EXPECT_TRUE(t.bytes == b.at(name).bytes) << name << " differs from the uninterrupted run";
  }
}

TEST_F(CliTrain, PrismCommandLinesRun) {
  // A flag given twice takes its last value, lists included, as argparse does; the
  // deprecated --num_val_batches is accepted with a warning.
  auto r = run_command(train_cmd("--max_steps 2 --batch_size 8 --batch_size 4 --temperature 0.5 0.6 --temperature 0.9 "
                                 "--num_val_batches 3 --generate False"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: --num_val_batches is deprecated"), std::string::npos) << r.output;
  const fs::path run = latest_checkpoint(dir_ / "logdir" / "song").parent_path();
  const auto flags = nlohmann::json::parse(test::read_file(run / "run.json"))["flags"];
  EXPECT_EQ(flags["batch_size"], 4);
  // Every command-line error is one line that starts with "error:".
  const int usage = exit_code(ErrorKind::kUsage);
  test::expect_one_error_line(train_cmd("--bogus 1"), usage, "--bogus");
  test::expect_one_error_line(train_cmd("--batch_size x"), usage, "--batch_size");
  test::expect_one_error_line(train_cmd("--optimizer adamw"), usage, "adamw");
  test::expect_one_error_line(train_cmd("--nproc 0"), usage, "--nproc");
  test::expect_one_error_line(kBin + " generate --dur 1", usage, "--output_path");
}

TEST_F(CliTrain, ReportOfAFolderWithoutMetricsSaysSo) {
  fs::create_directories(dir_ / "logdir" / "empty" / "01.02.2026_10.00.00");
  auto r = run_command(kBin + " report " + q(dir_ / "logdir" / "empty"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream page(dir_ / "logdir" / "empty" / "report.html");
  const std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("No metrics yet"), std::string::npos) << html;
  r = run_command(kBin + " report " + q(dir_ / "logdir" / "nothing-here"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("not a training folder"), std::string::npos) << r.output;
}

TEST_F(CliTrain, BadInputIsOneClearLine) {
  const std::string bare = "cd " + q(dir_.path()) + " && " + kBin + " train --id song ";
  auto expect = [](const std::string& cmd, ErrorKind kind, const std::string& needle) {
    test::expect_one_error_line(cmd, exit_code(kind), needle);
  };
  expect(bare + "--data_dir nowhere", ErrorKind::kInput, "nowhere");
  expect(train_cmd("--verbose maybe"), ErrorKind::kUsage, "--verbose");
  expect(train_cmd("--max_checkpoints 0"), ErrorKind::kUsage, "--max_checkpoints");
  expect(bare + "--data_dir chunks --config_file missing.config.json", ErrorKind::kConfig, "missing.config.json");
  expect(train_cmd("--resume_from logdir/nothing/model.ckpt-3"), ErrorKind::kInput, "does not exist");
  // The sample rate must match the data: chunks are 16 kHz.
  expect(train_cmd("--sample_rate 22050"), ErrorKind::kInput, "samplernn chunk --sample_rate 22050");
  // Flags outside what can work, refused before anything is written.
  expect(train_cmd("--learning_rate nan"), ErrorKind::kUsage, "--learning_rate");
  expect(train_cmd("--output_file_dur 99999"), ErrorKind::kUsage, "--output_file_dur must be at most 3600");
  expect(train_cmd("--temperature 1e-300"), ErrorKind::kUsage, "at least 1e-06");
  expect(train_cmd("--top_p 0"), ErrorKind::kUsage, "--top_p 0 is not in (0, 1]");
  expect(train_cmd("--id ../../escaped"), ErrorKind::kUsage, "is not a plain name");
  expect(train_cmd("--sparsity 1.5"), ErrorKind::kUsage, "--sparsity must be in [0, 0.99]");
  expect(train_cmd("--sparsity 0.9 --sparse_block 16by4"), ErrorKind::kUsage, "is not RxC");
  expect(train_cmd("--sparsity 0.9 --prune_start 500 --prune_end 100"), ErrorKind::kUsage, "--prune_end");
  EXPECT_FALSE(fs::exists(dir_.path().parent_path() / "escaped"));
  // A missing seed is found before the first step, not after the first epoch.
  expect(train_cmd("--seed nowhere.wav --batch_size 2"), ErrorKind::kInput, "nowhere.wav");  // 2: no file left over
  EXPECT_FALSE(fs::exists(dir_ / "logdir")) << "a run was started before the checks";
}

// Fine-tuning a base on one new track: the recipe's defaults said up front, every chunk
// trained on, the last part of the track held out, a wall-clock budget that ends with a
// scored checkpoint and resumes, and one clear line for each kind of bad input, with the
// base untouched.
TEST_F(CliTrain, FineTuneOnOneTrackWithinMinutesAndItsBadInputs) {
  auto r = run_command(train_cmd("--num_epochs 1 --val_frac 0.2 --generate False", "base"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::create_directories(dir_ / "mine");
  write_album(dir_ / "mine" / "three.flac", 9, 440);
  r = run_command(kBin + " chunk --input_dir " + q(dir_ / "mine") + " --output_dir " + q(dir_ / "mine_chunks") +
                  " --chunk_length 1000 --overlap 100");
  ASSERT_EQ(r.exit_code, 0) << r.output;  // 9 chunks of one track
  const fs::path base = latest_checkpoint(dir_ / "logdir" / "base");
  const std::string base_bytes = test::read_file(base);
  const std::string finetune = "cd " + q(dir_.path()) + " && " + kBin +
                               " finetune --base logdir/base --data_dir mine_chunks --id ft --output_file_dur 1"
                               " --max_generate_per_epoch 2 --num_threads 1 --rng_seed 5 ";

  r = run_command(finetune + "--max_minutes 0.1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line : {"the recipe's defaults:", "--learning_rate 0.001:", "--checkpoint_policy Clips:",
                           "8 training and 1 validation files (the last part of each track)",
                           "batch 8 (automatic)", "Augmenting the training batches", "Reached --max_minutes 0.1"}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  }
  EXPECT_EQ(r.output.find("left out"), std::string::npos) << r.output;
  const fs::path first = latest_checkpoint(dir_ / "logdir" / "ft");
  ASSERT_FALSE(first.empty()) << r.output;
  const CheckpointInfo info = read_checkpoint_info(first);
  EXPECT_EQ(info.train.data.val_files, std::vector<std::string>{"three_chunk_9.wav"});
  const nlohmann::json scores = nlohmann::json::parse(test::read_file(first.parent_path() / "clip-scores.json"));
  ASSERT_TRUE(scores.contains(first.filename().string())) << scores.dump();
  EXPECT_EQ(scores[first.filename().string()]["clips"].size(), 2u);
  // Again: the run goes on from its own checkpoint, with a new budget.
  r = run_command(finetune + "--max_minutes 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing the newer run that started from it"), std::string::npos) << r.output;
  EXPECT_GT(read_checkpoint_info(latest_checkpoint(dir_ / "logdir" / "ft")).train.step, info.train.step);

  auto expect = [](const std::string& cmd, ErrorKind kind, const std::string& needle) {
    test::expect_one_error_line(cmd, exit_code(kind), needle);
  };
  expect(finetune + "--id small --batch_size 12", ErrorKind::kInput, "fewer than one batch of 12");
  expect(finetune + "--id small --batch_size 12", ErrorKind::kInput, "use --batch_size 8 or less (0 picks one)");
  r = run_command(kBin + " chunk --input_dir " + q(dir_ / "mine") + " --output_dir " + q(dir_ / "mine_22k") +
                  " --chunk_length 1000 --overlap 100 --sample_rate 22050");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect(finetune + "--id rate --data_dir mine_22k", ErrorKind::kInput, "sampled at 22050 Hz");
  std::ofstream(dir_ / "other.config.json") << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 32})";
  expect(finetune + "--id config --config_file other.config.json", ErrorKind::kConfig, "dim");
  expect(finetune + "--id notckpt --base mine/three.flac", ErrorKind::kInput, "three.flac");
  expect(finetune + "--id twice --resume_from logdir/base", ErrorKind::kUsage, "--base");
  EXPECT_EQ(test::read_file(base), base_bytes) << "the base was written to";
  for (const char* id : {"small", "rate", "config", "notckpt", "twice"}) {
    EXPECT_TRUE(latest_checkpoint(dir_ / "logdir" / id).empty()) << id;
  }
}

TEST_F(CliTrain, ASecondTrainingOfTheSameIdIsRefused) {
  // The test holds the id's lock as a running training would.
  const DirectoryLock held(dir_ / "logdir" / "song", "training id 'song' in 'logdir'");
  test::expect_one_error_line(train_cmd("--max_steps 2 --generate False --batch_size 2"), exit_code(ErrorKind::kUsage),
                              "training id 'song' in './logdir' is in use by another samplernn process (pid " +
                                  std::to_string(getpid()) + ")");
  EXPECT_TRUE(run_folders(dir_ / "logdir" / "song").empty());
}

}  // namespace
}  // namespace srnn

namespace srnn {
namespace {

// A PRiSM checkpoint (TensorFlow's, tests/data/prism) through the binary: samplernn's own
// commands name the import; the import generates, and training continues with its moments.
TEST_F(CliTrain, APrismCheckpointImportsGeneratesAndContinuesWithItsAdamMoments) {
  const fs::path fx = fs::path(SRNN_SOURCE_DIR) / "tests" / "data" / "prism" / "gru3";
  const std::string in_dir = "cd " + q(dir_.path()) + " && " + kBin;
  test::expect_one_error_line(in_dir + " generate --checkpoint_path " + q(fx / "model.ckpt-3.index") +
                                  " --output_path x.wav",
                              exit_code(ErrorKind::kInput), "samplernn import-prism --checkpoint_path");
  auto r = run_command(in_dir + " import-prism --checkpoint_path " + q(fx) + " --config_file " +
                       q(fx / "gru3.config.json") + " --output prism.ckpt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3-tier gru model, frame sizes (2, 8), dim 16, 2 layer(s), q 32 prism-linear, epoch 3, Adam "
                          "moments after 3 steps"),
            std::string::npos)
      << r.output;
  r = run_command(in_dir + " generate --checkpoint_path prism.ckpt --output_path out/prism.wav --dur 0.25 --rng_seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "prism_e=3_t=0.95.wav")) << r.output;
  r = run_command(in_dir + " train --id continued --data_dir chunks --resume_from prism.ckpt --max_steps 5 --batch_size 4 "
                           "--generate False --rng_seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("no optimiser moments"), std::string::npos) << r.output;  // no warm-up: PRiSM's moments
  const CheckpointInfo info = read_checkpoint_info(latest_checkpoint(dir_ / "logdir" / "continued"));
  EXPECT_EQ(info.train.step, 5);  // PRiSM's 3 steps, then 2
  EXPECT_EQ(info.train.optimizer, "adam");
  EXPECT_EQ(info.config.q_type, QType::kPrismLinear);
}

}  // namespace
}  // namespace srnn
