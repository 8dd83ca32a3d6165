// The seed audio that primes generation (`generate --seed`, and the clips `train` writes):
// a bounded stretch of a file, decoded at the model's rate. Torch-free.
//
//   srnn::SeedAudio s = srnn::load_seed("album.ogg", 16000, 480000, 2.0, 64);
//   // s.samples: 2 s from sample 480000, a whole number of 64-sample frames
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace srnn {

// The default --seed_dur: long enough to settle every tier's state on the seed, short enough
// to prime in well under a second.
constexpr double kDefaultSeedSeconds = 2.0;

struct SeedAudio {
  std::vector<float> samples;  // mono, at the requested rate
  std::string description;     // "2.00 s of 'album.ogg' from sample 480000", for the log
};

// Reads `seconds` (> 0) of `path` from sample `offset` (counted at rate_hz), resampled to
// rate_hz, cut to a whole number of `frame_samples` (the model's lookback). A shorter file
// gives what it has. Error(kInput) when less than one frame remains after the offset;
// Error(kUsage) for a negative offset or a duration that is not positive.
SeedAudio load_seed(const std::filesystem::path& path, int rate_hz, std::int64_t offset, double seconds,
                    int frame_samples);

}  // namespace srnn
