// libFuzzer target: a model config file (PRiSM's *.config.json) through load_model_config,
// and the same text as a training state and as a search space of samplernn tune (read,
// checked, made into the driver's plan). Every failure must be an srnn::Error.
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/train-state.h"
#include "core/tune-spec.h"
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
    try {
      srnn::TuneSpec spec;
      srnn::apply_tune_json(j, "fuzz", &spec);
      srnn::check_tune_spec(spec, srnn::ModelConfig{});
      srnn::tune_plan(spec, srnn::ModelConfig{});
    } catch (const srnn::Error&) {
    }
  }
  return 0;
}
