// load_checkpoint, the LibTorch side of a checkpoint (weights, optimiser slots, the RNG, the
// carried RNN state, pruning masks), against damaged files: thousands of seeded mutations of
// real checkpoints (bytes flipped, files cut short, numbers, dtypes and names in the header
// changed, NaNs planted in the data). Every one must load or fail with an srnn::Error: no
// other exception, no crash, and, in the sanitizer build (scripts/sanitize.sh), no memory
// error. The libFuzzer targets (fuzz/) cover the torch-free readers; this covers the rest.
// Also: an imported PRiSM checkpoint in the LibTorch model, against TensorFlow's logits.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/prism-import.h"
#include "core/safetensors.h"
#include "core/tf-bundle.h"
#include "tests/test-util.h"
#include "train/checkpoint.h"
#include "train/train-step.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

ModelConfig small_config(RnnType rnn, bool skip) {
  ModelConfig c;
  c.frame_sizes = {2, 8};
  c.seq_len = 16;
  c.dim = 4;
  c.num_rnn_layers = 2;
  c.rnn_type = rnn;
  c.skip_conn = skip;
  c.learn_h0 = skip;
  c.q_type = QType::kLinear;
  c.q_levels = 16;
  c.emb_size = 3;
  return c;
}

// A checkpoint as training writes one inside a batch: weights after one Adam step, the
// optimiser's moments, the RNG, the carried RNN state and a pruning mask.
std::string checkpoint_bytes(const ModelConfig& c, const fs::path& path) {
  torch::manual_seed(5);
  SampleRNN model(c);
  auto opt = make_optimizer("adam", 1e-3, 0.9, model);
  ModelState state = model->initial_state(2);
  const torch::Tensor x = torch::randint(0, c.q_levels, {2, c.lookback() + c.seq_len}, torch::kLong);
  train_step(model, *opt, x, state);
  PruneMasks masks;
  masks["tiers.0.rnn0.weight_hh"] = torch::ones_like(model->tiers[0]->w_hh[0], torch::kUInt8);
  CheckpointInfo info;
  info.config = c;
  info.sample_rate_hz = 16000;
  info.train.epoch = 1;
  info.train.step = 1;
  info.train.window = 1;
  info.train.epoch_complete = false;
  save_checkpoint(path, model, opt.get(), info, &state, &masks);
  return test::read_file(path);
}

// One seeded change to a safetensors file: its 8-byte length, the JSON header, then the data.
std::string mutate(std::string bytes, std::mt19937& rng) {
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  const std::size_t data_start = std::min<std::size_t>(bytes.size(), 8 + header);
  const auto pick = [&](std::size_t from, std::size_t to) {
    return from >= to ? from : from + rng() % (to - from);
  };
  // One header character that `is_kind` accepts (of up to 64 tried) becomes first + rng() % n.
  const auto change_header_char = [&](bool (*is_kind)(unsigned char), char first, unsigned n) {
    for (int tries = 0; tries < 64; ++tries) {
      const std::size_t at = pick(8, data_start);
      if (at < bytes.size() && is_kind(static_cast<unsigned char>(bytes[at]))) {
        bytes[at] = static_cast<char>(first + rng() % n);
        return;
      }
    }
  };
  switch (rng() % 7) {
    case 0:  // a few bytes anywhere
      for (int i = 1 + static_cast<int>(rng() % 4); i > 0; --i) bytes[pick(0, bytes.size())] = static_cast<char>(rng());
      break;
    case 1:  // cut short
      bytes.resize(pick(0, bytes.size()));
      break;
    case 2:  // a digit of the header: a shape, an offset, a metadata number
      change_header_char([](unsigned char c) { return std::isdigit(c) != 0; }, '0', 10);
      break;
    case 3: {  // a dtype
      static const char* kTypes[] = {"\"BF16\"", "\"F16\"", "\"I64\"", "\"U8\"", "\"I8\"", "\"F64\""};
      const std::size_t at = bytes.find("\"F32\"", pick(8, data_start));
      if (at != std::string::npos && at < data_start) bytes.replace(at, 5, kTypes[rng() % 6]);
      break;
    }
    case 4:  // a letter of a name or a key
      change_header_char([](unsigned char c) { return std::isalpha(c) != 0; }, 'a', 26);
      break;
    case 5: {  // NaN, infinity or a huge value in the data
      static const std::uint32_t kBits[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu};
      if (bytes.size() >= data_start + 4) {
        const std::size_t at = pick(data_start, bytes.size() - 3);
        const std::uint32_t v = kBits[rng() % 4];
        for (int i = 0; i < 4; ++i) bytes[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
      }
      break;
    }
    default:  // bytes added at the end
      for (int i = 1 + static_cast<int>(rng() % 16); i > 0; --i) bytes.push_back(static_cast<char>(rng()));
  }
  return bytes;
}

TEST(CheckpointMutations, EveryDamagedCheckpointLoadsOrFailsWithAnError) {
  test::TempDir dir;
  int loaded = 0, refused = 0;
  for (const auto& [rnn, skip] : {std::pair{RnnType::kGru, false}, std::pair{RnnType::kLstm, true}}) {
    const ModelConfig c = small_config(rnn, skip);
    const std::string good = checkpoint_bytes(c, dir / "good.ckpt");
    std::mt19937 rng(rnn == RnnType::kGru ? 1 : 2);
    for (int i = 0; i < 1500; ++i) {
      const std::string bad = mutate(good, rng);
      const fs::path path = dir / "bad.ckpt";
      std::ofstream(path, std::ios::binary | std::ios::trunc).write(bad.data(), static_cast<std::streamsize>(bad.size()));
      SampleRNN model(c);
      auto opt = make_optimizer("adam", 1e-3, 0.9, model);
      ModelState state;
      PruneMasks masks;
      try {
        load_checkpoint(path, model, opt.get(), &state, &masks);
        ++loaded;
      } catch (const Error&) {
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << (rnn == RnnType::kGru ? "GRU" : "LSTM with skip_conn") << " mutation " << i
                      << " escaped as a non-srnn exception: " << e.what();
      }
    }
  }
  std::printf("damaged checkpoints: %d loaded, %d refused with an srnn::Error\n", loaded, refused);
  // Both outcomes occur: the mutations reach past the header checks into the tensors.
  EXPECT_GT(loaded, 100);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace srnn

namespace srnn {
namespace {

// An imported PRiSM checkpoint (tests/data/prism, written by TensorFlow) in the LibTorch
// model: TensorFlow's teacher-forced logits, and PRiSM's Adam moments in the optimiser.
TEST(PrismCheckpoint, TheLibTorchModelGivesTensorFlowsLogitsAndTakesTheMoments) {
  const fs::path fixtures = fs::path(SRNN_SOURCE_DIR) / "tests" / "data" / "prism";
  for (const std::string name : {"gru3", "lstm-skip", "tier2", "gru3-mulaw"}) {
    std::ifstream json(fixtures / name / (name + ".config.json"));
    const PrismImport im = import_prism(TfBundle(resolve_tf_checkpoint(fixtures / name)), nlohmann::json::parse(json), 16000);
    test::TempDir dir;
    save_safetensors(dir / "imported.ckpt", im.file);
    SampleRNN model(im.config);
    auto opt = make_optimizer("adam", 1e-3, 0.9, model);
    load_checkpoint(dir / "imported.ckpt", model, opt.get());
    EXPECT_EQ(opt->state().empty(), !im.has_moments) << name;
    const TensorFile ex = load_safetensors(fixtures / name / "expected.safetensors");
    const Tensor& input = ex.at("input");  // (B, T, 1) int32
    std::vector<std::int32_t> levels(static_cast<std::size_t>(input.numel()));
    std::memcpy(levels.data(), input.bytes.data(), input.bytes.size());
    const torch::Tensor x = torch::tensor(levels, torch::kLong).view({input.shape[0], input.shape[1]});
    ModelState states = model->initial_state(x.size(0));
    torch::NoGradGuard ng;
    model->eval();
    const torch::Tensor logits = model->forward(x, states);  // (B, T - L, q)
    const std::vector<float> want = ex.at("logits").to_f32();
    const torch::Tensor expected = torch::tensor(want).view(logits.sizes());
    const double nmse = (logits - expected).pow(2).sum().item<double>() / expected.pow(2).sum().item<double>();
    EXPECT_LE(nmse, 1e-10) << name << ": largest difference " << (logits - expected).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace srnn

namespace srnn {
namespace {

// A shared model says nothing of the machine that trained it: no absolute path anywhere in
// its metadata, the shipped models' and any export's.
void expect_no_absolute_path(const std::filesystem::path& file) {
  const TensorFile f = load_safetensors(file, [](const std::string&) { return false; });
  for (const auto& [key, value] : f.metadata) {
    for (std::size_t at = value.find("\"/"); at != std::string::npos; at = value.find("\"/", at + 1)) {
      ADD_FAILURE() << file << ": metadata '" << key << "' holds an absolute path: " << value.substr(at, 60);
    }
  }
}

TEST(SharedModels, CarryNoAbsolutePaths) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(SRNN_SOURCE_DIR) / "pretrained")) {
    if (e.path().extension() != ".safetensors") continue;
    expect_no_absolute_path(e.path());
    ++n;
  }
  EXPECT_GE(n, 2);
  CheckpointInfo info;
  info.train.data.data_dir = "/home/someone/album/chunks/";
  info.train.origin = "/home/someone/models/base.safetensors";
  const CheckpointInfo shared = without_machine_paths(info);
  EXPECT_EQ(shared.train.data.data_dir, "chunks");
  EXPECT_EQ(shared.train.origin, "base.safetensors");
}

}  // namespace
}  // namespace srnn
