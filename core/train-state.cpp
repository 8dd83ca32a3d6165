#include "core/train-state.h"

#include <cstdio>

#include "core/error.h"

namespace srnn {

using nlohmann::json;

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

json to_json(const TrainState& s) {
  const DataSplit& d = s.data;
  return json{{"epoch", s.epoch},
              {"epoch_complete", s.epoch_complete},
              {"step", s.step},
              {"batch", s.batch},
              {"window", s.window},
              {"loss_sum", s.loss_sum},
              {"accuracy_sum", s.accuracy_sum},
              {"epoch_steps", s.epoch_steps},
              {"epoch_seconds", s.epoch_seconds},
              {"monitor", s.monitor},
              {"best", s.best ? json(*s.best) : json(nullptr)},
              {"epochs_without_improvement", s.epochs_without_improvement},
              {"optimizer", s.optimizer},
              {"learning_rate", s.learning_rate},
              {"rng_seed", s.rng_seed},
              {"loss_scale", s.loss_scale},
              {"loss_scale_good_steps", s.loss_scale_good_steps},
              {"warmup_start", s.warmup_start},
              {"warmup_steps", s.warmup_steps},
              {"data",
               {{"data_dir", d.data_dir},
                {"files_hash", d.files_hash},
                {"train_hash", d.train_hash},
                {"n_train_files", d.n_train_files},
                {"val_files", d.val_files},
                {"batch_size", d.batch_size},
                {"val_frac", d.val_frac},
                {"rng_seed", d.rng_seed}}},
              {"origin", s.origin},
              {"metrics", s.metrics}};
}

double TrainState::warmup_factor() const {
  const std::int64_t into = step + 1 - warmup_start;
  if (warmup_steps <= 0 || into >= warmup_steps) return 1.0;
  return into <= 0 ? 1.0 : static_cast<double>(into) / static_cast<double>(warmup_steps);
}

TrainState train_state_from_json(const json& j, const std::string& what) {
  TrainState s;
  try {
    // at() throws for a missing key and get<>() for a wrong type: both name the key.
    s.epoch = j.at("epoch").get<int>();
    s.epoch_complete = j.at("epoch_complete").get<bool>();
    s.step = j.at("step").get<std::int64_t>();
    s.batch = j.at("batch").get<int>();
    s.window = j.at("window").get<int>();
    s.loss_sum = j.at("loss_sum").get<double>();
    s.accuracy_sum = j.at("accuracy_sum").get<double>();
    s.epoch_steps = j.at("epoch_steps").get<std::int64_t>();
    s.epoch_seconds = j.at("epoch_seconds").get<double>();
    s.monitor = j.at("monitor").get<std::string>();
    if (!j.at("best").is_null()) s.best = j.at("best").get<double>();
    s.epochs_without_improvement = j.at("epochs_without_improvement").get<int>();
    s.optimizer = j.at("optimizer").get<std::string>();
    s.learning_rate = j.at("learning_rate").get<double>();
    s.rng_seed = j.at("rng_seed").get<std::uint64_t>();
    s.loss_scale = j.at("loss_scale").get<double>();
    s.loss_scale_good_steps = j.at("loss_scale_good_steps").get<int>();
    s.warmup_start = j.value("warmup_start", std::int64_t{0});  // absent before warm-ups existed
    s.warmup_steps = j.value("warmup_steps", std::int64_t{0});
    const json& d = j.at("data");
    s.data.data_dir = d.at("data_dir").get<std::string>();
    s.data.files_hash = d.at("files_hash").get<std::string>();
    s.data.train_hash = d.at("train_hash").get<std::string>();
    s.data.n_train_files = d.at("n_train_files").get<std::int64_t>();
    s.data.val_files = d.at("val_files").get<std::vector<std::string>>();
    s.data.batch_size = d.at("batch_size").get<int>();
    s.data.val_frac = d.at("val_frac").get<double>();
    s.data.rng_seed = d.at("rng_seed").get<std::uint64_t>();
    s.origin = j.at("origin").get<std::string>();
    s.metrics = j.at("metrics");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, "'" + what + "' has a malformed training state: " + e.what(),
                "the checkpoint is damaged; resume from an earlier one");
  }
  if (s.epoch < 0 || s.step < 0 || s.batch < 0 || s.window < 0 || s.epoch_steps < 0 || !s.metrics.is_object() ||
      s.warmup_start < 0 || s.warmup_steps < 0) {
    throw Error(ErrorKind::kInput, "'" + what + "' has a training state with negative counts or bad metrics",
                "the checkpoint is damaged; resume from an earlier one");
  }
  return s;
}

}  // namespace srnn
