#include "audio/resample.h"

#include <soxr.h>

#include <cmath>

#include "core/error.h"

namespace srnn {

struct Resampler::State {
  soxr_t soxr = nullptr;
  double ratio = 1.0;  // out / in
  bool passthrough = false;
};

Resampler::Resampler(int in_rate_hz, int out_rate_hz) : state_(std::make_unique<State>()) {
  if (in_rate_hz <= 0 || out_rate_hz <= 0) {
    throw Error(ErrorKind::kInput, "cannot resample from " + std::to_string(in_rate_hz) + " Hz to " +
                                       std::to_string(out_rate_hz) + " Hz: rates must be positive");
  }
  state_->ratio = static_cast<double>(out_rate_hz) / in_rate_hz;
  state_->passthrough = in_rate_hz == out_rate_hz;
  if (state_->passthrough) return;
  soxr_error_t err = nullptr;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  // One thread: files are resampled in parallel instead, which scales better.
  const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
  state_->soxr = soxr_create(in_rate_hz, out_rate_hz, 1, &err, &io, &quality, &runtime);
  if (err != nullptr) {
    throw Error(ErrorKind::kInternal, std::string("libsoxr failed to start: ") + soxr_strerror(err));
  }
}

Resampler::~Resampler() {
  if (state_->soxr != nullptr) soxr_delete(state_->soxr);
}

void Resampler::process(Span<const float> in, std::vector<float>& out) {
  if (state_->passthrough) {
    out.insert(out.end(), in.begin(), in.end());
    return;
  }
  std::size_t consumed = 0;
  while (consumed < in.size()) {
    const std::size_t remaining = in.size() - consumed;
    const std::size_t room = static_cast<std::size_t>(std::ceil(remaining * state_->ratio)) + 64;
    const std::size_t old_size = out.size();
    out.resize(old_size + room);
    std::size_t in_done = 0, out_done = 0;
    soxr_error_t err = soxr_process(state_->soxr, in.data() + consumed, remaining, &in_done,
                                    out.data() + old_size, room, &out_done);
    out.resize(old_size + out_done);
    if (err != nullptr) throw Error(ErrorKind::kInternal, std::string("libsoxr: ") + soxr_strerror(err));
    consumed += in_done;
    if (in_done == 0 && out_done == 0) break;  // cannot happen with room > 0; guards a hang
  }
}

void Resampler::flush(std::vector<float>& out) {
  if (state_->passthrough) return;
  for (;;) {
    const std::size_t room = 4096;
    const std::size_t old_size = out.size();
    out.resize(old_size + room);
    std::size_t out_done = 0;
    soxr_error_t err = soxr_process(state_->soxr, nullptr, 0, nullptr, out.data() + old_size, room, &out_done);
    out.resize(old_size + out_done);
    if (err != nullptr) throw Error(ErrorKind::kInternal, std::string("libsoxr: ") + soxr_strerror(err));
    if (out_done < room) break;
  }
}

std::vector<float> resample(Span<const float> in, int in_rate_hz, int out_rate_hz) {
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(std::ceil(in.size() * (double(out_rate_hz) / in_rate_hz))) + 64);
  Resampler r(in_rate_hz, out_rate_hz);
  r.process(in, out);
  r.flush(out);
  return out;
}

}  // namespace srnn
