// Seed corpora for the fuzz targets (fuzz/, scripts/fuzz.sh): valid examples of every format
// a target parses, each checked to load with the real loader, so that fuzzing starts from
// inputs that reach deep into the parsers. With SRNN_FUZZ_CORPUS set they are kept there
// (one folder per target); otherwise they go to a scratch folder.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "audio/decode.h"
#include "core/checkpoint-info.h"
#include "core/config.h"
#include "core/tune-spec.h"
#include "core/model-spec.h"
#include "core/safetensors.h"
#include "core/tf-bundle.h"
#include "infer/weights.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

class FuzzCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("SRNN_FUZZ_CORPUS");
    root_ = env != nullptr && *env != '\0' ? fs::path(env) : scratch_.path();
  }
  fs::path folder(const std::string& target) {
    fs::create_directories(root_ / target);
    return root_ / target;
  }
  test::TempDir scratch_;
  fs::path root_;
};

// Small models of every kind the checkpoint code handles.
std::vector<ModelConfig> tiny_configs() {
  std::vector<ModelConfig> out;
  for (int variant = 0; variant < 6; ++variant) {
    ModelConfig c;
    c.seq_len = 16;
    c.frame_sizes = variant == 1 ? std::vector<int>{4} : variant == 2 ? std::vector<int>{2, 4, 8} : std::vector<int>{2, 8};
    c.dim = 4;
    c.num_rnn_layers = variant % 2 + 1;
    c.q_type = variant == 4 ? QType::kMuLaw : QType::kLinear;
    c.q_levels = variant == 4 ? 256 : 16;
    c.emb_size = 3;
    c.rnn_type = variant >= 3 ? RnnType::kLstm : RnnType::kGru;
    c.skip_conn = variant == 3 || variant == 5;
    c.learn_h0 = variant == 5;
    c.weight_norm = variant == 2 || variant == 5;
    c.seq_len = c.lookback() * 2;
    validate(c);
    out.push_back(c);
  }
  return out;
}

// A checkpoint of `c` with random weights, as training writes it (optionally with an
// optimiser slot, the RNG and a carried RNN state), in fp32 or bf16; the caller may make its
// matrices int8.
TensorFile checkpoint_of(const ModelConfig& c, bool with_state, bool bf16, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  TensorFile f;
  for (const auto& [name, shape] : weight_shapes(c)) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = u(rng);
    f.put_f32(name, shape, v.data());
    if (bf16) {
      Tensor& t = f.tensors[name];
      Tensor h;
      h.dtype = DType::kBF16;
      h.shape = t.shape;
      for (float x : v) {
        const std::uint16_t b = f32_to_bf16(x);
        h.bytes.push_back(static_cast<std::uint8_t>(b & 0xff));
        h.bytes.push_back(static_cast<std::uint8_t>(b >> 8));
      }
      t = h;
    }
    if (with_state && name == "sample.output.bias") {
      f.put_f32("optim." + name + ".exp_avg", shape, v.data());
      Tensor step;
      step.dtype = DType::kI64;
      step.shape = {1};
      step.bytes.assign(8, 0);
      step.bytes[0] = 3;
      f.put("optim." + name + ".step", step);
    }
  }
  if (with_state) {
    Tensor state;
    state.dtype = DType::kU8;
    state.shape = {16};
    state.bytes.assign(16, 1);
    f.put("train.rng_state", state);
    const std::vector<float> h(static_cast<std::size_t>(2 * c.dim), 0.25f);
    f.put_f32("train.rnn.0.h0", {1, 2, c.dim}, h.data());
  }
  CheckpointInfo info;
  info.config = c;
  info.sample_rate_hz = 16000;
  info.train.epoch = 2;
  info.train.step = 40;
  info.train.epoch_complete = !with_state;
  info.train.window = with_state ? 3 : 0;
  info.train.best = 4.5;
  info.train.data.data_dir = "/data/chunks";
  info.train.data.val_files = {"a.wav", "b/c.wav"};
  f.metadata = to_metadata(info);
  return f;
}

TEST_F(FuzzCorpus, CheckpointsOfEveryKindLoadIntoTheEngine) {
  int n = 0;
  for (const ModelConfig& c : tiny_configs()) {
    for (const bool with_state : {false, true}) {
      const fs::path path = folder("checkpoint") / ("ckpt-" + std::to_string(n++));
      TensorFile f = checkpoint_of(c, with_state, n % 3 == 0, static_cast<std::uint32_t>(n));
      if (n % 3 == 1) quantise_matrices_int8(f, c);  // as export --weights int8 writes it
      save_safetensors(path, f);
      fs::copy_file(path, folder("safetensors") / path.filename(), fs::copy_options::overwrite_existing);
      const EngineWeights w = load_engine_weights(path);
      EXPECT_EQ(w.config.dim, 4);
      EXPECT_EQ(w.info.sample_rate_hz, 16000);
      EXPECT_LT(fs::file_size(path), 64u * 1024) << "seeds should stay small";
    }
  }
  EXPECT_EQ(n, 12);
}

TEST_F(FuzzCorpus, ConfigsAndTrainingStatesParse) {
  const std::vector<std::string> configs = {
      R"({"seq_len": 1024, "frame_sizes": [16,64], "dim": 1024, "rnn_type": "gru", "num_rnn_layers": 4,
          "q_type": "mu-law", "q_levels": 256, "emb_size": 256})",
      R"({"seq_len": 512, "frame_sizes": [8], "dim": 64, "rnn_type": "LSTM", "num_rnn_layers": 2,
          "q_type": "linear", "q_levels": 1024, "emb_size": null, "skip_conn": true, "rnn_dropout": 0.25,
          "learn_h0": true, "weight_norm": true, "unknown_key": [1, 2]})",
      R"({"frame_sizes": [4, 16, 64], "seq_len": 128, "dim": 32.0, "q_type": "a-law"})",
  };
  int n = 0;
  for (const std::string& text : configs) {
    const fs::path path = folder("config") / ("config-" + std::to_string(n++) + ".json");
    std::ofstream(path) << text;
    std::vector<std::string> warnings;
    EXPECT_NO_THROW(load_model_config(path, &warnings)) << text;
  }
  const fs::path state = folder("config") / "train-state.json";
  std::ofstream(state) << to_json(checkpoint_info_from_metadata(
                                      checkpoint_of(tiny_configs()[0], true, false, 1).metadata, "x")
                                      .train)
                              .dump();
  EXPECT_NO_THROW(train_state_from_json(nlohmann::json::parse(test::read_file(state)), "x"));
  // A search space of samplernn tune (the same target reads it).
  const std::string space = R"({"frame_sizes": [[16, 64], [32, 128]], "batch_size": [16, 32], "seq_len": [512, 1024],
      "dim": [64, 128], "rnn_type": ["gru", "lstm"], "num_rnn_layers": [2, 4], "q_type": ["mu-law", "linear"],
      "rnn_dropout": [0.2], "learning_rate": [0.001], "skip_conn": [true, false], "data_dir": "chunks",
      "optimizer": "sgd", "momentum": [0.5, 0.9], "num_trials": 4, "pruner": "hyperband"})";
  std::ofstream(folder("config") / "search-space.json") << space;
  TuneSpec spec;
  EXPECT_NO_THROW(apply_tune_json(nlohmann::json::parse(space), "seed", &spec));
  EXPECT_NO_THROW(check_tune_spec(spec, ModelConfig{}));
}

// The PRiSM fixtures (tests/data/prism) as fuzz-tf-bundle reads them: the index's length,
// the index, the data shard.
TEST_F(FuzzCorpus, PrismCheckpointsReadAsBundles) {
  const fs::path fixtures = fs::path(SRNN_SOURCE_DIR) / "tests" / "data" / "prism";
  int n = 0;
  for (const auto& dir : fs::directory_iterator(fixtures)) {
    const std::string prefix = (dir.path() / "model.ckpt-3").string();
    ASSERT_NO_THROW(TfBundle{prefix}) << prefix;
    const std::string index = test::read_file(prefix + ".index"), shard = test::read_file(prefix + ".data-00000-of-00001");
    const std::uint32_t len = static_cast<std::uint32_t>(index.size());
    std::ofstream out(folder("tf-bundle") / dir.path().filename(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(&len), 4);
    out << index << shard;
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST_F(FuzzCorpus, AudioOfEveryFormatDecodes) {
  const std::vector<float> tone = test::sine(440, 0.4, 8000, 400);  // 50 ms
  const std::vector<std::pair<std::string, int>> formats = {
      {"pcm16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},   {"pcm24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24},
      {"float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT},    {"u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8},
      {"tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},  {"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
      {"tone.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16},  {"tone.au", SF_FORMAT_AU | SF_FORMAT_PCM_16},
      {"stereo.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
  };
  for (const auto& [name, format] : formats) {
    const fs::path path = folder("decode") / name;
    if (name == "stereo.wav") {
      std::vector<float> both;
      for (float x : tone) both.insert(both.end(), {x, -x});
      test::write_sndfile(path, both, 8000, 2, format);
    } else {
      test::write_sndfile(path, tone, 8000, 1, format);
    }
    const DecodedAudio a = load_mono(path, 16000);
    EXPECT_GT(a.samples.size(), 500u) << name;
  }
}

}  // namespace
}  // namespace srnn
