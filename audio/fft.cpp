#include "audio/fft.h"

#include <fftw3.h>

#include <cmath>
#include <mutex>

namespace srnn {

std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

RealFft::RealFft(int n) : n_(n) {
  in_ = fftwf_alloc_real(n);
  fftwf_complex* out = fftwf_alloc_complex(n / 2 + 1);
  out_ = reinterpret_cast<std::complex<float>*>(out);  // fftwf_complex is float[2], as std::complex
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  plan_ = fftwf_plan_dft_r2c_1d(n, in_, out, FFTW_ESTIMATE);
}

RealFft::~RealFft() {
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftwf_destroy_plan(static_cast<fftwf_plan>(plan_));
  }
  fftwf_free(in_);
  fftwf_free(out_);
}

void RealFft::forward() { fftwf_execute(static_cast<fftwf_plan>(plan_)); }

std::vector<float> hann_window(int n) {
  std::vector<float> w(n);
  for (int i = 0; i < n; ++i) w[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * M_PI * i / n));
  return w;
}

}  // namespace srnn
