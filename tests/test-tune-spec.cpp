// The search space of `samplernn tune`: PRiSM's defaults, reading it from JSON, checking it
// against the model-config rules, and the plan handed to tools/tune.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/tune-spec.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

// The smallest spec that passes check_tune_spec: 2 rnn types x 2 q types of one tiny model.
TuneSpec minimal_spec() {
  TuneSpec s;
  s.data_dir = "d";
  s.space.frame_sizes = {{4, 16}};
  s.space.seq_len = {64};
  s.space.batch_size = {2};
  s.space.dim = {16};
  s.space.num_rnn_layers = {1};
  return s;
}

// The text of the Error that f throws; a test failure if it throws none, or not kConfig.
std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error was thrown";
  return "";
}

// The error of applying `text` (JSON) from "space.json" to a default spec.
std::string apply_error(const std::string& text) {
  TuneSpec s;
  return config_error([&] { apply_tune_json(json::parse(text), "space.json", &s); });
}

// The error of checking `s` on top of the default model config.
std::string check_error(const TuneSpec& s) {
  return config_error([&] { check_tune_spec(s, ModelConfig{}); });
}

TEST(TuneSpec, DefaultsAreRayTunes) {
  const TuneSpec s;
  EXPECT_EQ(s.space.dim, (std::vector<int>{1024, 2048}));
  EXPECT_EQ(s.space.rnn_type, (std::vector<std::string>{"gru", "lstm"}));
  EXPECT_EQ(s.space.num_rnn_layers, (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(s.space.q_type, (std::vector<std::string>{"mu-law", "linear"}));
  EXPECT_EQ(s.space.rnn_dropout, (std::vector<double>{0.2, 0.4, 0.6}));
  EXPECT_EQ(s.space.learning_rate, (std::vector<double>{1e-2, 1e-3, 1e-4}));
  EXPECT_EQ(s.num_epochs, 30);
  EXPECT_EQ(s.num_trials, 10);
  EXPECT_EQ(s.type, "bayesian");
  // ray_tune.py requires these; there is no default to fall back on.
  EXPECT_TRUE(s.data_dir.empty());
  EXPECT_TRUE(s.space.frame_sizes.empty());
  EXPECT_TRUE(s.space.batch_size.empty());
  EXPECT_TRUE(s.space.seq_len.empty());
}

TEST(TuneSpec, ListKeysTakeAScalarAsOneChoice) {
  TuneSpec s;
  apply_tune_json(json::parse(R"({"dim": 32, "rnn_type": "lstm", "learning_rate": 0.5, "skip_conn": true,
                                  "batch_size": 8.0, "seq_len": [512, 1024]})"),
                  "space.json", &s);
  EXPECT_EQ(s.space.dim, (std::vector<int>{32}));
  EXPECT_EQ(s.space.rnn_type, (std::vector<std::string>{"lstm"}));
  EXPECT_EQ(s.space.learning_rate, (std::vector<double>{0.5}));
  EXPECT_EQ(s.space.skip_conn, (std::vector<bool>{true}));
  EXPECT_EQ(s.space.batch_size, (std::vector<int>{8}));  // a whole float is a whole number
  EXPECT_EQ(s.space.seq_len, (std::vector<int>{512, 1024}));
  EXPECT_EQ(s.space.num_rnn_layers, (std::vector<int>{1, 2, 4, 8}));  // not mentioned: kept
}

TEST(TuneSpec, FrameSizesTakeListsOrOneList) {
  TuneSpec s;
  apply_tune_json(json::parse(R"({"frame_sizes": [[16, 64], [32, 128]]})"), "space.json", &s);
  EXPECT_EQ(s.space.frame_sizes, (std::vector<std::vector<int>>{{16, 64}, {32, 128}}));
  apply_tune_json(json::parse(R"({"frame_sizes": [16, 64]})"), "space.json", &s);
  EXPECT_EQ(s.space.frame_sizes, (std::vector<std::vector<int>>{{16, 64}}));
}

TEST(TuneSpec, TheCommandLineOverridesTheFile) {
  test::TempDir dir;
  std::ofstream(dir / "space.json") << R"({"dim": [32, 64], "seq_len": 512, "id": "from-file", "num_trials": 5})";
  TuneSpec s;
  apply_tune_file((dir / "space.json").string(), &s);
  EXPECT_EQ(s.space.dim, (std::vector<int>{32, 64}));
  EXPECT_EQ(s.num_trials, 5);
  apply_tune_json(json::parse(R"({"dim": 128, "num_trials": 7})"), "the command line", &s);
  EXPECT_EQ(s.space.dim, (std::vector<int>{128}));
  EXPECT_EQ(s.num_trials, 7);
  EXPECT_EQ(s.space.seq_len, (std::vector<int>{512}));  // the file's, not overridden
  EXPECT_EQ(s.id, "from-file");
}

TEST(TuneSpec, TypeErrorsNameTheOriginAndKey) {
  EXPECT_THAT(apply_error(R"({"dim": "big"})"),
              AllOf(HasSubstr("space.json: 'dim'"), HasSubstr("must be a whole number, found \"big\"")));
  EXPECT_THAT(apply_error(R"({"dim": 32.5})"), AllOf(HasSubstr("space.json: 'dim'"), HasSubstr("whole number")));
  EXPECT_THAT(apply_error(R"({"frame_sizes": [[16, "a"]]})"),
              AllOf(HasSubstr("space.json: 'frame_sizes'"), HasSubstr("found \"a\"")));
  EXPECT_THAT(apply_error(R"({"frame_sizes": []})"),
              AllOf(HasSubstr("space.json: 'frame_sizes'"), HasSubstr("list of frame-size lists"), HasSubstr("found []")));
  EXPECT_THAT(apply_error(R"({"frame_sizes": [[16, 64], []]})"),
              AllOf(HasSubstr("space.json: 'frame_sizes'"), HasSubstr("list of frame-size lists")));
  EXPECT_THAT(apply_error(R"({"skip_conn": "yes"})"),
              AllOf(HasSubstr("space.json: 'skip_conn'"), HasSubstr("must be true or false, found \"yes\"")));
  EXPECT_THAT(apply_error(R"({"learning_rate": "x"})"),
              AllOf(HasSubstr("space.json: 'learning_rate'"), HasSubstr("must be a number, found \"x\"")));
  // 2^32 + 32: a valid 64-bit integer that would wrap to 32 as an int.
  EXPECT_THAT(apply_error(R"({"dim": 4294967328})"),
              AllOf(HasSubstr("space.json: 'dim'"), HasSubstr("4294967328 is out of range")));
  EXPECT_THAT(apply_error(R"({"dim": [16, 4294967328]})"), HasSubstr("4294967328 is out of range"));
  EXPECT_THAT(apply_error(R"({"dimm": 32})"), AllOf(HasSubstr("space.json: 'dimm'"), HasSubstr("is not a search-space key")));
  EXPECT_THAT(apply_error("[1, 2]"), AllOf(HasSubstr("space.json"), HasSubstr("must be a JSON object, found [1,2]")));
  EXPECT_THAT(apply_error("32"), HasSubstr("must be a JSON object"));
}

TEST(TuneSpec, FileErrorsNameThePath) {
  test::TempDir dir;
  const std::string path = (dir / "space.json").string();
  std::ofstream(path) << R"({"dim": "big"})";
  TuneSpec s;
  EXPECT_THAT(config_error([&] { apply_tune_file(path, &s); }),
              AllOf(HasSubstr("search-space file '" + path + "': 'dim'"), HasSubstr("whole number")));
  std::ofstream(path) << "{not json";
  EXPECT_THAT(config_error([&] { apply_tune_file(path, &s); }), AllOf(HasSubstr(path), HasSubstr("not valid JSON")));
  EXPECT_THAT(config_error([&] { apply_tune_file((dir / "missing.json").string(), &s); }),
              AllOf(HasSubstr("cannot open"), HasSubstr("missing.json")));
}

TEST(TuneSpec, AValidTinySpecPasses) {
  EXPECT_NO_THROW(check_tune_spec(minimal_spec(), ModelConfig{}));
  // The same through JSON, as `samplernn tune` reads it.
  TuneSpec s;
  apply_tune_json(json::parse(R"({"frame_sizes": [[4, 16]], "seq_len": [64], "batch_size": [2], "dim": [16],
                                  "num_rnn_layers": [1], "data_dir": "d"})"),
                  "space.json", &s);
  EXPECT_NO_THROW(check_tune_spec(s, ModelConfig{}));
}

TEST(TuneSpec, RequiredKeysAreNamed) {
  TuneSpec s = minimal_spec();
  s.data_dir.clear();
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'data_dir'"), HasSubstr("is required")));
  s = minimal_spec();
  s.space.frame_sizes.clear();
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'frame_sizes'"), HasSubstr("is required")));
  s = minimal_spec();
  s.space.batch_size.clear();
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'batch_size'"), HasSubstr("is required")));
  s = minimal_spec();
  s.space.seq_len.clear();
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'seq_len'"), HasSubstr("is required")));
}

TEST(TuneSpec, EveryModelCombinationIsValidated) {
  TuneSpec s = minimal_spec();
  s.space.frame_sizes = {{4, 16}, {16, 60}};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("frame_sizes [16 60]"), HasSubstr("60 is not a multiple of 16")));

  s = minimal_spec();
  s.space.frame_sizes = {{16, 64}};
  s.space.seq_len = {128, 100};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("frame_sizes [16 64], seq_len 100"),
                                    HasSubstr("positive multiple of the top frame size 64")));
  s.space.seq_len = {128};
  EXPECT_NO_THROW(check_tune_spec(s, ModelConfig{}));
}

TEST(TuneSpec, BadChoicesAreRefused) {
  TuneSpec s = minimal_spec();
  s.space.dim = {32, 32};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'dim'"), HasSubstr("twice")));
  s = minimal_spec();
  s.space.rnn_type = {"gru", "rnn"};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'rnn_type'"), HasSubstr("\"rnn\" must be gru or lstm")));
  s = minimal_spec();
  s.space.q_type = {"ulaw"};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'q_type'"), HasSubstr("\"ulaw\" must be")));
  s = minimal_spec();
  s.space.rnn_dropout = {0.0, 1.0};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'rnn_dropout'"), HasSubstr("must be in [0, 1)")));
  s = minimal_spec();
  s.space.learning_rate = {0.0};
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'learning_rate'"), HasSubstr("must be above 0")));
}

TEST(TuneSpec, BadFlagsAreRefused) {
  TuneSpec s = minimal_spec();
  s.val_frac = 0;
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'val_frac'"), HasSubstr("must be above 0 and below 1")));
  s = minimal_spec();
  s.storage = "mysql://x";
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'storage'"), HasSubstr("found 'mysql://x'")));
  s = minimal_spec();
  s.pruner = "foo";
  EXPECT_THAT(check_error(s), AllOf(HasSubstr("'pruner'"), HasSubstr("found 'foo'")));
  // The accepted values of the same flags pass.
  s = minimal_spec();
  s.val_frac = 0.5;
  s.storage = "postgresql://user@host/db";
  s.pruner = "none";
  EXPECT_NO_THROW(check_tune_spec(s, ModelConfig{}));
}

TEST(TunePlan, MomentumIsSearchedOnlyForSgdAndRmsprop) {
  TuneSpec s = minimal_spec();
  EXPECT_FALSE(tune_plan(s, ModelConfig{})["space"].contains("momentum"));  // adam
  for (const std::string optimizer : {"sgd", "rmsprop"}) {
    s.optimizer = optimizer;
    const json plan = tune_plan(s, ModelConfig{});
    ASSERT_TRUE(plan["space"].contains("momentum")) << optimizer;
    EXPECT_EQ(plan["space"]["momentum"], json({0.1, 0.5, 0.9})) << optimizer;
  }
}

TEST(TunePlan, PathsAreAbsoluteAndStorageDefaultsToSqliteInLogdir) {
  TuneSpec s = minimal_spec();
  s.logdir = "runs/./x/../tune";
  s.id = "exp1";
  const json plan = tune_plan(s, ModelConfig{});
  const std::string logdir = (fs::current_path() / "runs/tune").lexically_normal().string();
  EXPECT_EQ(plan["logdir"], logdir);
  EXPECT_TRUE(fs::path(plan["logdir"].get<std::string>()).is_absolute());
  EXPECT_EQ(plan["data_dir"], (fs::current_path() / "d").lexically_normal().string());
  EXPECT_TRUE(fs::path(plan["data_dir"].get<std::string>()).is_absolute());
  EXPECT_EQ(plan["storage"], "sqlite:///" + logdir + "/exp1.db");
  // A storage given is kept as it is.
  s.storage = "postgresql://user@host/db";
  EXPECT_EQ(tune_plan(s, ModelConfig{})["storage"], "postgresql://user@host/db");
}

TEST(TunePlan, HoldsTheSpaceAndTheBaseConfig) {
  ModelConfig base;
  base.q_type = QType::kLinear;
  base.q_levels = 1024;
  base.weight_norm = true;
  const json plan = tune_plan(minimal_spec(), base);
  EXPECT_EQ(plan["base_config"]["q_levels"], 1024);
  EXPECT_EQ(plan["base_config"], to_json(base));
  EXPECT_EQ(plan["space"]["frame_sizes"], json::parse("[[4, 16]]"));
  EXPECT_EQ(plan["space"]["dim"], json::parse("[16]"));
  EXPECT_EQ(plan["space"]["rnn_type"], json::parse(R"(["gru", "lstm"])"));
  EXPECT_EQ(plan["num_epochs"], 30);
}

}  // namespace
}  // namespace srnn
