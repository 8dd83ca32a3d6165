// The file formats of core/: safetensors, model configs and checkpoint metadata.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/checkpoint-info.h"
#include "core/config.h"
#include "core/model-spec.h"
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

// A safetensors file from a header text and data bytes, as a hostile writer would make it.
std::string raw_safetensors(std::string header, std::size_t data_bytes) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\x01');
}

TEST(Safetensors, OnlyExactTilingsOfTheDataAreAccepted) {
  test::TempDir dir;
  auto expect_bad = [&](const std::string& header, std::size_t data_bytes, const std::string& needle) {
    std::ofstream(dir / "bad", std::ios::binary) << raw_safetensors(header, data_bytes);
    try {
      load_safetensors(dir / "bad");
      FAIL() << "accepted: " << header;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << header << "\n" << e.what();
    }
  };
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expect_bad("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "overlaps");
  expect_bad("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, "overlaps");  // aliased
  expect_bad("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20, "4 unused bytes");
  expect_bad("{" + a + "}", 16, "8 bytes follow the last tensor");
  expect_bad(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8.5]}})", 8, "data_offsets");
  expect_bad(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, "not a count");
  expect_bad(R"({"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}})", 4, "not a count");
  expect_bad(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "not a count");
  // 2^33 x 2^33 floats: the product overflows 64 bits; it is refused, not wrapped.
  expect_bad(R"({"a":{"dtype":"F32","shape":[8589934592,8589934592],"data_offsets":[0,8]}})", 8, "larger than the file");
  expect_bad(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16, "needs 12");
  expect_bad(R"({"a":{"dtype":"F32","shape":[3,3,3],"data_offsets":[0,8]}})", 16, "larger than the file");
  expect_bad(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "data_offsets");
  expect_bad(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", 8, "exactly dtype, shape and data_offsets");
  expect_bad(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "unsupported dtype");
  expect_bad(R"({"a":[1,2]})", 8, "exactly dtype");
  // Duplicate names: JSON keeps one of them, and the other's bytes become a gap.
  expect_bad("{" + a + "," + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 24, "8 bytes follow");
  // Two empty tensors may share an offset; the tiling still holds.
  std::ofstream(dir / "ok", std::ios::binary)
      << raw_safetensors(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)" + a.substr(0) +
                             R"(,"f":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})",
                         8);
  EXPECT_EQ(load_safetensors(dir / "ok").tensors.size(), 3u);
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

void expect_config_error(const std::string& json_text, const std::string& needle) {
  std::vector<std::string> warnings;
  try {
    model_config_from_json(nlohmann::json::parse(json_text), &warnings);
    FAIL() << "accepted " << json_text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << json_text << "\n" << e.what();
  }
}

TEST(ModelConfigFile, ModelsTooLargeToHoldAreRefusedBeforeAnyAllocation) {
  expect_config_error(R"({"dim": 1000000000})", "'dim': must be at most 16384");
  expect_config_error(R"({"num_rnn_layers": 1000000})", "'num_rnn_layers': must be at most 256");
  // Within every per-key bound, the total still has to fit: the estimate is in the message.
  expect_config_error(R"({"q_type": "linear", "q_levels": 65536})", "GB) for its weights");
  expect_config_error(R"({"dim": 16384, "num_rnn_layers": 8})", "the limit is 2147 million");
  expect_config_error(R"({"seq_len": 1073741824})", "'seq_len': must be at most 1048576");
  expect_config_error(R"({"frame_sizes": [16, 131072], "seq_len": 131072})", "must be at most 65536");
  // Integers are never truncated: 2^32 + 32 is not 32.
  expect_config_error(R"({"dim": 4294967328})", "'dim': 4294967328 is out of range");
  expect_config_error(R"({"dim": 18446744073709551615})", "out of range");
  expect_config_error(R"({"dim": -4294967296})", "out of range");
  expect_config_error(R"({"dim": 16.5})", "must be an integer");
  expect_config_error(R"({"dim": 1e300})", "out of range");
  std::vector<std::string> warnings;
  EXPECT_EQ(model_config_from_json(nlohmann::json::parse(R"({"dim": 512.0})"), &warnings).dim, 512);
  // PRiSM's default and the small config are far below the limit.
  EXPECT_LT(model_floats(ModelConfig{}), kMaxModelFloats / 20);
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
  s.warmup_start = 1200;
  s.warmup_steps = 500;
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
  EXPECT_EQ(back.train.warmup_start, 1200);
  EXPECT_EQ(back.train.warmup_steps, 500);
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
  // The statistics of the training data, when recorded, come back as they went.
  EXPECT_TRUE(back.corpus_stats.is_null());
  info.corpus_stats = {{"files", 3}, {"collapsed", 0}};
  EXPECT_EQ(checkpoint_info_from_metadata(to_metadata(info), "x").corpus_stats, info.corpus_stats);
}

TEST(TrainState, TheWarmUpFactorRisesLinearlyAndOlderStatesHaveNone) {
  TrainState s;
  EXPECT_EQ(s.warmup_factor(), 1.0);
  s.warmup_start = 100;
  s.warmup_steps = 4;
  const double want[] = {0.25, 0.5, 0.75, 1.0, 1.0};
  for (int k = 0; k < 5; ++k) {
    s.step = 100 + k;  // the factor is for step s.step + 1
    EXPECT_DOUBLE_EQ(s.warmup_factor(), want[k]) << k;
  }
  nlohmann::json j = to_json(TrainState{});
  j.erase("warmup_start");
  j.erase("warmup_steps");
  EXPECT_EQ(train_state_from_json(j, "old").warmup_steps, 0);
  j["warmup_steps"] = -3;
  EXPECT_THROW(train_state_from_json(j, "bad"), Error);
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

// A checkpoint file of `config` with every weight (zeros) and the given extra tensors.
TensorFile checkpoint_file(const ModelConfig& config) {
  TensorFile f;
  for (const auto& [name, shape] : weight_shapes(config)) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    const std::vector<float> zeros(static_cast<std::size_t>(n), 0.0f);
    f.put_f32(name, shape, zeros.data());
  }
  CheckpointInfo info;
  info.config = config;
  f.metadata = to_metadata(info);
  return f;
}

TEST(CheckpointInfo, TheTensorsMustBeExactlyThoseOfTheConfig) {
  test::TempDir dir;
  ModelConfig c;
  c.dim = 8;
  c.frame_sizes = {4, 16};
  c.seq_len = 64;
  c.num_rnn_layers = 2;
  c.emb_size = 4;
  c.skip_conn = true;
  const auto expect_bad = [&](TensorFile f, const std::string& needle) {
    save_safetensors(dir / "c", f);
    try {
      read_checkpoint_info(dir / "c");
      FAIL() << "accepted; expected " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  TensorFile good = checkpoint_file(c);
  save_safetensors(dir / "good", good);
  EXPECT_EQ(read_checkpoint_info(dir / "good").config.dim, 8);
  TensorFile f = good;
  f.tensors.erase("tiers.1.skip0.bias");
  expect_bad(f, "lacks tensor 'tiers.1.skip0.bias'");
  f = good;
  const float x[3] = {0, 0, 0};
  f.put_f32("tiers.0.input.weight", {8, 3}, std::vector<float>(24).data());
  expect_bad(f, "has tensor 'tiers.0.input.weight' as F32 [8, 3]; its config needs a float [8, 4]");
  f = good;
  f.put_f32("backdoor", {3}, x);
  expect_bad(f, "holds tensor 'backdoor'");
  f = good;
  f.put_f32("optim.tiers.0.input.bias.exp_avg", {3}, x);
  expect_bad(f, "holds tensor 'optim.tiers.0.input.bias.exp_avg'");
  f = good;
  f.put_f32("train.rnn.0.h0", {1, 2, 8}, std::vector<float>(16).data());
  f.put_f32("train.rnn.1.h1", {1, 3, 8}, std::vector<float>(24).data());
  expect_bad(f, "RNN states of different batch sizes");
  f = good;
  f.put_f32("train.rnn.0.c0", {1, 2, 8}, std::vector<float>(16).data());  // a GRU has no cell state
  expect_bad(f, "holds tensor 'train.rnn.0.c0'");
  // An int8 export's matrices come with their scales, and only the matrices int8 quantises.
  TensorFile i8 = good;
  quantise_matrices_int8(i8, c);
  save_safetensors(dir / "i8", i8);
  EXPECT_EQ(read_checkpoint_info(dir / "i8").config.dim, 8);
  f = i8;
  f.tensors.erase("tiers.0.rnn1.weight_hh.scale");
  expect_bad(f, "has int8 weight 'tiers.0.rnn1.weight_hh' without its float scales 'tiers.0.rnn1.weight_hh.scale' [24, 1]");
  f = i8;
  f.put_f32("tiers.0.upsample.weight.scale", {8, 4}, std::vector<float>(32).data());
  expect_bad(f, "without its float scales 'tiers.0.upsample.weight.scale' [4, 8]");
  f = i8;
  f.put("tiers.0.input.weight", f.at("tiers.0.rnn1.weight_hh"));
  f.tensors["tiers.0.input.weight"].shape = {8, 4};
  f.tensors["tiers.0.input.weight"].bytes.resize(32);
  expect_bad(f, "has tensor 'tiers.0.input.weight' as I8 [8, 4]");
  // What training stores beside the weights is accepted.
  f = good;
  f.put_f32("optim.tiers.0.input.bias.exp_avg", {8}, std::vector<float>(8).data());
  Tensor step;
  step.dtype = DType::kI64;
  step.shape = {1};
  step.bytes.assign(8, 0);
  f.put("optim.tiers.0.input.bias.step", step);
  Tensor rng;
  rng.dtype = DType::kU8;
  rng.shape = {5};
  rng.bytes.assign(5, 0);
  f.put("train.rng_state", rng);
  f.put_f32("train.rnn.1.h1", {1, 2, 8}, std::vector<float>(16).data());
  save_safetensors(dir / "full", f);
  EXPECT_EQ(read_checkpoint_info(dir / "full").config.num_rnn_layers, 2);
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
