// TensorBoard event files, decoded again independently of the writer: record framing with
// both CRCs, the protobuf fields of every event, and the embedded WAV.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>

#include "audio/decode.h"
#include "tests/test-util.h"
#include "viz/tensorboard.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

// CRC-32C bit by bit (no table), the reference for the writer's table version.
std::uint32_t crc32c_bitwise(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}
std::uint32_t masked(std::uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

// A decoded protobuf message: field number -> raw values (varints as numbers in `num`,
// length-delimited as bytes in `bytes`, fixed32/fixed64 as their bytes).
struct Message {
  std::multimap<int, std::uint64_t> num;
  std::multimap<int, std::string> bytes;
  std::string first(int f) const { return bytes.count(f) ? bytes.find(f)->second : std::string(); }
};

std::uint64_t read_varint(const std::string& s, std::size_t& i) {
  std::uint64_t v = 0;
  for (int shift = 0; i < s.size(); shift += 7) {
    const unsigned char b = static_cast<unsigned char>(s[i++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

Message parse(const std::string& s) {
  Message m;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint64_t key = read_varint(s, i);
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (type == 0) m.num.emplace(field, read_varint(s, i));
    else if (type == 1) { m.bytes.emplace(field, s.substr(i, 8)); i += 8; }
    else if (type == 5) { m.bytes.emplace(field, s.substr(i, 4)); i += 4; }
    else if (type == 2) {
      const std::size_t n = read_varint(s, i);
      m.bytes.emplace(field, s.substr(i, n));
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << type;
      break;
    }
  }
  return m;
}

float as_float(const std::string& b) {
  float f;
  std::memcpy(&f, b.data(), 4);
  return f;
}

std::vector<std::string> read_records(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  std::size_t i = 0;
  while (i < all.size()) {
    EXPECT_GE(all.size() - i, 16u) << "truncated record";
    std::uint64_t len;
    std::uint32_t len_crc, data_crc;
    std::memcpy(&len, all.data() + i, 8);
    std::memcpy(&len_crc, all.data() + i + 8, 4);
    EXPECT_EQ(len_crc, masked(crc32c_bitwise(all.substr(i, 8))));
    const std::string data = all.substr(i + 12, len);
    std::memcpy(&data_crc, all.data() + i + 12 + len, 4);
    EXPECT_EQ(data_crc, masked(crc32c_bitwise(data)));
    records.push_back(data);
    i += 16 + len;
  }
  return records;
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const std::uint8_t*>(check.data()), check.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_bitwise(check), 0xE3069283u);
}

TEST(EventWriter, EveryValueDecodesAgain) {
  test::TempDir dir;
  const std::vector<float> clip = test::sine(440, 0.5, 16000, 1600);
  fs::path path;
  {
    EventWriter w(dir.path());
    path = w.path();
    w.scalar("loss", 7, 4.182);
    w.scalar("val_accuracy", 1234567890123LL, 13.5);
    w.audio("clips/e=3_t=0.95", 42, clip, 16000);
  }
  EXPECT_EQ(path.filename().string().rfind("events.out.tfevents.", 0), 0u);
  const auto records = read_records(path);
  ASSERT_EQ(records.size(), 4u);

  const Message version = parse(records[0]);
  EXPECT_EQ(version.first(3), "brain.Event:2");
  EXPECT_EQ(version.bytes.count(1), 1u);  // wall_time

  auto value_of = [](const std::string& record, std::uint64_t* step) {
    const Message event = parse(record);
    *step = event.num.find(2)->second;
    const Message summary = parse(event.first(5));
    return parse(summary.first(1));
  };
  std::uint64_t step = 0;
  Message v = value_of(records[1], &step);
  EXPECT_EQ(step, 7u);
  EXPECT_EQ(v.first(1), "loss");
  EXPECT_FLOAT_EQ(as_float(v.first(2)), 4.182f);
  v = value_of(records[2], &step);
  EXPECT_EQ(step, 1234567890123ULL);
  EXPECT_EQ(v.first(1), "val_accuracy");
  EXPECT_FLOAT_EQ(as_float(v.first(2)), 13.5f);

  v = value_of(records[3], &step);
  EXPECT_EQ(step, 42u);
  EXPECT_EQ(v.first(1), "clips/e=3_t=0.95");
  const Message audio = parse(v.first(6));
  EXPECT_FLOAT_EQ(as_float(audio.first(1)), 16000.0f);
  EXPECT_EQ(audio.num.find(2)->second, 1u);
  EXPECT_EQ(audio.num.find(3)->second, 1600u);
  EXPECT_EQ(audio.first(5), "audio/wav");
  std::ofstream(dir / "clip.wav", std::ios::binary) << audio.first(4);
  const DecodedAudio back = load_mono(dir / "clip.wav", 0);
  ASSERT_EQ(back.samples.size(), clip.size());
  for (std::size_t i = 0; i < clip.size(); ++i) ASSERT_NEAR(back.samples[i], clip[i], 1.0 / 32768);
}

}  // namespace
}  // namespace srnn
