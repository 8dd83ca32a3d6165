// libFuzzer target: the safetensors reader, the checkpoint metadata (config, training state)
// and the check that a checkpoint holds exactly its config's tensors, on arbitrary bytes.
// Every failure must be an srnn::Error; anything else (a crash, another exception, UB, a
// leak) is a finding.
#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "fuzz/fuzz-util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = srnn::fuzz::scratch_file("model.ckpt-1", data, size);
  try {
    const srnn::TensorFile f = srnn::load_safetensors(path);
    srnn::checkpoint_info_of(f, path);
  } catch (const srnn::Error&) {
  }
  return 0;
}
