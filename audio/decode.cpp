#include "audio/decode.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>

#include "audio/resample.h"
#include "audio/sndfile-handle.h"
#include "core/error.h"
#include "core/fs.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

constexpr sf_count_t kBlockFrames = 1 << 15;
constexpr sf_count_t kMaxReserve = 1 << 24;  // samples reserved up front from a header's count

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

[[noreturn]] void fail(const fs::path& path, const std::string& reason, const std::string& hint = "") {
  throw Error(ErrorKind::kInput, "cannot decode " + quoted(path) + ": " + reason, hint);
}

std::string format_name(int format) {
  SF_FORMAT_INFO major{}, minor{};
  major.format = format & SF_FORMAT_TYPEMASK;
  minor.format = format & SF_FORMAT_SUBMASK;
  std::string name;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof(major)) == 0 && major.name) name = major.name;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &minor, sizeof(minor)) == 0 && minor.name) {
    name += std::string(name.empty() ? "" : " / ") + minor.name;
  }
  return name;
}

// Opens `path` for reading with every check that gives a clear reason on failure.
SndFileHandle open_for_read(const fs::path& path, SF_INFO* info) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, "no such file", "check the path");
  if (fs::is_directory(st)) fail(path, "it is a directory", "use --input_dir for directories");
  // A FIFO, socket or device would block the open or never end.
  if (!fs::is_regular_file(st)) fail(path, "it is not a regular file (a pipe, socket or device)");
  if (fs::file_size(path, ec) == 0 && !ec) fail(path, "the file is empty");
  *info = SF_INFO{};
  SndFileHandle f(sf_open(path.c_str(), SFM_READ, info));
  if (f.get() == nullptr) {
    fail(path, std::string("not a readable audio file (libsndfile: ") + sf_strerror(nullptr) + ")",
         "samplernn reads WAV, FLAC, Ogg Vorbis, Opus, MP3 and AIFF");
  }
  if (info->channels <= 0 || info->samplerate <= 0) {
    fail(path, "the header gives " + std::to_string(info->channels) + " channels at " +
                   std::to_string(info->samplerate) + " Hz; the file is corrupt");
  }
  // Resampling from an absurd header rate would multiply the file's size (1 Hz to 16 kHz:
  // 16000 times); no real recording has such a rate.
  if (info->samplerate < kMinSampleRateHz || info->samplerate > kMaxSampleRateHz) {
    fail(path, "the header gives a sample rate of " + std::to_string(info->samplerate) + " Hz, outside " +
                   std::to_string(kMinSampleRateHz) + " to " + std::to_string(kMaxSampleRateHz) + " Hz",
         "the header is corrupt; convert the file with a tool that writes a correct one");
  }
  if (info->channels > kMaxChannels) {
    fail(path, "the header gives " + std::to_string(info->channels) + " channels; at most " +
                   std::to_string(kMaxChannels) + " are read");
  }
  return f;
}

// Frames the header announces. libsndfile gives the frames the file really holds, but for a
// RIFF file cut short it logs "data : <announced bytes> (should be <bytes present>)".
std::int64_t announced_frames(SNDFILE* f, const SF_INFO& info) {
  if (info.frames <= 0 || info.frames >= (sf_count_t{1} << 62)) return 0;
  char log[4096] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof(log) - 1);
  const char* at = std::strstr(log, "data : ");
  unsigned long long announced = 0, present = 0;
  if (at != nullptr && std::sscanf(at, "data : %llu (should be %llu)", &announced, &present) == 2 && present > 0 &&
      announced > present) {
    return static_cast<std::int64_t>(static_cast<double>(info.frames) * announced / present);
  }
  return static_cast<std::int64_t>(info.frames);
}

// Reads all frames through `sink(block, n_frames)`; returns the number of frames read.
template <typename Sink>
std::int64_t read_all(SNDFILE* f, const fs::path& path, int n_channels, Sink&& sink) {
  std::vector<float> block(static_cast<std::size_t>(kBlockFrames) * n_channels);
  std::int64_t total = 0;
  for (;;) {
    const sf_count_t n = sf_readf_float(f, block.data(), kBlockFrames);
    if (n <= 0) break;
    sink(block.data(), n);
    total += n;
  }
  if (sf_error(f) != SF_ERR_NO_ERROR) {
    fail(path, std::string("decoding failed after ") + std::to_string(total) + " frames (libsndfile: " +
                   sf_strerror(f) + ")", "the file may be truncated or corrupt");
  }
  if (total == 0) fail(path, "it contains no audio samples");
  return total;
}

}  // namespace

AudioInfo probe_audio(const fs::path& path) {
  SF_INFO info;
  SndFileHandle f = open_for_read(path, &info);
  return AudioInfo{info.samplerate, info.channels, static_cast<std::int64_t>(info.frames), format_name(info.format)};
}

std::vector<float> load_interleaved(const fs::path& path, AudioInfo* out_info) {
  SF_INFO info;
  SndFileHandle f = open_for_read(path, &info);
  std::vector<float> samples;
  // The header's frame count is a hint, not a promise: reserve at most 64 MB from it.
  if (info.frames > 0) {
    samples.reserve(static_cast<std::size_t>(std::min<double>(static_cast<double>(info.frames) * info.channels, kMaxReserve)));
  }
  const int nc = info.channels;
  const std::int64_t n = read_all(f.get(), path, nc, [&](const float* block, sf_count_t n_frames) {
    samples.insert(samples.end(), block, block + n_frames * nc);
  });
  if (out_info) *out_info = AudioInfo{info.samplerate, nc, n, format_name(info.format)};
  return samples;
}

DecodedAudio load_mono(const fs::path& path, int target_rate_hz) {
  SF_INFO info;
  SndFileHandle f = open_for_read(path, &info);
  const int nc = info.channels;
  const int out_rate = target_rate_hz > 0 ? target_rate_hz : info.samplerate;
  Resampler resampler(info.samplerate, out_rate);

  DecodedAudio out;
  out.rate_hz = out_rate;
  out.source_rate_hz = info.samplerate;
  out.source_channels = nc;
  if (info.frames > 0) {
    const double expected = static_cast<double>(info.frames) * out_rate / info.samplerate + 64;
    out.samples.reserve(static_cast<std::size_t>(std::min<double>(expected, kMaxReserve)));
  }
  std::vector<float> mono(kBlockFrames);
  const float scale = 1.0f / static_cast<float>(nc);
  out.header_frames = announced_frames(f.get(), info);
  out.source_frames = read_all(f.get(), path, nc, [&](const float* block, sf_count_t n_frames) {
    // block: (n_frames, nc) interleaved -> mono: (n_frames)
    for (sf_count_t i = 0; i < n_frames; ++i) {
      float sum = 0.0f;
      for (int c = 0; c < nc; ++c) sum += block[i * nc + c];
      mono[i] = sum * scale;
    }
    resampler.process(Span<const float>(mono.data(), static_cast<std::size_t>(n_frames)), out.samples);
  });
  resampler.flush(out.samples);
  return out;
}

bool has_audio_extension(const fs::path& path) {
  static const std::set<std::string> kExtensions = {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3",
                                                    "aif", "aiff", "aifc", "au", "snd", "w64", "caf"};
  return kExtensions.count(lower_extension(path)) > 0;
}

std::vector<fs::path> expand_audio_inputs(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  for (const std::string& in : inputs) {
    if (fs::is_directory(in)) {
      for (const fs::path& p : list_files_recursive(in, [](const fs::path& f) { return has_audio_extension(f); })) {
        files.push_back(p);
      }
    } else {
      files.push_back(in);
    }
  }
  if (files.empty()) throw Error(ErrorKind::kInput, "no audio files in the inputs given", "name files or folders of audio");
  return files;
}

}  // namespace srnn
