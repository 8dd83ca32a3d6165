#include "core/error.h"

#include <cstring>

namespace srnn {

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInternal: return 1;
    case ErrorKind::kUsage: return 2;
    case ErrorKind::kInput: return 3;
    case ErrorKind::kConfig: return 4;
    case ErrorKind::kIo: return 5;
    case ErrorKind::kDiverged: return 6;
    case ErrorKind::kPeer: return 7;
    case ErrorKind::kMemory: return 8;
    case ErrorKind::kDependency: return 9;
    case ErrorKind::kInterrupted: return 130;
  }
  return 1;
}

static std::string join_message(const std::string& what, const std::string& hint) {
  return hint.empty() ? what : what + " (hint: " + hint + ")";
}

Error::Error(ErrorKind kind, const std::string& what, const std::string& hint)
    : std::runtime_error(join_message(what, hint)), kind_(kind), message_(what), hint_(hint) {}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r may return a static string instead of filling buf.
  const char* text = strerror_r(err, buf, sizeof(buf));
  return text ? std::string(text) : std::string("error ") + std::to_string(err);
}

}  // namespace srnn
