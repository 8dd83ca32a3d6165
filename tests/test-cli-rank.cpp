// `samplernn rank` end to end through the binary, on two checkpoints of a model the test
// trains itself: the table, the scores file, skipping what was scored, the clips kept, and
// `--checkpoint_path FOLDER` taking the best.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/clip-scores.h"
#include "core/error.h"
#include "core/run-layout.h"
#include "core/safetensors.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;

const std::string kBin = SRNN_BIN;
std::string q(const fs::path& p) { return test::shell_quote(p); }

class CliRank : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    test::write_tiny_corpus(d);
    const auto r = run_command("cd " + q(d) + " && " + kBin +
                               " train --id r --data_dir data --config_file tiny.config.json --batch_size 4"
                               " --num_epochs 2 --generate False --num_threads 1 --rng_seed 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<fs::path> runs = run_folders(d / "logdir" / "r");
    ASSERT_EQ(runs.size(), 1u) << r.output;
    run_ = new fs::path(runs[0]);
    ASSERT_EQ(checkpoints_in(*run_).size(), 2u) << r.output;
  }
  static void TearDownTestSuite() {
    delete run_;
    delete dir_;
  }
  static std::string rank(const std::string& args) {
    return "cd " + q(dir_->path()) + " && " + kBin + " rank logdir/r --num_clips 2 --dur 0.5 --num_threads 1 " + args;
  }
  static test::TempDir* dir_;
  static fs::path* run_;
};
test::TempDir* CliRank::dir_ = nullptr;
fs::path* CliRank::run_ = nullptr;

TEST_F(CliRank, ScoresEveryCheckpointRecordsThemAndMarksTheOneAFolderTakes) {
  auto r = run_command(rank("--output_dir clips"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[1/2]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[2/2]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max|DC|"), std::string::npos) << r.output;
  // The marked row is the best's, and generate on the folder takes it.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"((\S+/model\.ckpt-\d) .*<- --checkpoint_path takes this)")))
      << r.output;
  const std::string chosen = fs::path(m[1].str()).filename().string();

  const nlohmann::json scores = read_clip_scores(*run_);
  ASSERT_EQ(scores.size(), 2u) << scores.dump(1);
  for (const auto& [name, entry] : scores.items()) {
    EXPECT_GE(entry["score"].get<double>(), 0.0) << name;
    EXPECT_LE(entry["score"].get<double>(), 1.0) << name;
    EXPECT_GT(entry["step"].get<std::int64_t>(), 0) << name;
    EXPECT_EQ(entry["settings"], (nlohmann::json{{"n_clips", 2}, {"dur_s", 0.5}, {"temperature", 0.95},
                                                 {"top_p", 1.0}, {"dc_guard", false}, {"rng_seed", 1}}));
    ASSERT_EQ(entry["clips"].size(), 2u) << name;
    for (const char* key : {"file", "score", "passes", "failures", "tonal_fraction", "partials", "dc_offset",
                            "silent_fraction", "centroid_hz", "rms_dbfs"}) {
      EXPECT_TRUE(entry["clips"][0].contains(key)) << name << " lacks " << key;
    }
    const std::string file = entry["clips"][1]["file"];
    EXPECT_EQ(file, run_->filename().string() + "_" + name + "_1.wav");
    EXPECT_TRUE(fs::exists(dir_->path() / "clips" / file)) << file;
  }
  const std::vector<ScoredCheckpoint> best = scored_checkpoints(dir_->path() / "logdir" / "r");
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].path.filename().string(), chosen);

  r = run_command("cd " + q(dir_->path()) + " && " + kBin +
                  " generate --checkpoint_path logdir/r --output_path out/a.wav --dur 0.1 --num_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Using " + chosen + " (run " + run_->filename().string() + "): the best clip score"),
            std::string::npos)
      << r.output;

  // Scored with these settings already: nothing is generated again, and the file stays.
  const std::string before = test::read_file(*run_ / kClipScoresFile);
  r = run_command(rank("--json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("scored before"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_file(*run_ / kClipScoresFile), before);
  const nlohmann::json table = nlohmann::json::parse(r.output.substr(r.output.find("[\n  {")));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_TRUE(table[0]["chosen"].get<bool>());
  EXPECT_FALSE(table[1]["chosen"].get<bool>());
  EXPECT_GE(table[0]["score"].get<double>(), table[1]["score"].get<double>());
  EXPECT_EQ(fs::path(table[0]["checkpoint"].get<std::string>()).filename().string(), chosen);

  // Other settings are scored anew; --rescore scores again whatever was recorded.
  r = run_command(rank("--temperature 0.9"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("scored before"), std::string::npos) << r.output;
  EXPECT_EQ(read_clip_scores(*run_)["model.ckpt-1"]["settings"]["temperature"], 0.9);
}

TEST_F(CliRank, ACheckpointWithoutCorpusFiguresIsScoredFromFailuresAlone) {
  const fs::path old = dir_->path() / "old" / "04.05.2026_10.00.00";
  fs::create_directories(old);
  TensorFile f = load_safetensors(checkpoints_in(*run_).back().second);
  ASSERT_EQ(f.metadata.erase("corpus_stats"), 1u);
  save_safetensors(old / "model.ckpt-2", f);
  const auto r = run_command("cd " + q(dir_->path()) + " && " + kBin + " rank " + q(old) +
                             " --num_clips 1 --dur 0.5 --num_threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: " + (old / "model.ckpt-2").string() + " records no figures of its training data"),
            std::string::npos)
      << r.output;
  const nlohmann::json entry = read_clip_scores(old)["model.ckpt-2"];
  const nlohmann::json clip = entry["clips"][0];
  // Only failures count: 1 without one, 0 with one.
  EXPECT_EQ(clip["score"].get<double>(), clip["failures"].empty() ? 1.0 : 0.0) << entry.dump(1);
}

TEST_F(CliRank, AFolderWithoutCheckpointsIsOneClearLine) {
  fs::create_directories(dir_->path() / "empty" / "01.01.2026_00.00.00");
  test::expect_one_error_line("cd " + q(dir_->path()) + " && " + kBin + " rank empty",
                              exit_code(ErrorKind::kInput), "holds no checkpoints");
  test::expect_one_error_line("cd " + q(dir_->path()) + " && " + kBin + " rank nowhere",
                              exit_code(ErrorKind::kInput), "is not a folder");
  test::expect_one_error_line(rank("--num_clips 0"), exit_code(ErrorKind::kUsage), "--num_clips");
}

}  // namespace
}  // namespace srnn
