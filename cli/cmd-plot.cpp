// samplernn plot: waveform and spectrogram figures of audio files (viz/plot.h).
#include <cstdio>

#include "audio/decode.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "viz/plot.h"

namespace srnn {
namespace fs = std::filesystem;

namespace {

struct PlotArgs {
  std::vector<std::string> files;
  std::string output;
  PlotOptions options;
};

int run_plot(const PlotArgs& a) {
  std::vector<PlotInput> inputs;
  int first_error = 0;
  for (const std::string& f : a.files) {
    try {
      DecodedAudio audio = load_mono(f, 0);
      inputs.push_back({fs::path(f).filename().string(), std::move(audio.samples), audio.rate_hz});
      if (a.output.empty()) {
        const fs::path out = fs::path(f).replace_extension(".png");
        plot_audio({inputs.back()}, out, a.options);
        std::printf("Wrote %s\n", out.c_str());
        inputs.clear();
      }
    } catch (const Error& e) {
      log_error(e.what());
      if (first_error == 0) first_error = exit_code(e.kind());
    }
  }
  if (!a.output.empty() && !inputs.empty()) {
    plot_audio(inputs, a.output, a.options);
    std::printf("Wrote %s\n", a.output.c_str());
  }
  std::fflush(stdout);
  return first_error;
}

}  // namespace

CommandRunner add_plot_command(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* cmd = app.add_subcommand("plot", "Draw the waveform and spectrogram of audio files (PNG or SVG).");
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("files", a->files, "Audio files")->required();
  add_flag_option(*cmd, "output", a->output,
                  "One figure with every file stacked (.png or .svg); without it, <file>.png beside each input");
  add_flag_option(*cmd, "width", a->options.width, "Figure width in pixels");
  add_flag_option(*cmd, "height", a->options.height, "Height per file in pixels");
  add_flag_option(*cmd, "fft_size", a->options.fft_size, "Spectrogram frame length in samples (a power of two)");
  add_flag_option(*cmd, "hop", a->options.hop, "Spectrogram hop in samples");
  add_flag_option(*cmd, "max_freq", a->options.max_freq_hz, "Highest frequency shown in Hz (0: Nyquist)");
  return [a]() { return run_plot(*a); };
}

}  // namespace srnn
