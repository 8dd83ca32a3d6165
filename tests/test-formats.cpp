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

TEST(CheckpointInfo, MetadataRoundTripsAndIsChecked) {
  CheckpointInfo info;
  info.config.dim = 32;
  info.epoch = 9;
  info.step = 1234;
  info.epoch_complete = false;
  info.batches_done = 3;
  info.rng_seed = 77;
  info.optimizer = "rmsprop";
  info.metrics = {{"val_loss", 3.5}};
  const CheckpointInfo back = checkpoint_info_from_metadata(to_metadata(info), "x");
  EXPECT_EQ(back.config.dim, 32);
  EXPECT_EQ(back.epoch, 9);
  EXPECT_EQ(back.step, 1234);
  EXPECT_FALSE(back.epoch_complete);
  EXPECT_EQ(back.batches_done, 3);
  EXPECT_EQ(back.rng_seed, 77u);
  EXPECT_EQ(back.optimizer, "rmsprop");
  EXPECT_EQ(back.metrics["val_loss"], 3.5);
  auto md = to_metadata(info);
  md.erase("config");
  EXPECT_THROW(checkpoint_info_from_metadata(md, "x"), Error);
  md = to_metadata(info);
  md["format"] = "something-else";
  EXPECT_THROW(checkpoint_info_from_metadata(md, "x"), Error);
  EXPECT_TRUE(is_weight_tensor("tiers.0.rnn0.weight_ih"));
  EXPECT_FALSE(is_weight_tensor("optim.tiers.0.rnn0.weight_ih.exp_avg"));
  EXPECT_FALSE(is_weight_tensor("train.rng_state"));
}

}  // namespace
}  // namespace srnn
