// Ctrl-C and SIGTERM as a flag that long work polls, so that it stops cleanly (a checkpoint
// saved, temporary files removed, one line said, exit code 130) instead of dying in the
// middle of a write.
//
//   srnn::InterruptScope scope;       // installs the handlers; the old ones come back after
//   for (...) {
//     if (srnn::interrupted()) throw srnn::Error(srnn::ErrorKind::kInterrupted, "interrupted after ...");
//   }
#pragma once

#include <atomic>

namespace srnn {

class InterruptScope {
 public:
  InterruptScope();  // clears the flag
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*old_int_)(int) = nullptr;
  void (*old_term_)(int) = nullptr;
};

// True once SIGINT or SIGTERM arrived inside an InterruptScope (thread-safe).
bool interrupted();
// The flag itself, for code below core/'s users that polls it (the generation engine).
const std::atomic<bool>& interrupt_flag();

}  // namespace srnn
