#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace srnn {
namespace {

std::mutex g_mutex;
bool g_progress_open = false;  // a '\r' progress line is on screen without its newline
std::string g_prefix;          // before every line
std::atomic<bool> g_quiet{false};  // errors only

void write_line(const std::string& prefix, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_progress_open) {
    std::fputc('\n', stderr);
    g_progress_open = false;
  }
  std::fprintf(stderr, "%s%s%s\n", g_prefix.c_str(), prefix.c_str(), line.c_str());
  std::fflush(stderr);
}

}  // namespace

bool stderr_is_tty() {
  static const bool tty = isatty(STDERR_FILENO) == 1;
  return tty;
}

void set_log_prefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_prefix = prefix;
}

void set_log_quiet(bool quiet) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_quiet = quiet;
}

void log_info(const std::string& line) {
  if (!g_quiet) write_line("", line);
}
void log_warn(const std::string& line) {
  if (!g_quiet) write_line("warning: ", line);
}
void log_error(const std::string& line) { write_line("error: ", line); }

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

void log_progress(const std::string& line, bool final) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_quiet) return;
  if (stderr_is_tty()) {
    // "\033[K" clears the rest of the previous, possibly longer, line.
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    g_progress_open = !final;
    if (final) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace srnn
