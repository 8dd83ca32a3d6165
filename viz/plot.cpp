#include "viz/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/fs.h"
#include "viz/axes.h"
#include "viz/spectrogram.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

constexpr double kLeft = 72, kRight = 96, kTitle = 34, kAxis = 36, kGap = 12;
constexpr double kDbRange = 80;  // colour scale spans the loudest value down 80 dB

struct Rect {
  double x, y, w, h;
};

void text(cairo_t* cr, double x, double y, const std::string& s, double align_x, double align_y) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - e.width * align_x - e.x_bearing, y - e.height * align_y - e.y_bearing);
  cairo_show_text(cr, s.c_str());
}

// Text centred on (x, y), reading bottom to top.
void vertical_text(cairo_t* cr, double x, double y, const std::string& s) {
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -M_PI / 2);
  text(cr, 0, 0, s, 0.5, 0.5);
  cairo_restore(cr);
}

void line(cairo_t* cr, double x0, double y0, double x1, double y1) {
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_stroke(cr);
}

// A perceptually ordered dark-to-bright map (viridis anchor points).
void colour(double t, unsigned char rgb[3]) {
  static const double kMap[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t == t ? t : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<unsigned char>(kMap[i][c] + f * (kMap[i + 1][c] - kMap[i][c]));
}

void time_axis(cairo_t* cr, const Rect& r, double duration_s) {
  const double step = nice_step(duration_s, 8);
  for (double t = 0; t <= duration_s + 1e-9; t += step) {
    const double x = r.x + r.w * t / duration_s;
    line(cr, x, r.y + r.h, x, r.y + r.h + 4);
    text(cr, x, r.y + r.h + 7, tick_label(t, step), 0.5, 0.0);
  }
  text(cr, r.x + r.w / 2, r.y + r.h + 21, "time (s)", 0.5, 0.0);
}

void draw_waveform(cairo_t* cr, const Rect& r, Span<const float> x, int rate_hz) {
  cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  cairo_fill(cr);
  const int columns = std::max(1, static_cast<int>(r.w));
  cairo_set_source_rgb(cr, 0.12, 0.35, 0.65);
  cairo_set_line_width(cr, 1.0);
  // NaN draws as 0; everything beyond full scale at the edge.
  auto y_of = [&](double v) { return r.y + r.h * (1 - (std::clamp(v == v ? v : 0.0, -1.0, 1.0) + 1) / 2); };
  for (int c = 0; c < columns && !x.empty(); ++c) {
    // Every sample of the column counts: min and max, never a decimated pick.
    const std::size_t i0 = x.size() * c / columns, i1 = std::max(i0 + 1, x.size() * (c + 1) / columns);
    float lo = 1, hi = -1;
    for (std::size_t i = i0; i < std::min(i1, x.size()); ++i) {
      const float v = x[i] == x[i] ? x[i] : 0.0f;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double y0 = y_of(hi), y1 = std::max(y_of(lo), y0 + 1);
    line(cr, r.x + c + 0.5, y0, r.x + c + 0.5, y1);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  cairo_stroke(cr);
  for (double a : {-1.0, -0.5, 0.0, 0.5, 1.0}) {
    line(cr, r.x - 4, y_of(a), r.x, y_of(a));
    text(cr, r.x - 7, y_of(a), tick_label(a, 0.5), 1.0, 0.5);
  }
  vertical_text(cr, r.x - 50, r.y + r.h / 2, "amplitude");
  time_axis(cr, r, static_cast<double>(x.size()) / rate_hz);
}

void draw_spectrogram(cairo_t* cr, const Rect& r, Span<const float> x, int rate_hz, const PlotOptions& o) {
  // Frames and bins beyond twice the panel's pixels are pooled (the loudest kept): the image
  // stays within cairo's size limits and memory, however long the file or large the FFT.
  SpectrogramOptions so;
  so.fft_size = o.fft_size;
  so.hop = o.hop;
  so.max_hz = o.max_freq_hz;
  so.max_frames = 2 * std::max(1, static_cast<int>(r.w));
  so.max_bins = 2 * std::max(1, static_cast<int>(r.h));
  const Spectrogram s = compute_spectrogram(x, rate_hz, so);
  const int bins = s.n_bins;
  float top = -120;
  for (float v : s.db) top = std::max(top, v);
  const double bottom = top - kDbRange;

  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, s.n_frames, bins);
  if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(img);
    throw Error(ErrorKind::kInternal, "cannot make a " + std::to_string(s.n_frames) + " x " + std::to_string(bins) +
                                          " spectrogram image");
  }
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  for (int f = 0; f < s.n_frames; ++f) {
    for (int b = 0; b < bins; ++b) {
      unsigned char rgb[3];
      colour((s.at(f, b) - bottom) / kDbRange, rgb);
      unsigned char* px = data + (bins - 1 - b) * stride + 4 * f;  // high frequencies on top
      px[0] = rgb[2];
      px[1] = rgb[1];
      px[2] = rgb[0];
      px[3] = 255;
    }
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr);
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  cairo_clip(cr);
  cairo_translate(cr, r.x, r.y);
  cairo_scale(cr, r.w / s.n_frames, r.h / bins);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);

  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  cairo_stroke(cr);
  const double shown_hz = bins * s.bin_hz;
  const double fstep = nice_step(shown_hz, 6);
  for (double f = 0; f <= shown_hz + 1e-9; f += fstep) {
    const double y = r.y + r.h * (1 - f / shown_hz);
    line(cr, r.x - 4, y, r.x, y);
    text(cr, r.x - 7, y, tick_label(f, fstep), 1.0, 0.5);
  }
  vertical_text(cr, r.x - 58, r.y + r.h / 2, "frequency (Hz)");
  time_axis(cr, r, static_cast<double>(x.size()) / rate_hz);

  // Colour bar with dB ticks.
  const Rect bar{r.x + r.w + 16, r.y, 14, r.h};
  for (int i = 0; i < static_cast<int>(bar.h); ++i) {
    unsigned char rgb[3];
    colour(1.0 - i / bar.h, rgb);
    cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    cairo_rectangle(cr, bar.x, bar.y + i, bar.w, 1.5);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, bar.x, bar.y, bar.w, bar.h);
  cairo_stroke(cr);
  for (double db = std::ceil(bottom / 20) * 20; db <= top + 1e-9; db += 20) {
    const double y = bar.y + bar.h * (top - db) / kDbRange;
    line(cr, bar.x + bar.w, y, bar.x + bar.w + 4, y);
    text(cr, bar.x + bar.w + 7, y, tick_label(db, 1), 0.0, 0.5);
  }
  text(cr, bar.x + bar.w / 2, bar.y - 6, "dB", 0.5, 1.0);
}

}  // namespace

void plot_audio(const std::vector<PlotInput>& inputs, const fs::path& output, const PlotOptions& o) {
  if (inputs.empty()) throw Error(ErrorKind::kUsage, "plot needs at least one audio file");
  if (o.width < 300 || o.height < 200) {
    throw Error(ErrorKind::kUsage, "--width must be at least 300 and --height at least 200 pixels");
  }
  const bool svg = lower_extension(output) == "svg";
  const int total_h = o.height * static_cast<int>(inputs.size());
  AtomicFile out(output);
  cairo_surface_t* surface = svg ? cairo_svg_surface_create(out.temp_path().c_str(), o.width, total_h)
                                 : cairo_image_surface_create(CAIRO_FORMAT_RGB24, o.width, total_h);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_line_width(cr, 1.0);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const PlotInput& in = inputs[i];
    const double y0 = static_cast<double>(o.height) * i;
    const double plot_w = o.width - kLeft - kRight;
    const double avail = o.height - kTitle - 2 * kAxis - kGap;
    const Rect wave{kLeft, y0 + kTitle, plot_w, avail * 0.35};
    const Rect spec{kLeft, wave.y + wave.h + kAxis + kGap, plot_w, avail * 0.65};
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 15);
    text(cr, o.width / 2.0, y0 + 10, in.title, 0.5, 0.0);
    cairo_set_font_size(cr, 11);
    draw_waveform(cr, wave, in.samples, in.rate_hz);
    draw_spectrogram(cr, spec, in.samples, in.rate_hz, o);
  }
  cairo_destroy(cr);
  cairo_status_t status;
  if (svg) {
    cairo_surface_finish(surface);
    status = cairo_surface_status(surface);
  } else {
    status = cairo_surface_write_to_png(surface, out.temp_path().c_str());
  }
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    throw Error(ErrorKind::kIo, "cannot write '" + output.string() + "': " + cairo_status_to_string(status),
                "check the folder exists and is writable");
  }
  out.commit();
}

}  // namespace srnn
