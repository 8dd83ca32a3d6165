// `samplernn train` end to end through the binary: chunk, train, resume after Ctrl-C,
// continue on a second folder, and the PRiSM command line.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include "core/checkpoint-info.h"
#include "core/error.h"
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
  std::string train_cmd(const std::string& extra) const {
    return "cd " + q(dir_.path()) + " && " + kBin + " train --id song --data_dir chunks --config_file small.config.json" +
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
  EXPECT_EQ(read_checkpoint_info(first_ckpt).epoch, 1);
  EXPECT_TRUE(fs::exists(first_ckpt.parent_path() / "metrics.jsonl"));
  bool has_events = false;
  for (const auto& e : fs::directory_iterator(first_ckpt.parent_path())) {
    has_events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && fs::file_size(e.path()) > 1000;
  }
  EXPECT_TRUE(has_events) << "no TensorBoard event file in " << first_ckpt.parent_path();

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
  // The same page in a real browser (headless Chromium): every player loads its clip and
  // every image has a size. Needs `npm ci --prefix tests/browser` (scripts/test.sh runs it).
  {
    const std::string script = std::string(SRNN_SOURCE_DIR) + "/tests/browser/check-report.mjs";
    const fs::path shot = dir_ / "report.png";
    const auto b = run_command("node " + q(script) + " " + q(dir_ / "logdir" / "song" / "report.html") + " " + q(shot));
    EXPECT_EQ(b.exit_code, 0) << b.output << "\n(run `npm ci --prefix tests/browser` first)";
    EXPECT_NE(b.output.find("failed 0"), std::string::npos) << b.output;
    EXPECT_TRUE(fs::exists(shot) && fs::file_size(shot) > 10000) << b.output;
  }

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
  EXPECT_NE(r.output.find("Epoch: 3/3"), std::string::npos) << r.output;
}

TEST_F(CliTrain, CtrlCWritesACheckpointAndTheSameCommandResumes) {
  const std::string cmd = train_cmd("--num_epochs 50 --val_frac 0.2 --generate False");
  const fs::path log = dir_ / "train.log";
  // Start in the background, wait for a few steps, then interrupt as Ctrl-C would.
  const std::string bg = cmd + " > " + q(log) + " 2>&1 & echo $!";
  const auto started = run_command(bg);
  const int pid = std::stoi(started.output);
  bool stepped = false;
  for (int i = 0; i < 600 && !stepped; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    stepped = text.find("Step: 5/") != std::string::npos;
  }
  ASSERT_TRUE(stepped);
  ::kill(pid, SIGINT);
  int status_wait = 0;
  for (int i = 0; i < 300 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(::kill(pid, 0), 0) << "training did not stop after SIGINT";
  (void)status_wait;
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("Stopped by signal"), std::string::npos) << text;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(Saved checkpoint (\S+))"))) << text;
  const CheckpointInfo info = read_checkpoint_info(m[1].str().front() == '/' ? fs::path(m[1].str()) : dir_ / m[1].str());
  EXPECT_FALSE(info.epoch_complete);
  EXPECT_GE(info.step, 5);

  const auto r = run_command(train_cmd("--num_epochs 1 --val_frac 0.2 --generate False"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("partly done"), std::string::npos) << r.output;
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
  auto r = run_command(bare + "--data_dir nowhere");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("nowhere"), std::string::npos);
  r = run_command(train_cmd("--verbose maybe"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  r = run_command(train_cmd("--max_checkpoints 0"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  r = run_command(bare + "--data_dir chunks --config_file missing.config.json");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kConfig)) << r.output;
  r = run_command(train_cmd("--resume_from logdir/nothing/model.ckpt-3"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  // The sample rate must match the data: chunks are 16 kHz.
  r = run_command(train_cmd("--sample_rate 22050"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("samplernn chunk --sample_rate 22050"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace srnn
