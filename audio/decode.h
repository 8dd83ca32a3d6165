// Decoding audio files through libsndfile: WAV (8/16/24/32-bit integer and float), FLAC,
// Ogg Vorbis, Opus, MP3 and the other formats libsndfile reads.
//
// Samples are floats in [-1, 1] (integer PCM is scaled by 1/2^(bits-1)). load_mono() mixes
// all channels down by averaging and resamples with libsoxr (high quality) to the requested
// rate while it decodes, so a long 44.1 kHz stereo file never sits in memory at full size.
//
//   srnn::DecodedAudio a = srnn::load_mono("album.ogg", 16000);  // a.samples at 16 kHz
//
// Errors: Error(kInput) naming the file and the reason (missing, empty, not audio, corrupt).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace srnn {

// Header values outside these are refused as corrupt (Error(kInput)): they would make
// resampling or mixing down blow up the file's size.
constexpr int kMinSampleRateHz = 1000;
constexpr int kMaxSampleRateHz = 768000;
constexpr int kMaxChannels = 256;

struct AudioInfo {
  int rate_hz = 0;
  int n_channels = 0;
  std::int64_t n_frames = 0;  // as the header says; may be unknown (0) for some streams
  std::string format;         // e.g. "OGG (OGG Container format) / Vorbis"
};

struct DecodedAudio {
  std::vector<float> samples;  // mono
  int rate_hz = 0;             // rate of `samples`
  int source_rate_hz = 0;      // rate of the file
  int source_channels = 0;
  std::int64_t source_frames = 0;  // frames decoded
  std::int64_t header_frames = 0;  // frames the header announced (0: unknown)
  // True when the file ended before its header said it would (a cut-off download or copy).
  bool truncated() const { return header_frames > 0 && source_frames < header_frames; }
};

// Header information without decoding the samples.
AudioInfo probe_audio(const std::filesystem::path& path);

// Decodes the whole file to mono at target_rate_hz (0 keeps the file's rate).
DecodedAudio load_mono(const std::filesystem::path& path, int target_rate_hz);

// Decodes the whole file, interleaved, at the file's rate. info receives the header values.
std::vector<float> load_interleaved(const std::filesystem::path& path, AudioInfo* info);

// True for file extensions that name audio formats samplernn reads (wav, flac, ogg, opus,
// mp3, aiff, ...), case-insensitive.
bool has_audio_extension(const std::filesystem::path& path);

// Files and folders as a command line names them: each folder stands for the audio files
// under it (recursively, sorted), each file for itself. Error(kInput) for a folder that
// cannot be read, or when nothing is left.
std::vector<std::filesystem::path> expand_audio_inputs(const std::vector<std::string>& inputs);

}  // namespace srnn
