#include "core/qtype.h"

#include "core/error.h"

namespace srnn {

QType parse_q_type(const std::string& name) {
  if (name == "mu-law" || name == "mulaw" || name == "mu_law") return QType::kMuLaw;
  if (name == "a-law" || name == "alaw" || name == "a_law") return QType::kALaw;
  if (name == "linear") return QType::kLinear;
  if (name == "prism-linear") return QType::kPrismLinear;
  throw Error(ErrorKind::kConfig, "q_type '" + name + "' is not known", "choose mu-law, a-law, linear or prism-linear");
}

std::string q_type_name(QType type) {
  switch (type) {
    case QType::kMuLaw: return "mu-law";
    case QType::kALaw: return "a-law";
    case QType::kLinear: return "linear";
    case QType::kPrismLinear: return "prism-linear";
  }
  return "mu-law";
}

void check_q_levels(QType type, int q_levels) {
  if (type != QType::kLinear && type != QType::kPrismLinear && q_levels != 256) {
    throw Error(ErrorKind::kConfig,
                "q_levels is " + std::to_string(q_levels) + " but " + q_type_name(type) + " needs 256",
                "set q_levels to 256, or use q_type linear for other level counts");
  }
  if (q_levels < 2 || q_levels > 65536) {
    throw Error(ErrorKind::kConfig, "q_levels is " + std::to_string(q_levels) + "; it must be in [2, 65536]");
  }
}

}  // namespace srnn
