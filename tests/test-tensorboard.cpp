// TensorBoard event files, decoded again independently of the writer: record framing with
// both CRCs, the protobuf fields of every event, and the embedded WAV.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "audio/decode.h"
#include "tests/test-util.h"
#include "train/train-log.h"
#include "core/crc32c.h"
#include "viz/tensorboard.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

using test::crc32c_bitwise;
using test::parse_proto;
using test::ProtoMessage;

float as_float(const std::string& b) {
  if (b.size() != 4) {
    ADD_FAILURE() << "a float field of " << b.size() << " bytes";
    return std::nanf("");
  }
  float f;
  std::memcpy(&f, b.data(), 4);
  return f;
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
  const auto records = test::read_tfrecords(path);
  ASSERT_EQ(records.size(), 4u);

  const ProtoMessage version = parse_proto(records[0]);
  EXPECT_EQ(version.first(3), "brain.Event:2");
  EXPECT_EQ(version.bytes.count(1), 1u);  // wall_time

  auto value_of = [](const std::string& record, std::optional<std::uint64_t>* step) {
    const ProtoMessage event = parse_proto(record);
    *step = event.number(2);
    const ProtoMessage summary = parse_proto(event.first(5));
    return parse_proto(summary.first(1));
  };
  std::optional<std::uint64_t> step;
  ProtoMessage v = value_of(records[1], &step);
  EXPECT_EQ(step, 7u);
  EXPECT_EQ(v.first(1), "loss");
  ASSERT_EQ(v.first(2).size(), 4u);
  EXPECT_FLOAT_EQ(as_float(v.first(2)), 4.182f);
  v = value_of(records[2], &step);
  EXPECT_EQ(step, 1234567890123ULL);
  EXPECT_EQ(v.first(1), "val_accuracy");
  ASSERT_EQ(v.first(2).size(), 4u);
  EXPECT_FLOAT_EQ(as_float(v.first(2)), 13.5f);

  v = value_of(records[3], &step);
  EXPECT_EQ(step, 42u);
  EXPECT_EQ(v.first(1), "clips/e=3_t=0.95");
  const ProtoMessage audio = parse_proto(v.first(6));
  ASSERT_EQ(audio.first(1).size(), 4u);
  EXPECT_FLOAT_EQ(as_float(audio.first(1)), 16000.0f);
  EXPECT_EQ(audio.number(2), 1u);
  EXPECT_EQ(audio.number(3), 1600u);
  EXPECT_EQ(audio.first(5), "audio/wav");
  std::ofstream(dir / "clip.wav", std::ios::binary) << audio.first(4);
  const DecodedAudio back = load_mono(dir / "clip.wav", 0);
  ASSERT_EQ(back.samples.size(), clip.size());
  for (std::size_t i = 0; i < clip.size(); ++i) ASSERT_NEAR(back.samples[i], clip[i], 1.0 / 32768);

  // The reader itself: a file cut inside its last record gives the whole records before it
  // and a failure, without reading past the end.
  const std::string bytes = test::read_file(path);
  std::ofstream(dir / "cut.tfevents", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  std::vector<std::string> cut_records;
  EXPECT_NONFATAL_FAILURE(cut_records = test::read_tfrecords(dir / "cut.tfevents"), "is truncated");
  EXPECT_EQ(cut_records.size(), 3u);
}

// Scalars of every event file in `dir`: tag -> (step, value) in the order written.
std::map<std::string, std::vector<std::pair<std::int64_t, float>>> scalars_in(const fs::path& dir) {
  std::map<std::string, std::vector<std::pair<std::int64_t, float>>> out;
  for (const auto& [tag, points] : test::event_values(dir)) {
    for (const auto& [step, value] : points) {
      if (value.bytes.count(2) == 0) continue;  // not a scalar
      out[tag].emplace_back(step, as_float(value.first(2)));
    }
  }
  return out;
}

TEST(TrainLog, WritesKerasTagsIntoTrainAndValidationRuns) {
  // Two epochs of 60 steps; step k has loss k/100 and accuracy 0.5 (so the running means are
  // known), and the epochs' rows as the trainer makes them.
  test::TempDir dir;
  {
    TrainLog log(dir.path(), 2, /*verbose=*/true);
    TrainState s;
    for (int epoch = 1; epoch <= 2; ++epoch) {
      s.epoch = epoch;
      s.epoch_steps = 0;
      s.loss_sum = s.accuracy_sum = 0;
      for (int k = 0; k < 60; ++k) {
        ++s.step;
        ++s.epoch_steps;
        s.loss_sum += s.step / 100.0;
        s.accuracy_sum += 0.5;
        log.step(s, s.step / 100.0, 0.5, 0.01, 0.001, false, -1, 60);
      }
      nlohmann::json row = epoch_row(s, 0.001);
      row["val_loss"] = 2.0 * epoch;
      row["val_accuracy"] = 25.0;
      row["val_bits_per_sample"] = 2.0 * epoch / std::log(2.0);
      log.epoch(row);
    }
  }
  const auto train = scalars_in(dir / "train");
  const auto validation = scalars_in(dir / "validation");
  // batch_* every 50 steps of the run, as running means over the epoch so far.
  ASSERT_EQ(train.at("batch_loss").size(), 2u);
  EXPECT_EQ(train.at("batch_loss")[0].first, 50);
  EXPECT_FLOAT_EQ(train.at("batch_loss")[0].second, 0.255f);    // mean of 0.01 .. 0.50
  EXPECT_EQ(train.at("batch_loss")[1].first, 100);
  EXPECT_FLOAT_EQ(train.at("batch_loss")[1].second, 0.805f);    // mean of 0.61 .. 1.00 (epoch 2)
  EXPECT_FLOAT_EQ(train.at("batch_accuracy")[0].second, 0.5f);  // a fraction, not %
  // epoch_* on the 0-based epoch axis, in both runs.
  ASSERT_EQ(train.at("epoch_loss").size(), 2u);
  EXPECT_EQ(train.at("epoch_loss")[0].first, 0);
  EXPECT_FLOAT_EQ(train.at("epoch_loss")[0].second, 0.305f);
  EXPECT_EQ(train.at("epoch_loss")[1].first, 1);
  EXPECT_FLOAT_EQ(train.at("epoch_accuracy")[1].second, 0.5f);
  ASSERT_EQ(validation.at("epoch_loss").size(), 2u);
  EXPECT_FLOAT_EQ(validation.at("epoch_loss")[1].second, 4.0f);
  EXPECT_FLOAT_EQ(validation.at("epoch_accuracy")[0].second, 0.25f);
  EXPECT_EQ(validation.count("batch_loss"), 0u);
  // samplernn's own scalars keep their own names.
  EXPECT_EQ(train.at("samplernn/step_loss").size(), 120u);
  EXPECT_EQ(train.at("samplernn/sec_per_step").size(), 120u);
  EXPECT_EQ(train.at("samplernn/learning_rate").size(), 120u);
  EXPECT_EQ(train.at("samplernn/epoch_bits_per_sample").size(), 2u);
  EXPECT_EQ(validation.at("samplernn/epoch_bits_per_sample").size(), 2u);
  for (const auto& [tag, points] : train) {
    EXPECT_TRUE(tag.rfind("batch_", 0) == 0 || tag.rfind("epoch_", 0) == 0 || tag.rfind("samplernn/", 0) == 0) << tag;
  }
  // metrics.jsonl has every step and epoch row.
  const std::string rows = test::read_file(dir / "metrics.jsonl");
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 122);
}

}  // namespace
}  // namespace srnn
