// samplernn stats: duration, loudness, DC, clipping, silence, spectral centroid, sustained
// tone and collapse of audio files (audio/stats.h), as text or JSON; for several files, their
// distribution too.
#include <cstdio>

#include "audio/decode.h"
#include "audio/stats.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

struct StatsArgs {
  std::vector<std::string> inputs;
  bool json = false;
};

int run_stats(const StatsArgs& a) {
  nlohmann::json files = nlohmann::json::array();
  std::vector<AudioStats> measured;
  int first_error = 0;
  for (const std::filesystem::path& file : expand_audio_inputs(a.inputs)) {
    try {
      const DecodedAudio audio = load_mono(file, 0);
      const AudioStats s = compute_stats(audio.samples, audio.rate_hz);
      measured.push_back(s);
      if (a.json) {
        nlohmann::json j = to_json(s);
        j["file"] = file.string();
        j["warnings"] = stats_warnings(s);
        files.push_back(j);
      } else {
        std::printf("%s: %s\n", file.c_str(), summary_line(s).c_str());
        for (const std::string& w : stats_warnings(s)) std::printf("  warning: %s\n", w.c_str());
      }
    } catch (const Error& e) {
      log_error(e.what());
      if (first_error == 0) first_error = exit_code(e.kind());
    }
  }
  const bool several = measured.size() > 1;
  if (a.json) {
    // One file: its object alone in an array, as before; several: the distribution beside.
    const nlohmann::json out = several ? nlohmann::json{{"files", files}, {"distribution", to_json(distribution_of(measured))}}
                                       : files;
    std::printf("%s\n", out.dump(2).c_str());
  } else if (several) {
    std::printf("all %s\n", distribution_line(distribution_of(measured)).c_str());
  }
  std::fflush(stdout);
  return first_error;
}

}  // namespace

CommandRunner add_stats_command(CLI::App& app) {
  auto a = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand("stats", "Print duration, loudness, DC offset, clipping, silence, spectral centroid, "
                                              "sustained tone and collapse of audio files (and their distribution).");
  cmd->add_option("files", a->inputs, "Audio files, or folders of them (searched recursively)")->required();
  cmd->add_flag("--json", a->json, "Print JSON instead of text: an array of files, or with several files "
                                   "{\"files\": [...], \"distribution\": {...}}");
  return [a]() { return run_stats(*a); };
}

}  // namespace srnn
