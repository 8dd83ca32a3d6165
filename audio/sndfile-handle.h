// RAII owner of a libsndfile SNDFILE*, internal to audio/.
#pragma once

#include <sndfile.h>

namespace srnn {

class SndFileHandle {
 public:
  SndFileHandle() = default;
  explicit SndFileHandle(SNDFILE* f) : f_(f) {}
  ~SndFileHandle() {
    if (f_ != nullptr) sf_close(f_);
  }
  SndFileHandle(const SndFileHandle&) = delete;
  SndFileHandle& operator=(const SndFileHandle&) = delete;
  SndFileHandle(SndFileHandle&& other) noexcept : f_(other.f_) { other.f_ = nullptr; }
  SndFileHandle& operator=(SndFileHandle&& other) noexcept {
    if (this != &other) {
      close();
      f_ = other.f_;
      other.f_ = nullptr;
    }
    return *this;
  }

  SNDFILE* get() const { return f_; }
  // Closes the file and returns libsndfile's error code (0 on success).
  int close() {
    const int rc = f_ != nullptr ? sf_close(f_) : 0;
    f_ = nullptr;
    return rc;
  }

 private:
  SNDFILE* f_ = nullptr;
};

}  // namespace srnn
