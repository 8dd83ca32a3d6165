#include "tests/test-util.h"

#include <sndfile.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <stdexcept>

namespace srnn::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("srnn-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<float> sine(double freq_hz, double amplitude, int rate_hz, std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(amplitude * std::sin(2.0 * M_PI * freq_hz * static_cast<double>(i) / rate_hz));
  }
  return x;
}

std::vector<float> noise(double amplitude, std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(static_cast<float>(-amplitude), static_cast<float>(amplitude));
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

void write_tiny_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "data");
  for (int i = 0; i < 8; ++i) {
    write_sndfile(dir / "data" / ("c" + std::to_string(i) + ".wav"), sine(200 + 30 * i, 0.3, 16000, 8000), 16000, 1,
                  SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  }
  std::ofstream(dir / "tiny.config.json")
      << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 16, "num_rnn_layers": 1, "emb_size": 8})";
}

void write_sndfile(const fs::path& path, const std::vector<float>& interleaved, int rate_hz, int n_channels,
                   int format) {
  SF_INFO info{};
  info.samplerate = rate_hz;
  info.channels = n_channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) throw std::runtime_error("test: cannot write " + path.string() + ": " + sf_strerror(nullptr));
  const sf_count_t frames = static_cast<sf_count_t>(interleaved.size() / n_channels);
  const sf_count_t written = sf_writef_float(f, interleaved.data(), frames);
  sf_close(f);
  if (written != frames) throw std::runtime_error("test: short write to " + path.string());
}

std::string shell_quote(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult run_command(const std::string& command_line) {
  CommandResult r;
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string interrupt_when(const std::string& command_line, const fs::path& log,
                           const std::function<bool(const std::string&)>& ready) {
  const fs::path pid_file = log.string() + ".pid";
  run_command("( " + command_line + " > " + shell_quote(log) + " 2>&1 & echo $! > " + shell_quote(pid_file) +
              "; wait $!; echo exit=$? >> " + shell_quote(log) + " ) > /dev/null 2>&1 &");
  const auto wait_for = [&](const std::function<bool(const std::string&)>& done) {
    std::string text;
    for (int i = 0; i < 1200; ++i) {
      text = read_file(log);
      if (done(text)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return text;
  };
  wait_for([&](const std::string& text) { return ready(text) || text.find("exit=") != std::string::npos; });
  std::string pid;
  for (int i = 0; i < 100 && pid.empty(); ++i) {
    pid = read_file(pid_file);
    if (pid.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!pid.empty()) ::kill(std::stoi(pid), SIGINT);
  return wait_for([](const std::string& text) { return text.find("exit=") != std::string::npos; });
}

void expect_one_error_line(const std::string& command_line, int exit_code, const std::string& needle) {
  const CommandResult r = run_command(command_line);
  EXPECT_EQ(r.exit_code, exit_code) << command_line << "\n" << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << command_line << "\n" << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "not one line: " << command_line << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << command_line << "\n" << r.output;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> list_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::uint32_t crc32c_bitwise(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

std::uint32_t masked_crc(std::uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

std::string ProtoMessage::first(int f) const {
  const auto it = bytes.find(f);
  return it == bytes.end() ? std::string() : it->second;
}

std::optional<std::uint64_t> ProtoMessage::number(int f) const {
  const auto it = num.find(f);
  return it == num.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
}

namespace {

std::uint64_t read_varint(const std::string& s, std::size_t& i) {
  std::uint64_t v = 0;
  for (int shift = 0; i < s.size(); shift += 7) {
    const unsigned char b = static_cast<unsigned char>(s[i++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

}  // namespace

ProtoMessage parse_proto(const std::string& s) {
  ProtoMessage m;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint64_t key = read_varint(s, i);
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (type == 0) {
      m.num.emplace(field, read_varint(s, i));
      continue;
    }
    std::size_t n;
    if (type == 1) n = 8;
    else if (type == 5) n = 4;
    else if (type == 2) n = read_varint(s, i);
    else {
      ADD_FAILURE() << "unexpected wire type " << type;
      break;
    }
    if (n > s.size() - i) {
      ADD_FAILURE() << "field " << field << " runs past the end of its message";
      break;
    }
    m.bytes.emplace(field, s.substr(i, n));
    i += n;
  }
  return m;
}

std::vector<std::string> read_tfrecords(const fs::path& path) {
  const std::string all = read_file(path);
  std::vector<std::string> records;
  std::size_t i = 0;
  while (i < all.size()) {
    // A record: length (8 bytes), its masked CRC (4), the data, the data's masked CRC (4).
    if (all.size() - i < 12) {
      ADD_FAILURE() << path << ": truncated record header at byte " << i;
      break;
    }
    std::uint64_t len;
    std::uint32_t len_crc, data_crc;
    std::memcpy(&len, all.data() + i, 8);
    std::memcpy(&len_crc, all.data() + i + 8, 4);
    EXPECT_EQ(len_crc, masked_crc(crc32c_bitwise(all.substr(i, 8)))) << path << " at byte " << i;
    const std::size_t rest = all.size() - i - 12;  // the data and its CRC
    if (len > rest || rest - len < 4) {
      ADD_FAILURE() << path << ": record of " << len << " bytes at byte " << i << " is truncated";
      break;
    }
    const std::string data = all.substr(i + 12, len);
    std::memcpy(&data_crc, all.data() + i + 12 + len, 4);
    EXPECT_EQ(data_crc, masked_crc(crc32c_bitwise(data))) << path << " at byte " << i;
    records.push_back(data);
    i += 16 + len;
  }
  return records;
}

EventValues event_values(const fs::path& dir) {
  EventValues out;
  for (const std::string& name : list_names(dir)) {
    if (name.rfind("events.out.tfevents.", 0) != 0) continue;
    const auto records = read_tfrecords(dir / name);
    for (std::size_t r = 1; r < records.size(); ++r) {  // record 0 is the file version
      const ProtoMessage event = parse_proto(records[r]);
      const auto step = static_cast<std::int64_t>(event.number(2).value_or(0));
      const ProtoMessage summary = parse_proto(event.first(5));
      for (auto [it, end] = summary.bytes.equal_range(1); it != end; ++it) {
        ProtoMessage value = parse_proto(it->second);
        out[value.first(1)].emplace_back(step, std::move(value));
      }
    }
  }
  return out;
}

}  // namespace srnn::test
