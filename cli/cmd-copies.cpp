// samplernn copies: how much of each generated clip copies the training audio
// (audio/copying.h), as text or JSON, with the median over the clips.
#include <algorithm>
#include <cstdio>

#include "audio/copying.h"
#include "audio/decode.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

struct CopiesArgs {
  std::vector<std::string> clips;
  std::vector<std::string> corpus;
  bool json = false;
};

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

int run_copies(const CopiesArgs& a) {
  // The clips are named before the corpus is decoded, so that a typo fails at once.
  const std::vector<std::filesystem::path> clips = expand_audio_inputs(a.clips);
  const std::vector<std::filesystem::path> corpus_files = copy_corpus_files(a.corpus);
  const CopyDetector detector(corpus_files);
  log_info("corpus: " + std::to_string(detector.n_files()) + (detector.n_files() == 1 ? " file, " : " files, ") +
           fixed(detector.corpus_seconds() / 60, 1) + " minutes");

  nlohmann::json measured = nlohmann::json::array();
  std::vector<double> fractions;
  int first_error = 0;
  for (const std::filesystem::path& file : clips) {
    try {
      const DecodedAudio clip = load_mono(file, kCopyRateHz);
      const CopyReport r = detector.measure(clip.samples, clip.rate_hz);
      fractions.push_back(r.copy_fraction);
      if (a.json) {
        nlohmann::json j = to_json(r);
        j["file"] = file.string();
        measured.push_back(j);
      } else {
        std::printf("%s: %s\n", file.c_str(), copy_line(r).c_str());
        std::fflush(stdout);
      }
    } catch (const Error& e) {
      log_error(e.what());
      if (first_error == 0) first_error = exit_code(e.kind());
    }
  }
  const double median = median_of(fractions);
  const double highest = fractions.empty() ? 0.0 : *std::max_element(fractions.begin(), fractions.end());
  const double lowest = fractions.empty() ? 0.0 : *std::min_element(fractions.begin(), fractions.end());
  if (a.json) {
    const nlohmann::json out = {
        {"corpus", {{"files", detector.n_files()}, {"seconds", detector.corpus_seconds()}}},
        {"threshold", kCopyThreshold},
        {"clips", measured},
        {"summary",
         {{"clips", fractions.size()}, {"median_copy_fraction", median}, {"min_copy_fraction", lowest},
          {"max_copy_fraction", highest}}}};
    std::printf("%s\n", out.dump(2).c_str());
  } else if (!fractions.empty()) {
    std::printf("all %zu %s: median copies %s%% (%s%% to %s%%)\n", fractions.size(), fractions.size() == 1 ? "clip" : "clips",
                fixed(100 * median, 0).c_str(), fixed(100 * lowest, 0).c_str(), fixed(100 * highest, 0).c_str());
  }
  std::fflush(stdout);
  return first_error;
}

}  // namespace

CommandRunner add_copies_command(CLI::App& app) {
  auto a = std::make_shared<CopiesArgs>();
  CLI::App* cmd = app.add_subcommand("copies", "Measure how much of each clip copies the training audio: the share of its "
                                               "0.5 s segments whose waveform correlates with the corpus at 0.8 or more.");
  cmd->add_option("clips", a->clips, "Clips to measure: audio files, or folders of them (searched recursively)")->required();
  // One value per --corpus, so that `--corpus DIR CLIP...` leaves the clips alone; repeated
  // --corpus flags add up (main() makes other flags keep their last value).
  cmd->add_option("--corpus", "The training audio: a folder (searched recursively for audio files) or a file; "
                              "repeat the flag for more")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name("DIR_OR_FILE")
      ->each([a](const std::string& v) { a->corpus.push_back(v); });
  cmd->add_flag("--json", a->json, "Print JSON: {\"corpus\", \"threshold\", \"clips\": [...], \"summary\"}");
  return [a]() { return run_copies(*a); };
}

}  // namespace srnn
