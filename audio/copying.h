// How much of a generated clip copies the training audio, for `samplernn copies`: a model
// fine-tuned on a few tracks may memorise them, and a user must know before publishing a clip.
//
//   srnn::CopyDetector detector(srnn::copy_corpus_files({"chunks/"}));  // decodes, FFTs once
//   const srnn::DecodedAudio clip = srnn::load_mono("out/clip.wav", 0);
//   const srnn::CopyReport r = detector.measure(clip.samples, clip.rate_hz);
//   std::puts(srnn::copy_line(r).c_str());  // "copies 12% (3 of 16 segments; longest 1.0 s; ...)"
//
// Method (docs/cli.md, "samplernn copies"): waveform cross-correlation on a decimated signal.
// - The clip and the corpus are resampled to kCopyRateHz (4 kHz, low-passed by soxr). The
//   corpus is every file one after the other, with kCopySegmentSamples zeros between files so
//   that no window straddles two files.
// - The clip is cut into non-overlapping segments of kCopySegmentSamples (0.5 s); a trailing
//   part shorter than a segment is ignored. Segments whose RMS is below kCopySilenceDbfs are
//   silent: counted, and counted as not copying.
// - A segment's match is the largest normalised cross-correlation over every lag of the
//   corpus, sum(seg * win) / (|seg| |win|) with win the corpus window at that lag (windows
//   quieter than kCopyMinWindowDbfs are skipped), refined around the best integer lag by
//   band-limited (windowed-sinc) interpolation at +-1/4 and +-1/2 sample, so that a copy
//   that falls between the 4 kHz samples (a 16 kHz clip offset by 2 samples) is not lost.
//   A sample-level model that copies reproduces the waveform, phase included, so a copy
//   scores near 1; two performances of similar music do not stay phase-coherent for half a
//   second and score well below kCopyThreshold.
// - A segment copies when its match >= kCopyThreshold. The copy fraction is copying segments
//   over all segments, silent ones included.
//
// Cost: the corpus spectrum is computed once, at a power of two >= corpus + segment samples;
// each segment costs one forward and one inverse real FFT of that size (on a 2-core AMD EPYC,
// 10 ms for a 3-minute corpus, 0.4 s for an hour). Memory, in floats: the spectrum and the window norms take 8 to 12 bytes
// per corpus sample at 4 kHz, and each measure() 8 to 16 more of work space: about 260 MB
// for an hour of corpus. The corpus is capped at kMaxCopyCorpusSamples (2 hours at 4 kHz).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/span.h"

namespace srnn {

constexpr int kCopyRateHz = 4000;
constexpr int kCopySegmentSamples = 2000;  // 0.5 s at kCopyRateHz
constexpr double kCopyThreshold = 0.8;
constexpr double kCopySilenceDbfs = -50.0;
constexpr double kCopyMinWindowDbfs = -80.0;
constexpr std::int64_t kMaxCopyCorpusSamples = std::int64_t{2} * 3600 * kCopyRateHz;

struct CopyReport {
  int n_segments = 0;  // whole 0.5 s segments of the clip
  int n_copying = 0;   // segments whose match >= kCopyThreshold
  int n_silent = 0;    // segments below kCopySilenceDbfs (not copying)
  double copy_fraction = 0;   // n_copying / n_segments; 0 without segments
  double longest_copy_s = 0;  // the longest run of consecutive copying segments
  double median_match = 0;    // over the segments that are not silent; 0 when none
  double best_match = 0;      // the largest match; 0 when every segment is silent
  std::string best_file;      // the corpus file of the best match ("" when none)
  double best_file_time_s = 0;  // where in best_file the best-matching segment's window starts
  double best_clip_time_s = 0;  // where in the clip that segment starts: a copy of best_file
                                // from t0 gives best_file_time_s - best_clip_time_s = t0
};

// The audio files a command line names for the corpus: each folder stands for the audio
// files under it (recursively, sorted; core/fs.h list_files_recursive, has_audio_extension),
// each file for itself. Error(kInput) when no file is left, naming the inputs.
std::vector<std::filesystem::path> copy_corpus_files(const std::vector<std::string>& inputs);

struct CopyCorpus;

// The corpus, decimated and transformed once; then any number of clips measured against it.
// measure() and correlate() are const and may run in several threads at once (each call
// has its own work space; FFTW plans are executed on new arrays).
class CopyDetector {
 public:
  // Decodes every file to mono at kCopyRateHz. Error(kInput) for no files, a file that
  // cannot be decoded, or a corpus shorter than one segment; Error(kUsage) for a corpus
  // longer than kMaxCopyCorpusSamples (refused from the headers before decoding where they
  // give the length).
  explicit CopyDetector(const std::vector<std::filesystem::path>& corpus_files);
  // The same from signals in memory: tracks[i] at rate_hz, reported as names[i].
  CopyDetector(const std::vector<std::vector<float>>& tracks, int rate_hz, const std::vector<std::string>& names);
  ~CopyDetector();
  CopyDetector(const CopyDetector&) = delete;
  CopyDetector& operator=(const CopyDetector&) = delete;

  // The clip at clip_rate_hz (any rate samplernn reads) against the corpus. Error(kInput)
  // for a rate outside [kMinSampleRateHz, kMaxSampleRateHz].
  CopyReport measure(Span<const float> clip, int clip_rate_hz) const;

  // The normalised cross-correlation through the FFT of one segment of kCopySegmentSamples
  // at kCopyRateHz against the corpus at every integer lag in [0, corpus_samples() -
  // kCopySegmentSamples]; 0 at lags whose window is quieter than kCopyMinWindowDbfs, and
  // everywhere for a segment of zero energy. Error(kInternal) for another segment length.
  std::vector<float> correlate(Span<const float> segment) const;

  int n_files() const;
  std::int64_t corpus_samples() const;  // at kCopyRateHz, the gaps between files included
  double corpus_seconds() const;        // the files' duration, without the gaps

 private:
  std::unique_ptr<CopyCorpus> corpus_;
};

// "copies 12% (3 of 16 segments; longest 1.0 s; best match 0.93 in track_chunk_3.wav at
// 4.5 s; median 0.21)", with ", 2 silent" after the segments when some are silent; the file
// is named without its folder.
std::string copy_line(const CopyReport& r);

// {"segments", "copying_segments", "silent_segments", "copy_fraction", "longest_copy_s",
//  "median_match", "best_match", "best_file" (null when none), "best_file_time_s",
//  "best_clip_time_s"}
nlohmann::json to_json(const CopyReport& r);

}  // namespace srnn
