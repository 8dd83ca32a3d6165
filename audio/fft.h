// A real-input FFT of one size (FFTW), for the spectra in stats, tone measures and plots.
//
//   srnn::RealFft fft(2048);
//   for (int i = 0; i < 2048; ++i) fft.in()[i] = x[i] * window[i];
//   fft.forward();                          // fft.out()[k], k <= 1024: bin k
//
// Plans are made and destroyed under one process-wide lock (FFTW's planner is not
// thread-safe); forward() may run on many objects in many threads at once. An object is
// used by one thread.
#pragma once

#include <complex>
#include <mutex>
#include <vector>

namespace srnn {

class RealFft {
 public:
  explicit RealFft(int n);
  ~RealFft();
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

  int size() const { return n_; }
  float* in() { return in_; }                              // n samples
  const std::complex<float>* out() const { return out_; }  // n / 2 + 1 bins
  void forward();

 private:
  int n_;
  float* in_;
  std::complex<float>* out_;
  void* plan_;
};

// FFTW's planner is not thread-safe: hold this lock while making or destroying any FFTW plan
// (RealFft does). Executing plans needs no lock.
std::mutex& fftw_planner_mutex();

// The periodic Hann window of n points: 0.5 - 0.5 cos(2 pi i / n).
std::vector<float> hann_window(int n);

}  // namespace srnn
