// libFuzzer target: audio decoding through the project's path (libsndfile, the header
// checks, mixing down, libsoxr resampling to 16 kHz), on arbitrary bytes. Every failure must
// be an srnn::Error.
#include "audio/decode.h"
#include "core/error.h"
#include "fuzz/fuzz-util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = srnn::fuzz::scratch_file("audio.wav", data, size);
  try {
    srnn::probe_audio(path);
    srnn::load_mono(path, 16000);
  } catch (const srnn::Error&) {
  }
  return 0;
}
