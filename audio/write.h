// Writing mono audio files: 16-bit PCM WAV by default, 24-bit and 32-bit float WAV, and
// 16/24-bit FLAC on request.
//
// write_audio() is atomic: it writes a temporary file beside the final one and renames it
// when everything was written, so a full disk or a missing permission never leaves a partial
// file under the final name. Samples beyond [-1, 1] are clipped, never wrapped; 16-bit PCM
// stores round(x * 32768), so 16-bit input read back through decode.h round-trips exactly.
//
//   srnn::write_audio("out.wav", samples, 16000);                                  // 16-bit WAV
//   srnn::write_audio("out.flac", samples, 16000, srnn::parse_audio_format("flac"));
//
// Errors: Error(kIo) naming the path and the reason.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/span.h"

namespace srnn {

enum class Container { kWav, kFlac, kOpus };
enum class SampleFormat { kPcm16, kPcm24, kFloat32 };

struct AudioFormat {
  Container container = Container::kWav;
  SampleFormat sample = SampleFormat::kPcm16;

  std::string extension() const;  // "wav", "flac" or "opus"
  std::string name() const;       // the name parse_audio_format() accepts
};

// "wav" (16-bit PCM), "wav24", "wav-float", "flac" (16-bit), "flac24", or "opus" (Ogg Opus,
// lossy: about 32 kbit/s up to 16 kHz and 64 above; 8, 12, 16, 24 or 48 kHz only). Throws
// Error(kUsage).
AudioFormat parse_audio_format(const std::string& name);
// The names parse_audio_format() accepts, for help texts.
const char* audio_format_names();

void write_audio(const std::filesystem::path& path, Span<const float> mono, int rate_hz,
                 AudioFormat format = {});

// The same, written block by block: nothing appears under `path` until finish() has
// succeeded, and a writer destroyed before that removes its temporary file.
class AudioFileWriter {
 public:
  AudioFileWriter(const std::filesystem::path& path, int rate_hz, AudioFormat format = {});
  ~AudioFileWriter();
  AudioFileWriter(const AudioFileWriter&) = delete;
  AudioFileWriter& operator=(const AudioFileWriter&) = delete;

  void write(Span<const float> mono);
  // Closes the file (writing its header's sizes) and renames it into place.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Samples of 16-bit mono PCM a WAV file can hold (its sizes are 32-bit): about 37 hours at
// 16 kHz. The writer refuses more.
constexpr std::int64_t kMaxWavSamples16 = (std::int64_t{1} << 31) - 64;

// Sample conversion used by the writer, exposed for tests: round(x * 32768) clipped.
std::int16_t float_to_pcm16(float x);

}  // namespace srnn
