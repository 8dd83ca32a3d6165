#include "audio/wav-stream.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>

#include "audio/write.h"
#include "core/error.h"

namespace srnn {
namespace {

void put_u32(std::vector<unsigned char>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
void put_u16(std::vector<unsigned char>& b, std::uint16_t v) {
  b.push_back(static_cast<unsigned char>(v));
  b.push_back(static_cast<unsigned char>(v >> 8));
}
void put_tag(std::vector<unsigned char>& b, const char* tag) { b.insert(b.end(), tag, tag + 4); }

// The 44-byte header of a 16-bit mono PCM WAV with data_bytes of samples (0xFFFFFFFF:
// unknown, until the end of the stream).
std::vector<unsigned char> wav16_header(int rate_hz, std::uint32_t data_bytes) {
  std::vector<unsigned char> h;
  put_tag(h, "RIFF");
  put_u32(h, data_bytes == 0xFFFFFFFFu ? 0xFFFFFFFFu : data_bytes + 36);
  put_tag(h, "WAVE");
  put_tag(h, "fmt ");
  put_u32(h, 16);
  put_u16(h, 1);  // PCM
  put_u16(h, 1);  // mono
  put_u32(h, static_cast<std::uint32_t>(rate_hz));
  put_u32(h, static_cast<std::uint32_t>(rate_hz) * 2);
  put_u16(h, 2);   // block align
  put_u16(h, 16);  // bits per sample
  put_tag(h, "data");
  put_u32(h, data_bytes);
  return h;
}

void put_samples(std::vector<unsigned char>& b, Span<const float> samples) {
  for (float x : samples) put_u16(b, static_cast<std::uint16_t>(float_to_pcm16(x)));
}

}  // namespace

std::vector<unsigned char> encode_wav16(Span<const float> samples, int rate_hz) {
  std::vector<unsigned char> b = wav16_header(rate_hz, static_cast<std::uint32_t>(samples.size() * 2));
  put_samples(b, samples);
  return b;
}

WavStreamWriter::WavStreamWriter(std::FILE* out, int rate_hz) : out_(out), rate_hz_(rate_hz) {
  const std::vector<unsigned char> h = wav16_header(rate_hz, 0xFFFFFFFFu);
  if (std::fwrite(h.data(), 1, h.size(), out_) != h.size()) {
    throw Error(ErrorKind::kIo, "cannot write the WAV stream: " + errno_text(errno));
  }
}

void WavStreamWriter::write(Span<const float> samples) {
  buf_.clear();
  put_samples(buf_, samples);
  if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) {
    throw Error(ErrorKind::kIo, "cannot write the WAV stream after " + std::to_string(n_samples_) + " samples: " +
                                    errno_text(errno),
                "did the reading program exit?");
  }
  n_samples_ += samples.size();
  std::fflush(out_);
}

void WavStreamWriter::finish() {
  if (std::fflush(out_) != 0) throw Error(ErrorKind::kIo, "cannot write the WAV stream: " + errno_text(errno));
  struct stat st {};
  if (fstat(fileno(out_), &st) != 0 || !S_ISREG(st.st_mode)) return;  // a pipe: the sizes stay "unknown"
  // A regular file: the header gets the real sizes (capped at the format's 4 GB).
  const std::uint32_t data_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(n_samples_ * 2, 0xFFFFFFFFu - 36));
  const std::vector<unsigned char> h = wav16_header(rate_hz_, data_bytes);
  const long end = std::ftell(out_);
  const bool ok = end >= 0 && std::fseek(out_, end - static_cast<long>(n_samples_ * 2) - static_cast<long>(h.size()), SEEK_SET) == 0 &&
                  std::fwrite(h.data(), 1, h.size(), out_) == h.size() && std::fseek(out_, end, SEEK_SET) == 0 &&
                  std::fflush(out_) == 0;
  if (!ok) throw Error(ErrorKind::kIo, "cannot write the WAV header: " + errno_text(errno));
}

}  // namespace srnn
