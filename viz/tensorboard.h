// TensorBoard event files, written directly: TFRecord framing (length, masked CRC32C of the
// length, data, masked CRC32C of the data) around hand-encoded protobuf Event messages
// (tensorflow/core/util/event.proto, framework/summary.proto). `tensorboard --logdir logdir`
// then shows the scalars and plays the audio of a run.
//
//   srnn::EventWriter tb(run_dir);                 // events.out.tfevents.<time>.<host>.samplernn
//   tb.scalar("loss", step, 4.18);
//   tb.audio("clips/e=3_t=0.95", step, samples, 16000);
//
// Every record is flushed as it is written, so a crash loses nothing already logged.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/span.h"

namespace srnn {

class EventWriter {
 public:
  // Creates the event file in `dir` and writes its file_version record. Throws Error(kIo).
  explicit EventWriter(const std::filesystem::path& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void scalar(const std::string& tag, std::int64_t step, double value);
  // Mono audio in [-1, 1], stored as a 16-bit PCM WAV.
  void audio(const std::string& tag, std::int64_t step, Span<const float> samples, int rate_hz);

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(std::int64_t step, const std::string& payload_field);

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace srnn
