// libFuzzer target: a model config file (PRiSM's *.config.json) through load_model_config,
// and the same text as a training state. Every failure must be an srnn::Error.
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/train-state.h"
#include "fuzz/fuzz-util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = srnn::fuzz::scratch_file("x.config.json", data, size);
  std::vector<std::string> warnings;
  try {
    srnn::load_model_config(path, &warnings);
  } catch (const srnn::Error&) {
  }
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    try {
      srnn::train_state_from_json(j, "fuzz");
    } catch (const srnn::Error&) {
    }
  }
  return 0;
}
