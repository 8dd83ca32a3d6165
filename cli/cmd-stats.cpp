// samplernn stats: duration, loudness, DC, clipping, silence, spectral centroid, sustained
// tone and collapse of audio files (audio/stats.h), as text or JSON; for several files, their
// distribution too.
#include <cstdio>

#include "audio/clip-score.h"
#include "audio/decode.h"
#include "audio/stats.h"
#include "cli/commands.h"
#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

namespace srnn {
namespace {

struct StatsArgs {
  std::vector<std::string> inputs;
  bool json = false;
  std::string against;
};

// The figures clips are judged against (--against): a checkpoint's record of its training
// data, or the distribution of audio files and folders.
StatsDistribution reference_of(const std::string& against, std::string* what) {
  const std::filesystem::path p(against);
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec) && !has_audio_extension(p)) {
    const CheckpointInfo info = read_checkpoint_info(p);
    if (info.corpus_stats.is_null()) {
      throw Error(ErrorKind::kInput, "'" + against + "' records no figures of its training data",
                  "give the training data itself: --against <folder of chunks>");
    }
    *what = "the training data of " + against;
    return distribution_from_json(info.corpus_stats);
  }
  std::vector<std::filesystem::path> files = expand_audio_inputs({against});
  *what = against;
  return stats_of_files(files, 0, files.size());
}

// "passes", or why not: the failures, else the figures below the set's 10th percentile.
std::string verdict_line(const ClipVerdict& v, const AudioStats& s, const StatsDistribution& ref) {
  std::string line = "clip score " + fixed(v.score, 2) + ": ";
  if (v.passes) return line + "passes";
  std::string why;
  for (const std::string& f : v.failures) why += (why.empty() ? "" : ", ") + f;
  if (why.empty()) {
    if (s.tone.tonal_fraction < ref.tonal[0]) why = "tonal " + fixed(s.tone.tonal_fraction, 2) + " < " + fixed(ref.tonal[0], 2);
    if (s.tone.partials < ref.partials[0]) {
      why += (why.empty() ? "" : ", ") + std::string("partials ") + fixed(s.tone.partials, 1) + " < " +
             fixed(ref.partials[0], 1);
    }
    why += " (the set's 10th percentile)";
  }
  return line + "FAILS: " + why;
}

int run_stats(const StatsArgs& a) {
  nlohmann::json files = nlohmann::json::array();
  std::vector<AudioStats> measured;
  int first_error = 0;
  std::string reference_name;
  const StatsDistribution reference = a.against.empty() ? StatsDistribution{} : reference_of(a.against, &reference_name);
  if (!a.against.empty() && reference.n_files == 0) {
    throw Error(ErrorKind::kInput, "--against '" + a.against + "' holds no audio that decodes");
  }
  int n_pass = 0;
  for (const std::filesystem::path& file : expand_audio_inputs(a.inputs)) {
    try {
      const DecodedAudio audio = load_mono(file, 0);
      const AudioStats s = compute_stats(audio.samples, audio.rate_hz);
      measured.push_back(s);
      const ClipVerdict v = a.against.empty() ? ClipVerdict{} : score_clip(s, reference);
      n_pass += v.passes ? 1 : 0;
      if (a.json) {
        nlohmann::json j = to_json(s);
        j["file"] = file.string();
        j["warnings"] = stats_warnings(s);
        if (!a.against.empty()) j["verdict"] = to_json(v);
        files.push_back(j);
      } else {
        std::printf("%s: %s\n", file.c_str(), summary_line(s).c_str());
        for (const std::string& w : stats_warnings(s)) std::printf("  warning: %s\n", w.c_str());
        if (!a.against.empty()) std::printf("  %s\n", verdict_line(v, s, reference).c_str());
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
  if (!a.json && !a.against.empty()) {
    std::printf("%d of %zu clips pass against %s: %s\n", n_pass, measured.size(), reference_name.c_str(),
                distribution_line(reference).c_str());
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
  add_flag_option(*cmd, "against", a->against,
                  "Judge each file as a generated clip against this training data (audio files or a folder), or "
                  "against the training-data figures a checkpoint file records: the clip score, and passes or fails "
                  "(no collapse, |DC| < 0.01, silence at most 25%, clipping at most 1%, tonal fraction and partials "
                  "at least the data's 10th percentile)");
  return [a]() { return run_stats(*a); };
}

}  // namespace srnn
