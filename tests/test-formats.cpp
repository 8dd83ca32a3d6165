// The file formats of core/: safetensors, model configs and checkpoint metadata.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/checkpoint-info.h"
#include "core/config.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

TEST(Safetensors, RoundTripsTensorsAndMetadata) {
  test::TempDir dir;
  TensorFile f;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  f.put_f32("layer.weight", {2, 3}, a.data());
  Tensor steps;
  steps.dtype = DType::kI64;
  steps.shape = {1};
  const std::int64_t n = 12345678901LL;
  steps.bytes.resize(8);
  std::memcpy(steps.bytes.data(), &n, 8);
  f.put("optim.step", steps);
  f.put_f32("empty", {0}, nullptr);
  f.metadata["config"] = R"({"dim": 4})";
  f.metadata["epoch"] = "3";
  save_safetensors(dir / "m.safetensors", f);

  const TensorFile g = load_safetensors(dir / "m.safetensors");
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_TRUE(g.has("layer.weight"));
  EXPECT_EQ(g.at("layer.weight").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(g.at("layer.weight").to_f32(), a);
  EXPECT_EQ(g.at("optim.step").bytes, steps.bytes);
  EXPECT_EQ(g.at("empty").numel(), 0);
  // Filtering reads only the named tensors, and all metadata.
  const TensorFile h = load_safetensors(dir / "m.safetensors", [](const std::string& name) { return name == "empty"; });
  EXPECT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.metadata.size(), 2u);
}

TEST(Safetensors, FollowsTheFormatByteForByte) {
  test::TempDir dir;
  TensorFile f;
  const float v[2] = {1.0f, 2.0f};
  f.put_f32("x", {2}, v);
  save_safetensors(dir / "x.safetensors", f);
  const std::string bytes = test::read_file(dir / "x.safetensors");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian u64
  EXPECT_EQ(header_len % 8, 0u);              // data starts 8-byte aligned
  const std::string header = bytes.substr(8, header_len);
  EXPECT_NE(header.find(R"("x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]})"), std::string::npos) << header;
  ASSERT_EQ(bytes.size(), 8 + header_len + 8);
  float back[2];
  std::memcpy(back, bytes.data() + 8 + header_len, 8);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 2.0f);
}

TEST(Safetensors, DamagedFilesAreReportedWithTheReason) {
  test::TempDir dir;
  TensorFile f;
  std::vector<float> big(1000, 0.5f);
  f.put_f32("w", {1000}, big.data());
  save_safetensors(dir / "ok", f);
  const std::string bytes = test::read_file(dir / "ok");
  auto expect_bad = [&](const std::string& content, const std::string& needle) {
    std::ofstream(dir / "bad", std::ios::binary) << content;
    try {
      load_safetensors(dir / "bad");
      FAIL() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_bad(bytes.substr(0, bytes.size() - 100), "truncated");
  expect_bad(bytes.substr(0, 5), "only 5 bytes");
  expect_bad(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "header length");
  std::string not_json = bytes;
  not_json[8] = '#';  // the header's opening brace
  expect_bad(not_json, "not JSON");
  expect_bad("RIFF....WAVEfmt not a checkpoint at all", "header length");
  EXPECT_THROW(load_safetensors(dir / "missing"), Error);
}

TEST(Safetensors, Bf16ConversionRoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 lies halfway between two bf16 values (1 and 1 + 2^-7): ties go to even (1).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  for (float x : {3.14159f, -1e-3f, 12345.678f}) EXPECT_NEAR(bf16_to_f32(f32_to_bf16(x)), x, std::fabs(x) / 256);
}

TEST(ModelConfigFile, PrismDefaultIsAcceptedUnchanged) {
  // PRiSM's default.config.json, as shipped.
  const auto j = nlohmann::json::parse(R"({
    "seq_len": 1024, "frame_sizes": [16,64], "dim": 1024, "rnn_type": "gru",
    "num_rnn_layers": 4, "q_type": "mu-law", "q_levels": 256, "emb_size": 256 })");
  std::vector<std::string> warnings;
  const ModelConfig c = model_config_from_json(j, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(config_differences(c, ModelConfig{}), "");  // the built-in defaults are PRiSM's
  EXPECT_EQ(c.lookback(), 64);
  EXPECT_EQ(c.n_frame_tiers(), 2);
  EXPECT_EQ(c.upsample_ratio(0), 16);
  EXPECT_EQ(c.upsample_ratio(1), 4);
  EXPECT_EQ(c.embedding_size(), 256);
  // Round trip through JSON, as checkpoints store it.
  EXPECT_EQ(config_differences(model_config_from_json(to_json(c), nullptr), c), "");
  model_config_from_json(nlohmann::json::parse(R"({"dim": 8, "tempo": 120})"), &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("tempo"), std::string::npos);
}

TEST(ModelConfigFile, DifferencesNameEveryKey) {
  ModelConfig a, b;
  b.dim = 512;
  b.rnn_type = RnnType::kLstm;
  EXPECT_EQ(config_differences(a, b), "dim: 1024 != 512; rnn_type: \"gru\" != \"lstm\"");
}

TEST(CheckpointInfo, MetadataRoundTripsEveryFieldOfTheTrainingState) {
  CheckpointInfo info;
  info.config.dim = 32;
  info.sample_rate_hz = 22050;
  TrainState& s = info.train;
  s.epoch = 9;
  s.epoch_complete = false;
  s.step = 1234;
  s.batch = 3;
  s.window = 17;
  s.loss_sum = 41.25;
  s.accuracy_sum = 3.0625;
  s.epoch_steps = 20;
  s.epoch_seconds = 12.5;
  s.monitor = "val_accuracy";
  s.best = 0.4375;
  s.epochs_without_improvement = 2;
  s.optimizer = "rmsprop";
  s.learning_rate = 0.000905;
  s.rng_seed = 0xfedcba9876543210ULL;  // above 2^63: the JSON must keep all 64 bits
  s.loss_scale = 32768;
  s.loss_scale_good_steps = 11;
  s.data.data_dir = "/data/chunks";
  s.data.files_hash = "0123456789abcdef";
  s.data.train_hash = "fedcba9876543210";
  s.data.n_train_files = 64;
  s.data.val_files = {"b/x.wav", "a.wav"};
  s.data.batch_size = 8;
  s.data.val_frac = 0.125;
  s.data.rng_seed = 5;
  s.origin = "/models/start.safetensors";
  s.metrics = {{"val_loss", 3.5}};
  const auto md = to_metadata(info);
  EXPECT_EQ(md.at("format"), "samplernn-checkpoint-2");
  EXPECT_EQ(md.at("sample_rate"), "22050");
  EXPECT_EQ(md.at("epoch"), "9");  // copies for tools that read only these
  EXPECT_EQ(md.at("step"), "1234");
  const CheckpointInfo back = checkpoint_info_from_metadata(md, "x");
  EXPECT_EQ(back.config.dim, 32);
  EXPECT_EQ(back.sample_rate_hz, 22050);
  // The state serialises to the same JSON after the round trip: every field came back.
  EXPECT_EQ(to_json(back.train), to_json(s));
  // ...and a field to_json dropped would be missing on both sides: check some by name.
  EXPECT_EQ(back.train.epoch, 9);
  EXPECT_FALSE(back.train.epoch_complete);
  EXPECT_EQ(back.train.batch, 3);
  EXPECT_EQ(back.train.window, 17);
  EXPECT_EQ(back.train.accuracy_sum, 3.0625);
  EXPECT_EQ(back.train.epoch_seconds, 12.5);
  EXPECT_EQ(back.train.loss_scale, 32768);
  EXPECT_EQ(back.train.loss_scale_good_steps, 11);
  EXPECT_EQ(back.train.origin, "/models/start.safetensors");
  EXPECT_EQ(back.train.data.n_train_files, 64);
  EXPECT_EQ(back.train.data.train_hash, "fedcba9876543210");
  EXPECT_EQ(back.train.data.val_frac, 0.125);
  EXPECT_EQ(back.train.rng_seed, 0xfedcba9876543210ULL);
  EXPECT_EQ(back.train.data.val_files, (std::vector<std::string>{"b/x.wav", "a.wav"}));
  ASSERT_TRUE(back.train.best.has_value());
  EXPECT_EQ(*back.train.best, 0.4375);
  info.train.best.reset();
  EXPECT_FALSE(checkpoint_info_from_metadata(to_metadata(info), "x").train.best.has_value());
}

TEST(CheckpointInfo, MalformedMetadataIsAnInputError) {
  CheckpointInfo info;
  auto expect_input_error = [](const std::map<std::string, std::string>& md, const std::string& needle) {
    try {
      checkpoint_info_from_metadata(md, "x.ckpt");
      ADD_FAILURE() << "accepted; expected " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto md = to_metadata(info);
  md.erase("config");
  expect_input_error(md, "no 'config' metadata");
  md = to_metadata(info);
  md["format"] = "something-else";
  expect_input_error(md, "checkpoint format 'something-else'");
  md = to_metadata(info);
  md["train_state"] = R"({"epoch": 1})";
  expect_input_error(md, "malformed training state");
  md = to_metadata(info);
  md["train_state"] = "not json";
  expect_input_error(md, "malformed checkpoint metadata");
  EXPECT_TRUE(is_weight_tensor("tiers.0.rnn0.weight_ih"));
  EXPECT_FALSE(is_weight_tensor("optim.tiers.0.rnn0.weight_ih.exp_avg"));
  EXPECT_FALSE(is_weight_tensor("train.rng_state"));
  EXPECT_FALSE(is_weight_tensor("train.rnn.0.h1"));
}

// The metadata samplernn wrote before the training state and the sample rate existed.
std::map<std::string, std::string> format1_metadata(bool skip_conn) {
  ModelConfig c;
  c.skip_conn = skip_conn;
  return {{"format", "samplernn-checkpoint-1"}, {"config", to_json(c).dump()},      {"epoch", "4"},
          {"step", "900"},                      {"epoch_complete", "false"},         {"batches_done", "2"},
          {"rng_seed", "7"},                    {"optimizer", "adam"},
          {"metrics", R"({"loss": 4.5, "monitor": "val_loss", "best": 4.25, "epochs_without_improvement": 1,
                         "data": "00112233aabbccdd"})"}};
}

TEST(CheckpointInfo, Format1IsReadWithoutASampleRate) {
  const CheckpointInfo info = checkpoint_info_from_metadata(format1_metadata(false), "old.ckpt");
  EXPECT_EQ(info.sample_rate_hz, 0);
  EXPECT_EQ(info.train.epoch, 4);
  EXPECT_EQ(info.train.step, 900);
  EXPECT_FALSE(info.train.epoch_complete);
  EXPECT_EQ(info.train.batch, 2);
  EXPECT_EQ(info.train.window, 0);
  EXPECT_EQ(info.train.rng_seed, 7u);
  EXPECT_EQ(info.train.monitor, "val_loss");
  EXPECT_EQ(info.train.best, std::optional<double>(4.25));
  EXPECT_EQ(info.train.epochs_without_improvement, 1);
  EXPECT_EQ(info.train.data.files_hash, "00112233aabbccdd");
  EXPECT_FALSE(info.train.data.recorded());
  EXPECT_EQ(info.train.metrics, nlohmann::json({{"loss", 4.5}}));
  std::string note;
  EXPECT_EQ(model_sample_rate(info, 0, "old.ckpt", &note), 16000);
  EXPECT_NE(note.find("does not record its sample rate"), std::string::npos) << note;
  EXPECT_EQ(model_sample_rate(info, 22050, "old.ckpt", nullptr), 22050);
}

TEST(CheckpointInfo, Format1SkipConnectionModelsAreRefusedClearly) {
  try {
    checkpoint_info_from_metadata(format1_metadata(true), "old.ckpt");
    FAIL() << "an old skip_conn checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_NE(e.message().find("summed the RNN layers' outputs"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("retrain"), std::string::npos) << e.what();
  }
}

TEST(CheckpointInfo, TheSampleRateBelongsToTheModel) {
  CheckpointInfo info;
  info.sample_rate_hz = 22050;
  std::string note;
  EXPECT_EQ(model_sample_rate(info, 0, "m.ckpt", &note), 22050);
  EXPECT_EQ(model_sample_rate(info, 22050, "m.ckpt", &note), 22050);
  EXPECT_EQ(note, "");
  try {
    model_sample_rate(info, 16000, "m.ckpt", &note);
    FAIL() << "a contradicting --sample_rate was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(e.message().find("--sample_rate 16000 contradicts the model's 22050 Hz"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace srnn
