// libFuzzer target: a checkpoint all the way into the generation engine's layouts
// (load_engine_weights: header, metadata, tensor checks, weight norm, packing, the table),
// on arbitrary bytes. Every failure must be an srnn::Error.
#include "core/error.h"
#include "fuzz/fuzz-util.h"
#include "infer/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = srnn::fuzz::scratch_file("engine.ckpt", data, size);
  try {
    // fp32, bf16 and int8 packing by turns
    srnn::load_engine_weights(path, static_cast<srnn::WeightFormat>(size % 3));
  } catch (const srnn::Error&) {
  }
  return 0;
}
