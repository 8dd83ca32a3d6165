// `samplernn generate` end to end through the binary, on a model the test trains itself.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "audio/decode.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;

const std::string kBin = SRNN_BIN;
std::string q(const fs::path& p) { return test::shell_quote(p); }

class CliGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    test::write_tiny_corpus(d);
    const auto r = run_command("cd " + q(d) + " && " + kBin +
                               " train --id g --data_dir data --config_file tiny.config.json --batch_size 4"
                               " --max_steps 8 --generate False --num_threads 1 --rng_seed 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(Saved checkpoint (\S+))"))) << r.output;
    checkpoint_ = new fs::path(d / m[1].str());
  }
  static void TearDownTestSuite() {
    delete checkpoint_;
    delete dir_;
  }
  static std::string gen(const std::string& args, const std::string& wrapper = "") {
    return "cd " + q(dir_->path()) + " && " + wrapper + kBin + " generate --checkpoint_path " + q(*checkpoint_) + " " + args;
  }
  static test::TempDir* dir_;
  static fs::path* checkpoint_;
};
test::TempDir* CliGenerate::dir_ = nullptr;
fs::path* CliGenerate::checkpoint_ = nullptr;

// A generated clip must be sound: audible RMS, and silence for less than half of it.
void expect_not_silent(const fs::path& clip) {
  const auto r = run_command(kBin + " stats --json " + q(clip));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('[')))[0];
  ASSERT_TRUE(j["rms_dbfs"].is_number()) << clip << " is digital silence: " << j.dump();
  EXPECT_GT(j["rms_dbfs"].get<double>(), -60.0) << clip << ": " << j.dump();
  EXPECT_LT(j["silent_fraction"].get<double>(), 0.5) << clip << ": " << j.dump();
}

TEST_F(CliGenerate, WritesClipsNamedAsPrismNamesThem) {
  auto r = run_command(gen("--output_path out/a.wav --num_seqs 2 --dur 1 --temperature 0.8 --rng_seed 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path out = dir_->path() / "out";
  EXPECT_EQ(test::list_names(out), (std::vector<std::string>{"a_e=1(0)_t=0.8.wav", "a_e=1(1)_t=0.8.wav"}));
  for (const auto& name : test::list_names(out)) {
    const AudioInfo info = probe_audio(out / name);
    EXPECT_EQ(info.rate_hz, 16000);
    EXPECT_EQ(info.n_channels, 1);
    EXPECT_EQ(info.n_frames, 16000);
  }
  EXPECT_NE(r.output.find("Generated sample output to out/a_e=1(0)_t=0.8.wav"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("real time"), std::string::npos) << r.output;
  for (const auto& name : test::list_names(out)) expect_not_silent(out / name);

  r = run_command(gen("--output_path b16/x.wav --dur 0.5 --weights bf16"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bf16 weights"), std::string::npos) << r.output;
  EXPECT_EQ(probe_audio(dir_->path() / "b16" / "x_e=1_t=0.95.wav").n_frames, 8000);
  r = run_command(gen("--output_path i8/x.wav --dur 0.5 --weights int8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("int8 weights"), std::string::npos) << r.output;
  EXPECT_EQ(probe_audio(dir_->path() / "i8" / "x_e=1_t=0.95.wav").n_frames, 8000);
  expect_not_silent(dir_->path() / "i8" / "x_e=1_t=0.95.wav");

  r = run_command(gen("--output_path single.wav --dur 0.5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_->path() / "single_e=1_t=0.95.wav")) << r.output;

  // Too many temperatures are truncated; too few repeat the last.
  r = run_command(gen("--output_path t/x.wav --num_seqs 3 --dur 0.25 --temperature 0.5 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::list_names(dir_->path() / "t"),
            (std::vector<std::string>{"x_e=1(0)_t=0.5.wav", "x_e=1(1)_t=1.0.wav", "x_e=1(2)_t=1.0.wav"}));
  r = run_command(gen("--output_path u/x.wav --num_seqs 1 --dur 0.25 --temperature 0.5 0.7 0.9"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::list_names(dir_->path() / "u"), (std::vector<std::string>{"x_e=1_t=0.5.wav"}));
}

TEST_F(CliGenerate, PrintsStatisticsOfEveryClipAndStatsReadsThem) {
  auto r = run_command(gen("--output_path st/x.wav --num_seqs 2 --dur 0.5 --rng_seed 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(x_e=1\(1\)_t=0\.95\.wav: 0\.50 s, RMS -\d+\.\d dBFS, peak .* centroid \d+ Hz)")))
      << r.output;
  const fs::path d = dir_->path();
  r = run_command(kBin + " stats " + q(d / "st" / "x_e=1(0)_t=0.95.wav") + " " + q(d / "data" / "c1.wav"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("c1.wav: 0.50 s, RMS -13.5 dBFS, peak -10.5 dBFS"), std::string::npos) << r.output;
  r = run_command(kBin + " stats --json " + q(d / "data" / "c1.wav") + " " + q(d / "nothing.wav"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("nothing.wav"), std::string::npos);
  const auto json_start = r.output.find('[');
  ASSERT_NE(json_start, std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(json_start));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_NEAR(j[0]["spectral_centroid_hz"].get<double>(), 230.0, 20.0);
  EXPECT_EQ(j[0]["silent_fraction"].get<double>(), 0.0);
  // A folder: each file, then their distribution.
  r = run_command(kBin + " stats " + q(d / "data"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\nall \d+ files: tonal \d\.\d\d \(\d\.\d\d-\d\.\d\d\), .*collapsed \d+ of \d+)")))
      << r.output;
  r = run_command(kBin + " stats --json " + q(d / "data"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto all = nlohmann::json::parse(r.output);
  EXPECT_EQ(all["distribution"]["files"].get<std::size_t>(), all["files"].size());
  EXPECT_GT(all["files"].size(), 1u);
}

TEST_F(CliGenerate, PlotDrawsEachFileOrOneStackedFigure) {
  const fs::path d = dir_->path();
  auto r = run_command(kBin + " plot " + q(d / "data" / "c2.wav") + " " + q(d / "data" / "c3.wav"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(d / "data" / "c2.png"));
  EXPECT_TRUE(fs::exists(d / "data" / "c3.png"));
  r = run_command(kBin + " plot " + q(d / "data" / "c4.wav") + " " + q(d / "nothing.wav") + " --output " +
                  q(d / "fig.svg") + " --width 640 --height 300 --fft_size 512 --hop 128 --max_freq 4000");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("nothing.wav"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(d / "fig.svg")) << r.output;  // the readable file is still drawn
  const std::string svg = test::read_file(d / "fig.svg");
  std::smatch header;
  ASSERT_TRUE(std::regex_search(svg, header, std::regex(R"(<svg [^>]*>)"))) << svg.substr(0, 400);
  EXPECT_TRUE(std::regex_search(header.str(), std::regex(R"( width="640(pt)?")"))) << header.str();
  EXPECT_TRUE(std::regex_search(header.str(), std::regex(R"( height="300(pt)?")"))) << header.str();
  r = run_command(kBin + " plot " + q(d / "data" / "c4.wav") + " --fft_size 1000 --output " + q(d / "x.png"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("--fft_size"), std::string::npos) << r.output;
}

TEST_F(CliGenerate, SameRngSeedSameAudioWhateverTheThreads) {
  ASSERT_EQ(run_command(gen("--output_path s1/x.wav --num_seqs 3 --dur 0.5 --rng_seed 9 --num_threads 1")).exit_code, 0);
  ASSERT_EQ(run_command(gen("--output_path s2/x.wav --num_seqs 3 --dur 0.5 --rng_seed 9 --num_threads 2")).exit_code, 0);
  ASSERT_EQ(run_command(gen("--output_path s3/x.wav --num_seqs 3 --dur 0.5 --rng_seed 10")).exit_code, 0);
  for (int i = 0; i < 3; ++i) {
    const std::string name = "x_e=1(" + std::to_string(i) + ")_t=0.95.wav";
    EXPECT_EQ(test::read_file(dir_->path() / "s1" / name), test::read_file(dir_->path() / "s2" / name)) << name;
    EXPECT_NE(test::read_file(dir_->path() / "s1" / name), test::read_file(dir_->path() / "s3" / name)) << name;
  }
  // Top-p: as reproducible, and other audio than plain sampling; --top_p 1 is plain sampling.
  const auto r = run_command(gen("--output_path p1/x.wav --num_seqs 3 --dur 0.5 --rng_seed 9 --top_p 0.8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("top_p 0.8"), std::string::npos) << r.output;
  ASSERT_EQ(run_command(gen("--output_path p2/x.wav --num_seqs 3 --dur 0.5 --rng_seed 9 --top_p 0.8 --num_threads 2")).exit_code, 0);
  ASSERT_EQ(run_command(gen("--output_path p3/x.wav --num_seqs 3 --dur 0.5 --rng_seed 9 --top_p 1")).exit_code, 0);
  for (int i = 0; i < 3; ++i) {
    const std::string name = "x_e=1(" + std::to_string(i) + ")_t=0.95.wav";
    EXPECT_EQ(test::read_file(dir_->path() / "p1" / name), test::read_file(dir_->path() / "p2" / name)) << name;
    EXPECT_NE(test::read_file(dir_->path() / "p1" / name), test::read_file(dir_->path() / "s1" / name)) << name;
    EXPECT_EQ(test::read_file(dir_->path() / "p3" / name), test::read_file(dir_->path() / "s1" / name)) << name;
  }
}

TEST_F(CliGenerate, SeedsAtAnotherRateAreResampledAndCanLeadTheOutput) {
  std::vector<float> seed = test::sine(330, 0.3, 44100, 44100 * 3);
  std::vector<float> stereo(2 * seed.size());
  for (std::size_t i = 0; i < seed.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = seed[i];
  test::write_sndfile(dir_->path() / "seed.flac", stereo, 44100, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  auto r = run_command(gen("--output_path seeded/x.wav --dur 0.5 --seed seed.flac --seed_dur 0.5 --include_seed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Priming on 0.50 s of 'seed.flac' from sample 0 (resampled from 44100 Hz)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Primed 8000/8000 seed samples (100%)"), std::string::npos) << r.output;
  // 0.5 s of seed is 8000 samples, whole top frames of 16: all of it leads the output.
  EXPECT_EQ(probe_audio(dir_->path() / "seeded" / "x_e=1_t=0.95.wav").n_frames, 8000 + 8000);
  // It leads as decoded and resampled, not as its quantised levels: the only change is the
  // 16-bit PCM of the output file, at most half a step of 1/32768 (measured: 1.53e-5; the
  // mu-law levels the model is primed on would be up to 6.7e-3 away at amplitude 0.3).
  const std::vector<float> resampled = load_mono(dir_->path() / "seed.flac", 16000).samples;
  const auto expect_seed_leads = [&](const fs::path& clip, std::size_t offset, std::size_t n) {
    const std::vector<float> out = load_mono(clip, 0).samples;
    ASSERT_GE(out.size(), n) << clip;
    ASSERT_GE(resampled.size(), offset + n);
    double largest = 0;
    std::size_t where = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double diff = std::fabs(double(out[i]) - resampled[offset + i]);
      if (diff > largest) {
        largest = diff;
        where = i;
      }
    }
    EXPECT_LE(largest, 0.5 / 32768 + 1e-7) << clip << ": largest difference at sample " << where << ", first samples "
                                           << out[0] << " " << out[1] << " " << out[2] << " vs " << resampled[offset]
                                           << " " << resampled[offset + 1] << " " << resampled[offset + 2];
  };
  expect_seed_leads(dir_->path() / "seeded" / "x_e=1_t=0.95.wav", 0, 8000);

  // Without --seed_dur a PRiSM command line primes on a bounded stretch, and says how long.
  r = run_command(gen("--output_path seeded2/x.wav --dur 0.25 --seed seed.flac --seed_offset 1000 --include_seed"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Priming on 2.00 s of 'seed.flac' from sample 1000"), std::string::npos) << r.output;
  EXPECT_EQ(probe_audio(dir_->path() / "seeded2" / "x_e=1_t=0.95.wav").n_frames, 32000 + 4000);
  expect_seed_leads(dir_->path() / "seeded2" / "x_e=1_t=0.95.wav", 1000, 32000);
  // A seed shorter than asked for gives what it has, and says so.
  r = run_command(gen("--output_path seeded3/x.wav --dur 0.25 --seed seed.flac --seed_dur 60"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Priming on 3.00 s of 'seed.flac' from sample 0 (resampled from 44100 Hz), all the file has"),
            std::string::npos)
      << r.output;
}

TEST_F(CliGenerate, TheModelsSampleRateIsTheDefaultAndCannotBeContradicted) {
  const fs::path d = dir_->path();
  fs::create_directories(d / "data22");
  for (int i = 0; i < 8; ++i) {
    test::write_sndfile(d / "data22" / ("c" + std::to_string(i) + ".wav"), test::sine(200 + 30 * i, 0.3, 22050, 11025),
                        22050, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  }
  auto r = run_command("cd " + q(d) + " && " + kBin +
                       " train --id g22 --data_dir data22 --config_file tiny.config.json --batch_size 4"
                       " --max_steps 4 --generate False --num_threads 1 --rng_seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("at 22050 Hz"), std::string::npos) << r.output;
  const std::string model = " --checkpoint_path " + q(d / "logdir" / "g22");
  r = run_command("cd " + q(d) + " && " + kBin + " generate" + model + " --output_path r22/x.wav --dur 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const AudioInfo info = probe_audio(d / "r22" / "x_e=1_t=0.95.wav");
  EXPECT_EQ(info.rate_hz, 22050);
  EXPECT_EQ(info.n_frames, 11025);
  r = run_command("cd " + q(d) + " && " + kBin + " generate" + model + " --output_path r22/y.wav --sample_rate 16000");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("error: --sample_rate 16000 contradicts the model's 22050 Hz"), std::string::npos) << r.output;
  r = run_command("cd " + q(d) + " && " + kBin + " eval" + model + " --json data22/c0.wav");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('{')))["sample_rate"], 22050);
  EXPECT_NE(run_command("cd " + q(d) + " && " + kBin + " eval" + model + " --sample_rate 16000 data22/c0.wav").exit_code, 0);
  r = run_command("cd " + q(d) + " && " + kBin + " export" + model + " --output g22.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("22050 Hz"), std::string::npos) << r.output;
  EXPECT_EQ(load_safetensors(d / "g22.safetensors").metadata.at("sample_rate"), "22050");
}

TEST_F(CliGenerate, AnOlderCheckpointWithoutARateAssumes16kHzAndSaysSo) {
  // The metadata an earlier samplernn wrote (format 1): no sample rate, no training state.
  TensorFile f = load_safetensors(*checkpoint_);
  const std::map<std::string, std::string> md = f.metadata;
  f.metadata = {{"format", "samplernn-checkpoint-1"}, {"config", md.at("config")}, {"epoch", "1"}, {"step", "8"},
                {"epoch_complete", "false"}, {"batches_done", "0"}, {"rng_seed", "1"}, {"optimizer", "adam"},
                {"metrics", "{}"}};
  const fs::path old = dir_->path() / "old.ckpt";
  save_safetensors(old, f);
  auto r = run_command(kBin + " generate --checkpoint_path " + q(old) + " --output_path " + q(dir_->path() / "o" / "x.wav") +
                       " --dur 0.25");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("does not record its sample rate (an older checkpoint); assuming 16000 Hz"), std::string::npos)
      << r.output;
  EXPECT_EQ(probe_audio(dir_->path() / "o" / "x_e=1_t=0.95.wav").rate_hz, 16000);
  // export writes the current format, with the rate it is given.
  r = run_command(kBin + " export --checkpoint_path " + q(old) + " --output " + q(dir_->path() / "new.st") +
                  " --sample_rate 22050");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto meta = load_safetensors(dir_->path() / "new.st").metadata;
  EXPECT_EQ(meta.at("format"), "samplernn-checkpoint-2");
  EXPECT_EQ(meta.at("sample_rate"), "22050");
}

TEST_F(CliGenerate, StreamsAValidWavToStdout) {
  const fs::path out = dir_->path() / "stream.wav";
  // In a subshell, so the progress lines on stderr stay out of the WAV on stdout.
  const auto r = run_command("( " + gen("--output_path - --dur 0.75 --rng_seed 4") + " > " + q(out) + " 2> " +
                             q(dir_->path() / "stream.log") + " )");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const DecodedAudio a = load_mono(out, 0);  // a second reader: libsndfile
  EXPECT_EQ(a.rate_hz, 16000);
  EXPECT_EQ(a.samples.size(), 12000u);
  // The same audio as a file written with the same seed.
  ASSERT_EQ(run_command(gen("--output_path f/x.wav --dur 0.75 --rng_seed 4")).exit_code, 0);
  EXPECT_EQ(load_mono(dir_->path() / "f" / "x_e=1_t=0.95.wav", 0).samples, a.samples);
}

TEST_F(CliGenerate, AStreamToAFileGetsTheRealSizesInItsHeader) {
  const fs::path out = dir_->path() / "sized.wav";
  ASSERT_EQ(run_command("( " + gen("--output_path - --dur 0.5 --rng_seed 4") + " > " + q(out) + " 2> /dev/null )").exit_code, 0);
  const std::string bytes = test::read_file(out);
  ASSERT_EQ(bytes.size(), 44u + 16000u);
  std::uint32_t riff = 0, data = 0;
  std::memcpy(&riff, bytes.data() + 4, 4);
  std::memcpy(&data, bytes.data() + 40, 4);
  EXPECT_EQ(riff, 36u + 16000u);
  EXPECT_EQ(data, 16000u);
}

TEST_F(CliGenerate, AVeryLongStreamUsesBoundedMemoryAndAClosedPipeIsOneLine) {
  // --dur 1e6 is 16 billion samples: streamed, memory stays flat; the reader stops after a
  // megabyte, and generate says so in one line instead of dying on SIGPIPE. Flat means the
  // peak resident size of that stream against a 0.75 s one: the baseline (LibTorch's
  // libraries, and under AddressSanitizer its shadow memory) is not what is measured. Under
  // ASan the quarantine of freed blocks is bounded to 32 MB; it holds 256 MB by default.
  const auto peak_kb = [&](const std::string& dur, const std::string& name) {
    const fs::path rss = dir_->path() / (name + ".rss");
    const auto r = run_command(
        "ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=32 bash -c " +
        test::shell_quote(gen("--output_path - --dur " + dur + " --rng_seed 1", "/usr/bin/time -f %M -o " + rss.string() + " ") +
                          " | head -c 1000000 > /dev/null; exit ${PIPESTATUS[0]}"));
    // /usr/bin/time writes the peak resident size in kB as the last line.
    std::string report = test::read_file(rss);
    while (!report.empty() && report.back() == '\n') report.pop_back();
    return std::make_pair(r, std::stol(report.substr(report.find_last_of('\n') + 1)));
  };
  const auto [r, long_kb] = peak_kb("1e6", "long");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kIo)) << r.output;
  EXPECT_NE(r.output.find("error: cannot write the WAV stream after "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did the reading program exit?"), std::string::npos) << r.output;
  const auto [short_r, short_kb] = peak_kb("0.75", "short");
  ASSERT_EQ(short_r.exit_code, 0) << short_r.output;
  EXPECT_LT(long_kb - short_kb, 64 * 1024) << "peak RSS " << long_kb << " kB streaming 31 s, " << short_kb
                                           << " kB for 0.75 s";
  // A file of that length would exceed what a WAV holds: refused before any work.
  test::expect_one_error_line(gen("--output_path long/x.wav --dur 1e6"), exit_code(ErrorKind::kUsage),
                              "longer than a WAV file holds (37.3 h at 16000 Hz)");
}

TEST_F(CliGenerate, CtrlCLeavesNoFileAndSaysSo) {
  // Once generation has started, blocks are on their way to the files when the signal comes.
  const std::string text = test::interrupt_when(gen("--output_path stopped/x.wav --dur 600 --num_seqs 2"),
                                                dir_->path() / "gen.log", [](const std::string& log) {
                                                  return log.find("Generating 2 x") != std::string::npos;
                                                });
  EXPECT_NE(text.find("exit=130"), std::string::npos) << text;
  EXPECT_NE(text.find("; no file was written"), std::string::npos) << text;
  EXPECT_TRUE(test::list_names(dir_->path() / "stopped").empty()) << "a partial or temporary file is left";
}

TEST_F(CliGenerate, BadInputIsOneClearLine) {
  const fs::path d = dir_->path();
  auto expect = [](const std::string& cmd, ErrorKind kind, const std::string& needle) {
    test::expect_one_error_line(cmd, exit_code(kind), needle);
  };
  const std::string base = "cd " + q(d) + " && " + kBin + " generate --output_path bad/x.wav ";
  expect(base + "--checkpoint_path nowhere/model.ckpt-3", ErrorKind::kInput, "does not exist");
  const std::string bytes = test::read_file(*checkpoint_);
  std::ofstream(d / "cut.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect(base + "--checkpoint_path cut.ckpt", ErrorKind::kInput, "truncated");
  expect(base + "--checkpoint_path data/c0.wav", ErrorKind::kInput, "not a valid checkpoint");
  std::ofstream(d / "other.config.json") << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 32, "num_rnn_layers": 1})";
  expect(gen("--output_path bad/x.wav --config_file other.config.json"), ErrorKind::kConfig, "dim: 16 != 32");
  expect(gen("--output_path bad/x.wav --dur 0"), ErrorKind::kUsage, "--dur");
  expect(gen("--output_path bad/x.wav --dur -2"), ErrorKind::kUsage, "--dur");
  std::ofstream(d / "afile") << "x";
  expect(gen("--output_path afile/x.wav --dur 0.1"), ErrorKind::kIo, "afile");
  test::write_sndfile(d / "short.wav", test::sine(330, 0.3, 16000, 10), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect(gen("--output_path bad/x.wav --seed short.wav"), ErrorKind::kInput, "fewer than 16 samples");
  expect(gen("--output_path - --num_seqs 2"), ErrorKind::kUsage, "one sequence");
  // A temperature so small that 1/T overflows a float gave a clip of only +1.0.
  expect(gen("--output_path bad/x.wav --temperature 1e-300"), ErrorKind::kUsage, "at least 1e-06");
  expect(gen("--output_path bad/x.wav --dur nan"), ErrorKind::kUsage, "--dur");
  expect(gen("--output_path bad/x.wav --top_p 0"), ErrorKind::kUsage, "--top_p 0 is not in (0, 1]");
  expect(gen("--output_path bad/x.wav --top_p 1.5"), ErrorKind::kUsage, "--top_p 1.5 is not in (0, 1]");
  // Only the CPU engine draws from a nucleus; the GPU paths say so, GPU or not.
  expect(gen("--output_path bad/x.wav --top_p 0.9 --device cuda"), ErrorKind::kUsage, "runs on the CPU engine");
  // A pipe named like audio would block the seed's decoder (and stats, eval) forever.
  ASSERT_EQ(mkfifo((d / "fifo.wav").c_str(), 0600), 0);
  expect(gen("--output_path bad/x.wav --seed fifo.wav", "timeout 20 "), ErrorKind::kInput, "not a regular file");
  expect("timeout 20 " + kBin + " stats " + q(d / "fifo.wav"), ErrorKind::kInput, "not a regular file");
  expect("timeout 20 " + kBin + " eval --checkpoint_path " + q(*checkpoint_) + " " + q(d / "fifo.wav"), ErrorKind::kInput,
         "not a regular file");
  // Weights of a diverged run are neither generated from nor exported.
  TensorFile diverged = load_safetensors(*checkpoint_);
  const float nan = NAN;
  std::memcpy(diverged.tensors.at("sample.output.bias").bytes.data(), &nan, 4);
  save_safetensors(d / "nan.ckpt", diverged);
  expect(base + "--checkpoint_path nan.ckpt", ErrorKind::kInput, "NaN or infinite values");
  expect("cd " + q(d) + " && " + kBin + " export --checkpoint_path nan.ckpt --output nan-export.st", ErrorKind::kInput,
         "holds NaN or infinite values in 'sample.output.bias'");
  EXPECT_FALSE(fs::exists(d / "nan-export.st"));
  // A checkpoint name whose epoch does not fit an int is not a checkpoint.
  fs::create_directories(d / "odd-run");
  std::ofstream(d / "odd-run" / "model.ckpt-99999999999") << "x";
  expect(base + "--checkpoint_path odd-run", ErrorKind::kInput, "without checkpoints");
}

TEST_F(CliGenerate, EvalScoresFilesAndFoldersAgainstTheLevelHistogram) {
  const fs::path d = dir_->path();
  // A folder with two files and a file given alone; 0.5 s segments cut each 0.5 s file once
  // and the 1.2 s file into three (the last shorter).
  fs::create_directories(d / "held");
  test::write_sndfile(d / "held" / "a.wav", test::sine(210, 0.3, 16000, 8000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  test::write_sndfile(d / "held" / "b.wav", test::noise(0.3, 8000, 4), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  test::write_sndfile(d / "c.flac", test::sine(250, 0.3, 44100, 52920), 44100, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  const std::string eval = "cd " + q(d) + " && " + kBin + " eval --checkpoint_path " + q(*checkpoint_) +
                           " --segment_dur 0.5 held c.flac";
  auto r = run_command(eval);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(All 3 files, 0\.00 h: NLL (\d+\.\d+) bits/sample, level-histogram entropy (\d+\.\d+) bits/sample)")))
      << r.output;
  const double all_bits = std::stod(m[1].str()), all_entropy = std::stod(m[2].str());  // before r is replaced
  // The sine it was trained on is easier for the model than white noise, which is close to
  // its level-histogram entropy at best.
  std::smatch a, b;
  ASSERT_TRUE(std::regex_search(r.output, a, std::regex(R"(a\.wav: 0\.5 s, NLL (\d+\.\d+))"))) << r.output;
  ASSERT_TRUE(std::regex_search(r.output, b, std::regex(R"(b\.wav: 0\.5 s, NLL (\d+\.\d+))"))) << r.output;
  EXPECT_LT(std::stod(a[1].str()), std::stod(b[1].str())) << r.output;
  EXPECT_NE(r.output.find("c.flac: 1.2 s"), std::string::npos) << r.output;

  r = run_command(eval + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["files"].size(), 3u);
  EXPECT_NEAR(j["nll_bits_per_sample"].get<double>(), all_bits, 1e-3);
  EXPECT_NEAR(j["histogram_entropy_bits"].get<double>(), all_entropy, 1e-3);
  auto file_entry = [&](const std::string& name) {
    for (const auto& f : j["files"]) {
      if (fs::path(f["file"].get<std::string>()).filename() == name) return f;
    }
    ADD_FAILURE() << name << " missing from " << j.dump();
    return nlohmann::json::object({{"seconds", 0.0}, {"nll_bits_per_sample", 0.0}, {"histogram_entropy_bits", 0.0}});
  };
  // White noise has no structure to learn: no model beats its level histogram by more than
  // the histogram's estimation bias (about 0.02 bits at 8000 samples).
  const auto noise = file_entry("b.wav");
  EXPECT_GT(noise["histogram_entropy_bits"].get<double>(), 1.0) << noise.dump();
  EXPECT_GE(noise["nll_bits_per_sample"].get<double>(), noise["histogram_entropy_bits"].get<double>() - 0.1)
      << noise.dump();
  EXPECT_DOUBLE_EQ(file_entry("c.flac")["seconds"].get<double>(), 1.2);

  // int8 weights score within a few hundredths of a bit of fp32.
  r = run_command(eval + " --json --weights int8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j8 = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_NEAR(j8["nll_bits_per_sample"].get<double>(), all_bits, 0.05) << r.output;

  // An int8 export scores as the int8 engine scores its checkpoint (only the unquantised rest,
  // the table's inputs among it, is rounded to bf16 on the way), is the smallest export, and
  // continues training from its dequantised weights.
  const auto nll_of = [&](const std::string& checkpoint, const std::string& weights) {
    auto e = run_command("cd " + q(d) + " && " + kBin + " eval --checkpoint_path " + checkpoint +
                         " --segment_dur 0.5 held c.flac --json --weights " + weights);
    EXPECT_EQ(e.exit_code, 0) << e.output;
    return nlohmann::json::parse(e.output.substr(e.output.find('{')))["nll_bits_per_sample"].get<double>();
  };
  for (const char* w : {"int8", "bf16"}) {
    r = run_command("cd " + q(d) + " && " + kBin + " export --checkpoint_path " + q(*checkpoint_) + " --weights " + w +
                    " --output export-" + w + ".st");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const TensorFile i8 = load_safetensors(d / "export-int8.st");
  EXPECT_EQ(i8.at("tiers.0.rnn0.weight_hh").dtype, DType::kI8);
  EXPECT_EQ(i8.at("tiers.0.rnn0.weight_hh.scale").dtype, DType::kF32);
  EXPECT_EQ(i8.at("tiers.0.input.weight").dtype, DType::kBF16);
  EXPECT_LT(fs::file_size(d / "export-int8.st"), fs::file_size(d / "export-bf16.st"));
  EXPECT_NEAR(nll_of("export-int8.st", "int8"), j8["nll_bits_per_sample"].get<double>(), 2e-3);
  EXPECT_NEAR(nll_of("export-int8.st", "fp32"), all_bits, 0.05);
  // Exported again, as bf16: an int8 file is a checkpoint like any other.
  r = run_command("cd " + q(d) + " && " + kBin + " export --checkpoint_path export-int8.st --output again.st");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_safetensors(d / "again.st").at("tiers.0.rnn0.weight_hh").dtype, DType::kBF16);
  r = run_command("cd " + q(d) + " && " + kBin +
                  " train --id from-int8 --data_dir data --config_file tiny.config.json --resume_from export-int8.st"
                  " --batch_size 4 --max_steps 10 --generate False --num_threads 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = run_command("cd " + q(d) + " && " + kBin + " eval --checkpoint_path " + q(*checkpoint_) + " missing.wav");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kInput)) << r.output;
  EXPECT_NE(r.output.find("'missing.wav'"), std::string::npos) << r.output;
}

TEST_F(CliGenerate, EvalRecordsItsResultForTheReport) {
  const fs::path d = dir_->path();
  // A copy of the checkpoint's run, so that this test's evals.jsonl is its own.
  const fs::path run = d / "recorded" / "g" / checkpoint_->parent_path().filename();
  fs::create_directories(run);
  for (const fs::path& f : {checkpoint_->filename(), fs::path("metrics.jsonl"), fs::path("run.json")}) {
    fs::copy_file(checkpoint_->parent_path() / f, run / f);
  }
  fs::create_directories(d / "held2");
  test::write_sndfile(d / "held2" / "a.wav", test::sine(215, 0.3, 16000, 8000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string eval = "cd " + q(d) + " && " + kBin + " eval --checkpoint_path recorded/g held2 --json --record";
  double bits[2];
  for (int i = 0; i < 2; ++i) {
    const auto r = run_command(eval + (i == 1 ? " --weights int8" : ""));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    bits[i] = nlohmann::json::parse(r.output.substr(r.output.find('{')))["nll_bits_per_sample"].get<double>();
  }
  std::vector<nlohmann::json> rows;
  std::ifstream in(run / "evals.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["checkpoint"], checkpoint_->filename().string());
  EXPECT_EQ(rows[0]["step"], 8);
  EXPECT_EQ(rows[0]["epoch_complete"], false);
  EXPECT_EQ(rows[0]["files"], 1);
  EXPECT_DOUBLE_EQ(rows[0]["seconds"].get<double>(), 0.5);
  EXPECT_EQ(rows[1]["weights"], "int8");
  EXPECT_DOUBLE_EQ(rows[0]["nll_bits_per_sample"].get<double>(), bits[0]);
  EXPECT_DOUBLE_EQ(rows[1]["nll_bits_per_sample"].get<double>(), bits[1]);

  // The report lists both; with no finished epoch it says so instead of drawing empty curves.
  auto r = run_command(kBin + " report " + q(d / "recorded" / "g"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = test::read_file(d / "recorded" / "g" / "report.html");
  EXPECT_NE(html.find("<h2>Held-out NLL</h2>"), std::string::npos) << html;
  for (double b : bits) EXPECT_NE(html.find("<b>" + fixed(b, 3) + "</b>"), std::string::npos) << b << html;
  EXPECT_NE(html.find("No epoch has finished yet"), std::string::npos) << html;
  EXPECT_EQ(html.find("no data yet"), std::string::npos) << html;

  // A record that cannot be written is one line, before any scoring.
  fs::remove(run / "evals.jsonl");
  fs::create_directories(run / "evals.jsonl");
  test::expect_one_error_line(eval, exit_code(ErrorKind::kIo), "evals.jsonl");
}

}  // namespace
}  // namespace srnn
