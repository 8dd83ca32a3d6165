// The files samplernn writes, opened by the programs users open them with: the training
// report in headless Chromium (Playwright), the TensorBoard event files by TensorBoard's own
// reader, and checkpoints and exports by the `safetensors` package. The Python peers live in
// tests/peers/ and run under the project's venv (SRNN_PEER_PYTHON, scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;

const std::string kBin = SRNN_BIN;
const std::string kPython = SRNN_PEER_PYTHON;
const std::string kPeers = std::string(SRNN_SOURCE_DIR) + "/tests/peers/";
std::string q(const fs::path& p) { return test::shell_quote(p); }

std::string hex(const std::vector<std::uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * bytes.size(), '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  return s;
}

// What samplernn's own reader finds in a safetensors file, as check-safetensors.py expects it.
nlohmann::json as_written(const fs::path& path, const fs::path& dequantise_against = {}) {
  const TensorFile f = load_safetensors(path);
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& [name, t] : f.tensors) {
    tensors[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"hex", hex(t.bytes)}};
  }
  return {{"path", path.string()},
          {"metadata", f.metadata},
          {"tensors", tensors},
          {"dequantise_against", dequantise_against.empty() ? nlohmann::json() : nlohmann::json(dequantise_against.string())}};
}

// One short training run shared by the tests: two epochs of a tiny model, a clip per epoch.
class Peers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing: run scripts/install-deps.sh, which makes the venv";
    dir_ = new test::TempDir();
    const fs::path root = dir_->path();
    fs::create_directories(root / "albums");
    for (const double f0 : {220.0, 330.0}) {
      const std::size_t n = 10 * 16000;
      std::vector<float> x = test::sine(f0, 0.3, 16000, n);
      const std::vector<float> z = test::noise(0.02, n, static_cast<std::uint32_t>(f0));
      for (std::size_t i = 0; i < n; ++i) x[i] += z[i];
      test::write_sndfile(root / "albums" / (std::to_string(static_cast<int>(f0)) + ".wav"), x, 16000, 1,
                          SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    }
    std::ofstream(root / "tiny.config.json")
        << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 16, "rnn_type": "gru", "num_rnn_layers": 1,
               "q_type": "mu-law", "q_levels": 256, "emb_size": 16, "skip_conn": false})";
    auto r = run_command("cd " + q(root) + " && " + kBin + " chunk --input_dir albums --output_dir chunks" +
                         " --chunk_length 1000 --overlap 100");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_command("cd " + q(root) + " && " + kBin + " train --id song --data_dir chunks --config_file tiny.config.json" +
                    " --batch_size 4 --num_epochs 2 --val_frac 0.2 --output_file_dur 1 --rng_seed 3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(logdir/song/([0-9._]+)/model\.ckpt-2)"))) << r.output;
    run_dir_ = new fs::path(root / "logdir" / "song" / m[1].str());
  }
  static void TearDownTestSuite() {
    delete run_dir_;
    delete dir_;
  }
  static test::CommandResult peer(const std::string& script, const std::string& args) {
    return run_command(q(kPython) + " " + q(kPeers + script) + " " + args);
  }
  static test::TempDir* dir_;
  static fs::path* run_dir_;
};
test::TempDir* Peers::dir_ = nullptr;
fs::path* Peers::run_dir_ = nullptr;

TEST_F(Peers, ChromiumLoadsEveryPlayerAndImageOfTheReport) {
  // Only a machine without Debian's archive (a lent GPU machine) may leave Chromium out.
  if (std::getenv("SRNN_SKIP_BROWSER") != nullptr) GTEST_SKIP() << "SRNN_SKIP_BROWSER is set";
  const fs::path report = dir_->path() / "logdir" / "song" / "report.html";
  ASSERT_TRUE(fs::exists(report));
  const fs::path shot = dir_->path() / "report.png";
  const auto r = peer("check-report.py", q(report) + " " + q(shot));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Two clips: two players and two spectrograms, and the metric charts.
  EXPECT_NE(r.output.find("audio 2, images 2,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("failed 0"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(shot) && fs::file_size(shot) > 10000) << r.output;
}

TEST_F(Peers, TensorBoardReadsEveryTagStepValueAndClip) {
  const auto r = peer("check-tensorboard.py", q(*run_dir_) + " " + q(dir_->path() / "generated" / "song"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 clips"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("all equal"), std::string::npos) << r.output;
}

TEST_F(Peers, SafetensorsReadsCheckpointsAndEveryExportAsWritten) {
  const fs::path ckpt = *run_dir_ / "model.ckpt-2";
  nlohmann::json files = nlohmann::json::array({as_written(*run_dir_ / "model.ckpt-1"), as_written(ckpt)});
  for (const std::string weights : {"fp32", "bf16", "int8"}) {
    const fs::path out = dir_->path() / ("export-" + weights + ".safetensors");
    const auto r = run_command(kBin + " export --checkpoint_path " + q(ckpt) + " --output " + q(out) + " --weights " + weights);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    files.push_back(as_written(out, weights == "int8" ? ckpt : fs::path()));
  }
  const fs::path expected = dir_->path() / "expected.json";
  std::ofstream(expected) << nlohmann::json{{"files", files}}.dump();
  const auto r = peer("check-safetensors.py", q(expected));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("int8 matrices with scales"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("differences"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace srnn
