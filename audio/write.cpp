#include "audio/write.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "audio/sndfile-handle.h"
#include "core/error.h"
#include "core/fs.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBlock = 1 << 14;

int sndfile_format(AudioFormat f) {
  if (f.container == Container::kOpus) return SF_FORMAT_OGG | SF_FORMAT_OPUS;
  const int major = f.container == Container::kWav ? SF_FORMAT_WAV : SF_FORMAT_FLAC;
  switch (f.sample) {
    case SampleFormat::kPcm16: return major | SF_FORMAT_PCM_16;
    case SampleFormat::kPcm24: return major | SF_FORMAT_PCM_24;
    case SampleFormat::kFloat32: return major | SF_FORMAT_FLOAT;
  }
  return major | SF_FORMAT_PCM_16;
}

std::int32_t float_to_pcm24_in_int32(float x) {
  // libsndfile takes 24-bit samples in the top bits of an int32.
  if (!(x == x)) return 0;
  const double v = std::nearbyint(static_cast<double>(x) * 8388608.0);
  const double c = std::clamp(v, -8388608.0, 8388607.0);
  return static_cast<std::int32_t>(c) * 256;
}

[[noreturn]] void write_failed(const fs::path& path, const std::string& reason) {
  throw Error(ErrorKind::kIo, "cannot write '" + path.string() + "': " + reason,
              "check free disk space and permissions of the output directory");
}

}  // namespace

std::int16_t float_to_pcm16(float x) {
  if (!(x == x)) return 0;  // NaN
  const float v = std::nearbyint(x * 32768.0f);
  return static_cast<std::int16_t>(std::clamp(v, -32768.0f, 32767.0f));
}

std::string AudioFormat::extension() const {
  return container == Container::kWav ? "wav" : container == Container::kFlac ? "flac" : "opus";
}

std::string AudioFormat::name() const {
  if (container == Container::kOpus) return "opus";
  if (container == Container::kFlac) return sample == SampleFormat::kPcm24 ? "flac24" : "flac";
  switch (sample) {
    case SampleFormat::kPcm16: return "wav";
    case SampleFormat::kPcm24: return "wav24";
    case SampleFormat::kFloat32: return "wav-float";
  }
  return "wav";
}

const char* audio_format_names() { return "wav, wav24, wav-float, flac, flac24, opus"; }

AudioFormat parse_audio_format(const std::string& name) {
  if (name == "wav") return {Container::kWav, SampleFormat::kPcm16};
  if (name == "wav24") return {Container::kWav, SampleFormat::kPcm24};
  if (name == "wav-float") return {Container::kWav, SampleFormat::kFloat32};
  if (name == "flac") return {Container::kFlac, SampleFormat::kPcm16};
  if (name == "flac24") return {Container::kFlac, SampleFormat::kPcm24};
  if (name == "opus") return {Container::kOpus, SampleFormat::kFloat32};
  throw Error(ErrorKind::kUsage, "unknown audio format '" + name + "'",
              std::string("choose one of: ") + audio_format_names());
}

struct AudioFileWriter::Impl {
  fs::path path;
  AtomicFile out;
  AudioFormat format;
  SndFileHandle file;
  std::int64_t written = 0;
  std::vector<std::int16_t> pcm16;
  std::vector<std::int32_t> pcm24;
  std::vector<float> clipped;

  Impl(const fs::path& p, AudioFormat f) : path(p), out(p), format(f) {}
};

AudioFileWriter::AudioFileWriter(const fs::path& path, int rate_hz, AudioFormat format)
    : impl_(std::make_unique<Impl>(path, format)) {
  if (rate_hz <= 0) throw Error(ErrorKind::kInternal, "AudioFileWriter: rate must be positive");
  const bool opus = format.container == Container::kOpus;
  if (opus && rate_hz != 8000 && rate_hz != 12000 && rate_hz != 16000 && rate_hz != 24000 && rate_hz != 48000) {
    throw Error(ErrorKind::kUsage, "Opus cannot store " + std::to_string(rate_hz) + " Hz audio (" + path.string() + ")",
                "Opus takes 8, 12, 16, 24 or 48 kHz: choose one of those rates, or another format such as flac");
  }
  SF_INFO info{};
  info.samplerate = rate_hz;
  info.channels = 1;
  info.format = sndfile_format(format);
  impl_->file = SndFileHandle(sf_open(impl_->out.temp_path().c_str(), SFM_WRITE, &info));
  if (impl_->file.get() == nullptr) write_failed(path, sf_strerror(nullptr));
  if (opus) {
    // libsndfile maps the level linearly onto 256 kbit/s (0) .. 6 kbit/s (1).
    double level = (256.0 - (rate_hz <= 16000 ? 32.0 : 64.0)) / 250.0;
    if (sf_command(impl_->file.get(), SFC_SET_COMPRESSION_LEVEL, &level, sizeof level) != SF_TRUE) {
      write_failed(path, "libsndfile refused the Opus bitrate");
    }
  }
}

AudioFileWriter::~AudioFileWriter() = default;  // an unfinished file's temporary goes with impl_->out

void AudioFileWriter::write(Span<const float> mono) {
  Impl& m = *impl_;
  if (m.format.container == Container::kWav && m.written + static_cast<std::int64_t>(mono.size()) > kMaxWavSamples16) {
    write_failed(m.path, "a WAV file holds at most " + std::to_string(kMaxWavSamples16) + " samples");
  }
  for (std::size_t begin = 0; begin < mono.size(); begin += kBlock) {
    const std::size_t n = std::min(kBlock, mono.size() - begin);
    const float* x = mono.data() + begin;
    sf_count_t written = 0;
    switch (m.format.sample) {
      case SampleFormat::kPcm16:
        m.pcm16.resize(n);
        for (std::size_t i = 0; i < n; ++i) m.pcm16[i] = float_to_pcm16(x[i]);
        written = sf_writef_short(m.file.get(), m.pcm16.data(), static_cast<sf_count_t>(n));
        break;
      case SampleFormat::kPcm24:
        m.pcm24.resize(n);
        for (std::size_t i = 0; i < n; ++i) m.pcm24[i] = float_to_pcm24_in_int32(x[i]);
        written = sf_writef_int(m.file.get(), m.pcm24.data(), static_cast<sf_count_t>(n));
        break;
      case SampleFormat::kFloat32:
        m.clipped.resize(n);
        for (std::size_t i = 0; i < n; ++i) m.clipped[i] = x[i] == x[i] ? std::clamp(x[i], -1.0f, 1.0f) : 0.0f;
        written = sf_writef_float(m.file.get(), m.clipped.data(), static_cast<sf_count_t>(n));
        break;
    }
    if (written != static_cast<sf_count_t>(n)) write_failed(m.path, sf_strerror(m.file.get()));
    m.written += static_cast<std::int64_t>(n);
  }
}

void AudioFileWriter::finish() {
  // Closing writes the header's final sizes and flushes buffered data, so it can fail too.
  if (impl_->file.close() != 0) write_failed(impl_->path, "closing the file failed (disk full?)");
  impl_->out.commit();
}

void write_audio(const fs::path& path, Span<const float> mono, int rate_hz, AudioFormat format) {
  AudioFileWriter out(path, rate_hz, format);
  out.write(mono);
  out.finish();
}

}  // namespace srnn
