// PRiSM checkpoints: TensorFlow's bundle reader and import_prism against fixtures that
// TensorFlow and Keras wrote (tools/prism_fixtures.py, committed under tests/data/prism;
// SRNN_PRISM_FIXTURES names a freshly made set instead). The imported model must give
// TensorFlow's teacher-forced logits, and Adam's moments must sit beside the weights they
// belong to.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/prism-import.h"
#include "core/run-layout.h"
#include "core/tf-bundle.h"
#include "infer/engine.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() {
  const char* env = std::getenv("SRNN_PRISM_FIXTURES");
  return env != nullptr && *env ? fs::path(env) : fs::path(SRNN_SOURCE_DIR) / "tests" / "data" / "prism";
}

nlohmann::json prism_config(const std::string& name) {
  std::ifstream in(fixtures() / name / (name + ".config.json"));
  return nlohmann::json::parse(in);
}

TensorFile expected(const std::string& name) { return load_safetensors(fixtures() / name / "expected.safetensors"); }

std::vector<std::int32_t> ints(const Tensor& t) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(t.numel()));
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

// The imported model's logits, teacher forced through the CPU engine on the fixture's input,
// against TensorFlow's: NMSE over every logit.
double logits_nmse(const std::string& name, const PrismImport& im) {
  const TensorFile ex = expected(name);
  const Tensor& input = ex.at("input");  // (B, T, 1) levels
  const std::vector<float> want = ex.at("logits").to_f32();  // (B, T - L, q)
  const std::vector<std::int32_t> levels = ints(input);
  const int B = static_cast<int>(input.shape[0]);
  const std::int64_t T = input.shape[1], L = im.config.lookback(), q = im.config.q_levels;
  EXPECT_EQ(ex.at("logits").shape, (std::vector<std::int64_t>{B, T - L, q}));
  test::TempDir dir;
  save_safetensors(dir / "imported.ckpt", im.file);
  const EngineWeights w = load_engine_weights(dir / "imported.ckpt");
  Engine engine(w, B);
  engine.reset();
  std::vector<const std::int32_t*> rows(B);
  for (int s = 0; s < B; ++s) rows[s] = levels.data() + s * T;
  double err = 0, ref = 0, worst = 0;
  for (std::int64_t t = L; t < T; ++t) {
    engine.step_frames(rows.data(), t);
    const float* z = engine.sample_logits(rows.data(), t);
    for (int s = 0; s < B; ++s) {
      for (std::int64_t i = 0; i < q; ++i) {
        const double a = z[s * q + i], b = want[(s * (T - L) + (t - L)) * q + i];
        err += (a - b) * (a - b);
        ref += b * b;
        worst = std::max(worst, std::fabs(a - b));
      }
    }
  }
  EXPECT_GT(ref, 0.0);
  std::cout << name << ": logits NMSE " << err / ref << ", largest difference " << worst << "\n";
  return err / ref;
}

class PrismFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(PrismFixture, ImportsToTensorFlowsTeacherForcedLogits) {
  const std::string name = GetParam();
  const TfBundle bundle(resolve_tf_checkpoint(fixtures() / name));
  const PrismImport im = import_prism(bundle, prism_config(name), 16000);
  EXPECT_LE(logits_nmse(name, im), 1e-10) << name;
  EXPECT_EQ(im.epoch, 3);
  // The file is a checkpoint every loader accepts.
  test::TempDir dir;
  save_safetensors(dir / "imported.ckpt", im.file);
  const CheckpointInfo info = read_checkpoint_info(dir / "imported.ckpt");
  EXPECT_EQ(info.sample_rate_hz, 16000);
  EXPECT_EQ(config_differences(info.config, im.config), "");
}

// Every element of a weight and of its Adam moments comes from the same element of PRiSM's
// variable: TensorFlow's own pairing of value and moment (the fixture's value/<path> and
// m/<path>, v/<path>) must hold for every imported element. The values are random and
// non-zero, so a value names its element.
TEST_P(PrismFixture, AdamMomentsSitBesideTheirWeights) {
  const std::string name = GetParam();
  const TfBundle bundle(resolve_tf_checkpoint(fixtures() / name));
  const PrismImport im = import_prism(bundle, prism_config(name), 16000);
  const TensorFile ex = expected(name);
  if (!ex.has("iterations")) {
    EXPECT_FALSE(im.has_moments);
    for (const auto& [key, t] : im.file.tensors) EXPECT_NE(key.rfind("optim.", 0), 0u) << key;
    return;
  }
  ASSERT_TRUE(im.has_moments);
  const Tensor& iterations = ex.at("iterations");
  ASSERT_EQ(iterations.dtype, DType::kI64);
  EXPECT_EQ(im.iterations, *reinterpret_cast<const std::int64_t*>(iterations.bytes.data()));
  std::map<float, std::pair<float, float>> moments_of;  // value -> (m, v), for values that occur once
  std::map<float, int> count;
  for (const auto& [key, t] : ex.tensors) {
    if (key.rfind("value/", 0) != 0) continue;
    const std::string path = key.substr(6);
    const std::vector<float> value = t.to_f32(), m = ex.at("m/" + path).to_f32(), v = ex.at("v/" + path).to_f32();
    for (std::size_t i = 0; i < value.size(); ++i) {
      moments_of[value[i]] = {m[i], v[i]};
      ++count[value[i]];
    }
  }
  int checked = 0;
  for (const auto& [key, t] : im.file.tensors) {
    if (key.rfind("optim.", 0) == 0 || key.rfind("train.", 0) == 0) continue;
    const std::vector<float> w = t.to_f32();
    const std::vector<float> m = im.file.at("optim." + key + ".exp_avg").to_f32();
    const std::vector<float> v = im.file.at("optim." + key + ".exp_avg_sq").to_f32();
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 0.0f) continue;  // an LSTM's bias_hh, which PRiSM does not have
      if (count[w[i]] > 1) continue;  // a value two elements share names neither
      const auto it = moments_of.find(w[i]);
      ASSERT_NE(it, moments_of.end()) << key << "[" << i << "] = " << w[i] << " is no value of the checkpoint";
      ASSERT_EQ(m[i], it->second.first) << key << "[" << i << "]";
      ASSERT_EQ(v[i], it->second.second) << key << "[" << i << "]";
      ++checked;
    }
    const Tensor& step = im.file.at("optim." + key + ".step");
    EXPECT_EQ(*reinterpret_cast<const std::int64_t*>(step.bytes.data()), im.iterations);
  }
  EXPECT_GT(checked, 1000);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PrismFixture, ::testing::Values("gru3", "lstm-skip", "tier2", "gru3-mulaw"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(PrismImport, TheModelComesFromTheShapesAndTheQuantiserFromTheJson) {
  const TfBundle bundle(resolve_tf_checkpoint(fixtures() / "lstm-skip"));
  const PrismImport im = import_prism(bundle, prism_config("lstm-skip"), 22050);
  EXPECT_EQ(im.config.frame_sizes, (std::vector<int>{2, 8}));
  EXPECT_EQ(im.config.dim, 16);
  EXPECT_EQ(im.config.rnn_type, RnnType::kLstm);
  EXPECT_EQ(im.config.num_rnn_layers, 2);
  EXPECT_TRUE(im.config.skip_conn);
  EXPECT_EQ(im.config.q_type, QType::kPrismLinear);
  EXPECT_EQ(im.config.q_levels, 32);
  EXPECT_EQ(im.config.seq_len, 32);
  EXPECT_EQ(checkpoint_info_from_metadata(im.file.metadata, "lstm-skip").sample_rate_hz, 22050);
}

TEST(PrismImport, EveryWayAUserNamesTheCheckpointFindsIt) {
  test::TempDir dir;
  const fs::path run = dir / "logdir" / "default" / "02.01.2021_10.00.00";
  fs::create_directories(run);
  fs::create_directories(dir / "logdir" / "default" / "01.01.2021_10.00.00");  // older, empty
  for (const auto& f : fs::directory_iterator(fixtures() / "gru3")) fs::copy(f.path(), run / f.path().filename());
  const fs::path prefix = run / "model.ckpt-3";
  EXPECT_EQ(resolve_tf_checkpoint(prefix), prefix);
  EXPECT_EQ(resolve_tf_checkpoint(run / "model.ckpt-3.index"), prefix);
  EXPECT_EQ(resolve_tf_checkpoint(run / "model.ckpt-3.data-00000-of-00001"), prefix);
  EXPECT_EQ(resolve_tf_checkpoint(run), prefix);  // TensorFlow's `checkpoint` file
  EXPECT_EQ(resolve_tf_checkpoint(dir / "logdir" / "default"), prefix);  // the newest run
  fs::remove(run / "checkpoint");
  EXPECT_EQ(resolve_tf_checkpoint(run), prefix);  // the highest model.ckpt-<n>.index
  EXPECT_THROW(resolve_tf_checkpoint(dir / "logdir"), Error);
  // samplernn's own commands name the import.
  try {
    resolve_checkpoint_path(prefix);
    ADD_FAILURE() << "a PRiSM checkpoint passed as a samplernn one";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.hint()).find("samplernn import-prism"), std::string::npos) << e.hint();
  }
}

// Copies the gru3 fixture to `dir` and returns its prefix there.
fs::path copy_fixture(const test::TempDir& dir) {
  for (const auto& f : fs::directory_iterator(fixtures() / "gru3")) fs::copy(f.path(), dir / f.path().filename().string());
  return dir / "model.ckpt-3";
}

void expect_import_error(const fs::path& prefix, const nlohmann::json& config, const std::string& needle) {
  try {
    import_prism(TfBundle(prefix), config, 16000);
    ADD_FAILURE() << "no error; expected one saying " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PrismImport, PrismsSampleTierOfBefore2020IsRefusedWithTheReason) {
  expect_import_error(resolve_tf_checkpoint(fixtures() / "old-sample-tier"), prism_config("old-sample-tier"),
                      "before 2020-10-23");
}

TEST(PrismImport, AMissingTruncatedOrDamagedShardIsRefused) {
  {
    test::TempDir dir;
    const fs::path p = copy_fixture(dir);
    fs::remove(p.string() + ".data-00000-of-00001");
    expect_import_error(p, prism_config("gru3"), "is missing");
  }
  {
    test::TempDir dir;
    const fs::path p = copy_fixture(dir);
    const fs::path data = p.string() + ".data-00000-of-00001";
    fs::resize_file(data, fs::file_size(data) / 2);
    expect_import_error(p, prism_config("gru3"), "truncated");
  }
  {
    test::TempDir dir;
    const fs::path p = copy_fixture(dir);
    const fs::path data = p.string() + ".data-00000-of-00001";
    std::string bytes = test::read_file(data);
    bytes[bytes.size() / 2] ^= 0x10;
    std::ofstream(data, std::ios::binary) << bytes;
    expect_import_error(p, prism_config("gru3"), "CRC32C");
  }
}

using Rows = std::vector<std::pair<std::string, std::string>>;

// The (key, value) rows of the index at `prefix`, read with LevelDB's own table reader.
Rows index_rows(const fs::path& prefix) {
  const fs::path index = prefix.string() + ".index";
  leveldb::Env* env = leveldb::Env::Default();
  std::uint64_t size = 0;
  leveldb::RandomAccessFile* raw = nullptr;
  Rows rows;
  EXPECT_TRUE(env->GetFileSize(index.string(), &size).ok() && env->NewRandomAccessFile(index.string(), &raw).ok());
  if (raw == nullptr) return rows;
  std::unique_ptr<leveldb::RandomAccessFile> in(raw);
  leveldb::Table* table = nullptr;
  EXPECT_TRUE(leveldb::Table::Open(leveldb::Options(), in.get(), size, &table).ok());
  if (table == nullptr) return rows;
  std::unique_ptr<leveldb::Table> owned(table);
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) rows.emplace_back(it->key().ToString(), it->value().ToString());
  return rows;
}

// Rewrites the index of the checkpoint at `prefix` with LevelDB's own table writer, passing
// each (key, value) through `edit` first.
void rewrite_index(const fs::path& prefix, const std::function<void(const std::string&, std::string&)>& edit) {
  Rows rows = index_rows(prefix);
  const fs::path index = prefix.string() + ".index";
  leveldb::WritableFile* raw_out = nullptr;
  ASSERT_TRUE(leveldb::Env::Default()->NewWritableFile(index.string(), &raw_out).ok());
  std::unique_ptr<leveldb::WritableFile> out(raw_out);
  leveldb::Options options;
  options.compression = leveldb::kNoCompression;
  leveldb::TableBuilder builder(options, out.get());
  for (auto& [key, value] : rows) {
    edit(key, value);
    builder.Add(key, value);
  }
  ASSERT_TRUE(builder.Finish().ok());
  ASSERT_TRUE(out->Close().ok());
}

// The table format by hand, to write what no table writer would.
std::string varint(std::uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
  return out + static_cast<char>(v);
}
std::string fixed32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string block_handle(std::uint64_t offset, std::uint64_t size) { return varint(offset) + varint(size); }
// Block entries of whole keys (no prefix shared with the key before).
std::string block_entries(const Rows& rows) {
  std::string b;
  for (const auto& [key, value] : rows) b += varint(0) + varint(key.size()) + varint(value.size()) + key + value;
  return b;
}
// A block of `entries` and one restart, then its compression type and masked CRC32C.
std::string table_block(std::string entries, char type = 0) {
  entries += fixed32(0) + fixed32(1) + type;
  return entries + fixed32(masked_crc32c(reinterpret_cast<const std::uint8_t*>(entries.data()), entries.size()));
}
// One data block of `entries`, an empty metaindex block, the index block naming
// `data_handle`, the footer naming `index_handle` (empty: the true ones).
std::string hand_table(const std::string& entries, char data_type = 0, std::string data_handle = "",
                       std::string index_handle = "") {
  const std::string data = table_block(entries, data_type), meta = table_block("");
  if (data_handle.empty()) data_handle = block_handle(0, data.size() - 5);
  const std::string index = table_block(block_entries({{"~", data_handle}}));
  if (index_handle.empty()) index_handle = block_handle(data.size() + meta.size(), index.size() - 5);
  std::string footer = block_handle(data.size(), meta.size() - 5) + index_handle;
  footer.resize(40, '\0');
  const std::uint64_t magic = 0xdb4775248b80fb57ull;
  footer.append(reinterpret_cast<const char*>(&magic), 8);
  return data + meta + index + footer;
}

// Block handles come from the file: one that names more bytes than the file has is refused
// before anything is allocated for it, as is a compressed block.
TEST(PrismImport, BlockHandlesPastTheFileAndCompressedBlocksAreRefused) {
  test::TempDir dir;
  const fs::path p = copy_fixture(dir);
  const Rows rows = index_rows(p);
  ASSERT_FALSE(rows.empty());
  const fs::path index = p.string() + ".index";
  const std::string entries = block_entries(rows);
  std::ofstream(index, std::ios::binary | std::ios::trunc) << hand_table(entries);
  EXPECT_NO_THROW(import_prism(TfBundle(p), prism_config("gru3"), 16000));
  const auto refused = [&](const std::string& table, const std::string& why) {
    std::ofstream(index, std::ios::binary | std::ios::trunc) << table;
    try {
      TfBundle{p};
      ADD_FAILURE() << "read a table that should fail with '" << why << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  const std::uint64_t huge = 0xc2000000000000ull;
  refused(hand_table(entries, 0, block_handle(0, huge)), "past the end");
  refused(hand_table(entries, 0, block_handle(huge, 16)), "past the end");
  refused(hand_table(entries, 0, block_handle(~std::uint64_t{0}, ~std::uint64_t{0})), "past the end");
  refused(hand_table(entries, 0, "", block_handle(0, huge)), "past the end");
  refused(hand_table(entries, 1), "compressed");
  refused(hand_table(entries, 0, std::string("\xff\xff", 2)), "malformed block handle");
  refused(hand_table(varint(3) + varint(1) + varint(0) + "k"), "malformed block entry");  // shares 3 bytes of ""
  refused(hand_table(varint(0) + varint(1) + varint(1 << 20) + "k"), "malformed block entry");  // runs past the block
  std::string damaged = hand_table(entries);
  damaged[damaged.size() / 3] ^= 0x04;
  refused(damaged, "CRC32C");
  refused(hand_table(entries).substr(0, 47), "shorter than");
}

TEST(PrismImport, PartitionedVariablesAndBigEndianBundlesAreRefused) {
  {
    test::TempDir dir;
    const fs::path p = copy_fixture(dir);
    rewrite_index(p, [](const std::string&, std::string&) {});  // LevelDB's writer, same rows: still fine
    EXPECT_NO_THROW(import_prism(TfBundle(p), prism_config("gru3"), 16000));
    // BundleEntryProto field 7, `slices`: an (empty) TensorSliceProto.
    rewrite_index(p, [](const std::string& key, std::string& value) {
      if (key == "sample_mlp/outputs/kernel/.ATTRIBUTES/VARIABLE_VALUE") value += std::string("\x3a\x00", 2);
    });
    expect_import_error(p, prism_config("gru3"), "partitioned variable");
  }
  {
    test::TempDir dir;
    const fs::path p = copy_fixture(dir);
    // BundleHeaderProto field 2, endianness: 1 is BIG.
    rewrite_index(p, [](const std::string& key, std::string& value) {
      if (key.empty()) value += std::string("\x10\x01", 2);
    });
    try {
      TfBundle{p};
      ADD_FAILURE() << "a big-endian bundle was read";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("big-endian"), std::string::npos) << e.what();
    }
  }
}

TEST(PrismImport, ADamagedIndexIsRefusedWithoutACrash) {
  test::TempDir dir;
  const fs::path p = copy_fixture(dir);
  const fs::path index = p.string() + ".index";
  const std::string good = test::read_file(index);
  int refused = 0;
  for (std::size_t i = 0; i < good.size(); i += 7) {
    for (int bit : {0x01, 0x80}) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ bit);
      std::ofstream(index, std::ios::binary | std::ios::trunc) << bytes;
      try {
        import_prism(TfBundle(p), prism_config("gru3"), 16000);
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  // Block checksums cover every byte but the footer's padding.
  EXPECT_GT(refused, static_cast<int>(2 * (good.size() / 7) * 9 / 10));
  std::ofstream(index, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() / 2);
  EXPECT_THROW(TfBundle{p}, Error);
}

TEST(PrismImport, AConfigThatContradictsTheCheckpointNamesEachKey) {
  nlohmann::json c = prism_config("gru3");
  c["dim"] = 1024;
  c["rnn_type"] = "lstm";
  try {
    import_prism(TfBundle(resolve_tf_checkpoint(fixtures() / "gru3")), c, 16000);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    const std::string what = e.what();
    EXPECT_NE(what.find("dim 1024 in the JSON, 16 in the checkpoint"), std::string::npos) << what;
    EXPECT_NE(what.find("rnn_type \"lstm\" in the JSON, \"gru\" in the checkpoint"), std::string::npos) << what;
  }
  nlohmann::json m = prism_config("gru3");
  m["q_type"] = "mu-law";  // but 32 levels
  EXPECT_THROW(import_prism(TfBundle(resolve_tf_checkpoint(fixtures() / "gru3")), m, 16000), Error);
}

}  // namespace
}  // namespace srnn
