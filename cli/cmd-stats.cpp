// samplernn stats: duration, loudness, DC, clipping, silence and spectral centroid of audio
// files (audio/stats.h), as text or JSON.
#include <cstdio>

#include "audio/decode.h"
#include "audio/stats.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

struct StatsArgs {
  std::vector<std::string> files;
  bool json = false;
};

int run_stats(const StatsArgs& a) {
  nlohmann::json all = nlohmann::json::array();
  int first_error = 0;
  for (const std::string& file : a.files) {
    try {
      const DecodedAudio audio = load_mono(file, 0);
      const AudioStats s = compute_stats(audio.samples, audio.rate_hz);
      if (a.json) {
        nlohmann::json j = to_json(s);
        j["file"] = file;
        j["warnings"] = stats_warnings(s);
        all.push_back(j);
      } else {
        std::printf("%s: %s\n", file.c_str(), summary_line(s).c_str());
        for (const std::string& w : stats_warnings(s)) std::printf("  warning: %s\n", w.c_str());
      }
    } catch (const Error& e) {
      log_error(e.what());
      if (first_error == 0) first_error = exit_code(e.kind());
    }
  }
  if (a.json) std::printf("%s\n", all.dump(2).c_str());
  std::fflush(stdout);
  return first_error;
}

}  // namespace

CommandRunner add_stats_command(CLI::App& app) {
  auto a = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand("stats", "Print duration, loudness, DC offset, clipping, silence and spectral "
                                              "centroid of audio files.");
  cmd->add_option("files", a->files, "Audio files")->required();
  cmd->add_flag("--json", a->json, "Print a JSON array instead of text");
  return [a]() { return run_stats(*a); };
}

}  // namespace srnn
