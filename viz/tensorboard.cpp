#include "viz/tensorboard.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "audio/wav-stream.h"
#include "core/crc32c.h"
#include "core/error.h"

namespace srnn {
namespace {

// Protocol buffer wire format: varints, and fields tagged (number << 3 | wire type).
void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void field_varint(std::string& out, int field, std::uint64_t v) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | 0);
  varint(out, v);
}
void field_bytes(std::string& out, int field, const std::string& bytes) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | 2);
  varint(out, bytes.size());
  out += bytes;
}
void field_double(std::string& out, int field, double v) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | 1);
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
void field_float(std::string& out, int field, float v) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | 5);
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

}  // namespace

EventWriter::EventWriter(const std::filesystem::path& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  path_ = dir / ("events.out.tfevents." + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count()) +
                 "." + host + ".samplernn");
  file_ = std::fopen(path_.c_str(), "ab");
  if (file_ == nullptr) {
    throw Error(ErrorKind::kIo, "cannot write TensorBoard events to '" + path_.string() + "': " + errno_text(errno));
  }
  std::string version;
  field_bytes(version, 3, "brain.Event:2");
  write_event(0, version);
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventWriter::write_event(std::int64_t step, const std::string& payload_field) {
  std::string event;
  const double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  field_double(event, 1, wall);
  field_varint(event, 2, static_cast<std::uint64_t>(step));
  event += payload_field;

  std::uint8_t header[12];
  const std::uint64_t len = event.size();
  for (int i = 0; i < 8; ++i) header[i] = static_cast<std::uint8_t>(len >> (8 * i));
  const std::uint32_t len_crc = masked_crc32c(header, 8);
  std::memcpy(header + 8, &len_crc, 4);  // little-endian on the machines we support
  const std::uint32_t data_crc = masked_crc32c(reinterpret_cast<const std::uint8_t*>(event.data()), event.size());
  const bool ok = std::fwrite(header, 1, 12, file_) == 12 && std::fwrite(event.data(), 1, event.size(), file_) == event.size() &&
                  std::fwrite(&data_crc, 1, 4, file_) == 4 && std::fflush(file_) == 0;
  if (!ok) throw Error(ErrorKind::kIo, "cannot write TensorBoard events to '" + path_.string() + "': " + errno_text(errno));
}

void EventWriter::scalar(const std::string& tag, std::int64_t step, double value) {
  std::string v, summary, payload;
  field_bytes(v, 1, tag);
  field_float(v, 2, static_cast<float>(value));
  field_bytes(summary, 1, v);
  field_bytes(payload, 5, summary);
  write_event(step, payload);
}

void EventWriter::audio(const std::string& tag, std::int64_t step, Span<const float> samples, int rate_hz) {
  const std::vector<unsigned char> wav = encode_wav16(samples, rate_hz);
  std::string a, v, summary, payload;
  field_float(a, 1, static_cast<float>(rate_hz));
  field_varint(a, 2, 1);
  field_varint(a, 3, samples.size());
  field_bytes(a, 4, std::string(wav.begin(), wav.end()));
  field_bytes(a, 5, "audio/wav");
  field_bytes(v, 1, tag);
  field_bytes(v, 6, a);
  field_bytes(summary, 1, v);
  field_bytes(payload, 5, summary);
  write_event(step, payload);
}

}  // namespace srnn
