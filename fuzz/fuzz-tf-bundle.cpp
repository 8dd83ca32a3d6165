// libFuzzer target: TensorFlow's checkpoint bundle (core/tf-bundle.h) and the PRiSM import on
// top of it, on arbitrary bytes. An input is a 4-byte little-endian length n, then n bytes of
// the .index table, then the data shard. Every failure must be an srnn::Error; anything else
// (a crash, another exception, UB, a leak) is a finding.
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/prism-import.h"
#include "core/tf-bundle.h"
#include "fuzz/fuzz-util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  std::uint32_t n = 0;
  std::memcpy(&n, data, 4);
  n = static_cast<std::uint32_t>(std::min<std::size_t>(n, size - 4));
  const auto index = srnn::fuzz::scratch_file("model.ckpt-1.index", data + 4, n);
  srnn::fuzz::scratch_file("model.ckpt-1.data-00000-of-00001", data + 4 + n, size - 4 - n);
  const std::filesystem::path prefix = index.string().substr(0, index.string().size() - 6);
  try {
    const srnn::TfBundle bundle(prefix);
    for (const auto& [key, entry] : bundle.entries()) {
      try {
        bundle.read(key);
      } catch (const srnn::Error&) {
      }
    }
    const nlohmann::json prism = {{"q_type", "linear"}, {"seq_len", 32}};
    srnn::import_prism(bundle, prism, 16000);
  } catch (const srnn::Error&) {
  }
  return 0;
}
