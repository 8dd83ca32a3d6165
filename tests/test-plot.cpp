// Spectrograms and figures: a tone lands in its frequency bin, and plot files are valid PNG
// or SVG of the requested size.
#include <gtest/gtest.h>
#include <cairo.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "tests/test-util.h"
#include "viz/plot.h"
#include "viz/spectrogram.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

TEST(Spectrogram, AToneShowsItsPeakInTheRightRowAtItsLevel) {
  for (double freq : {250.0, 1000.0, 3000.0}) {
    const std::vector<float> x = test::sine(freq, 0.5, 16000, 16000);
    const Spectrogram s = compute_spectrogram(x, 16000, 1024, 256);
    EXPECT_EQ(s.n_bins, 513);
    EXPECT_EQ(s.n_frames, (16000 - 1024) / 256 + 1);
    EXPECT_DOUBLE_EQ(s.bin_hz, 15.625);
    for (int f : {0, s.n_frames / 2, s.n_frames - 1}) {
      int best = 0;
      for (int b = 1; b < s.n_bins; ++b) {
        if (s.at(f, b) > s.at(f, best)) best = b;
      }
      EXPECT_NEAR(best * s.bin_hz, freq, s.bin_hz) << "frame " << f;
      // Amplitude 0.5 is -6 dB; between bin centres the Hann window loses up to 1.4 dB.
      EXPECT_NEAR(s.at(f, best), -6.02, 1.5) << "frame " << f;
      EXPECT_LT(s.at(f, best + 20), s.at(f, best) - 60) << "frame " << f;
    }
  }
  EXPECT_THROW(compute_spectrogram(test::sine(100, 0.5, 16000, 100), 16000, 1000, 256), Error);
}

TEST(Plot, WritesPngAndSvgOfTheRequestedSize) {
  test::TempDir dir;
  std::vector<PlotInput> in = {{"tone.wav", test::sine(440, 0.5, 16000, 48000), 16000},
                               {"noise.wav", test::noise(0.3, 8000), 16000}};
  PlotOptions o;
  o.width = 900;
  o.height = 500;
  o.max_freq_hz = 4000;
  plot_audio(in, dir / "both.png", o);
  cairo_surface_t* png = cairo_image_surface_create_from_png((dir / "both.png").c_str());
  ASSERT_EQ(cairo_surface_status(png), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(png), 900);
  EXPECT_EQ(cairo_image_surface_get_height(png), 1000);  // two files stacked
  cairo_surface_destroy(png);

  plot_audio({in[0]}, dir / "tone.svg", o);
  std::ifstream svg(dir / "tone.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("<?xml", 0), 0u);
  EXPECT_NE(text.find("width=\"900\""), std::string::npos);
  EXPECT_NE(text.find("height=\"500\""), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  EXPECT_EQ(test::list_names(dir.path()), (std::vector<std::string>{"both.png", "tone.svg"}));  // no temporaries
}

TEST(Plot, BadOptionsAndUnwritablePaths) {
  test::TempDir dir;
  const std::vector<PlotInput> in = {{"t", test::sine(440, 0.5, 16000, 4000), 16000}};
  PlotOptions tiny;
  tiny.width = 10;
  EXPECT_THROW(plot_audio(in, dir / "x.png", tiny), Error);
  try {
    plot_audio(in, dir / "missing" / "x.png", PlotOptions{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

// A PNG written by plot_audio, opened again: cairo's status and the size.
void expect_png(const fs::path& path, int width, int height) {
  cairo_surface_t* png = cairo_image_surface_create_from_png(path.c_str());
  EXPECT_EQ(cairo_surface_status(png), CAIRO_STATUS_SUCCESS) << path;
  EXPECT_EQ(cairo_image_surface_get_width(png), width) << path;
  EXPECT_EQ(cairo_image_surface_get_height(png), height) << path;
  cairo_surface_destroy(png);
}

TEST(Plot, LongAudioLargeFramesAndNonFiniteSamplesAreDrawn) {
  test::TempDir dir;
  PlotOptions o;
  o.width = 800;
  o.height = 400;
  // 600 s at 16 kHz: 37,497 spectrogram frames, wider than a cairo image may be.
  plot_audio({{"long", test::noise(0.3, 600 * 16000), 16000}}, dir / "long.png", o);
  expect_png(dir / "long.png", 800, 400);
  // A 65536-point FFT: 32,769 bins, taller than a cairo image may be.
  o.fft_size = 65536;
  plot_audio({{"fft", test::noise(0.3, 5 * 16000), 16000}}, dir / "fft.png", o);
  expect_png(dir / "fft.png", 800, 400);
  o.fft_size = 1024;
  // What a float WAV can hold: infinities, NaN, and values far beyond full scale.
  std::vector<float> wild = test::sine(440, 0.5, 16000, 16000);
  wild[100] = INFINITY;
  wild[200] = -INFINITY;
  wild[300] = NAN;
  wild[400] = 3e38f;
  plot_audio({{"wild", wild, 16000}}, dir / "wild.png", o);
  expect_png(dir / "wild.png", 800, 400);
  const Spectrogram s = compute_spectrogram(wild, 16000, 1024, 256);
  for (float v : s.db) ASSERT_TRUE(std::isfinite(v));
  // FFT sizes beyond 65536 are refused with a reason.
  o.fft_size = 131072;
  try {
    plot_audio({{"x", wild, 16000}}, dir / "x.png", o);
    FAIL() << "an FFT of 131072 points was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(e.message().find("65536"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace srnn
