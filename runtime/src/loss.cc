#include "edgetrain/loss.h"

namespace edgetrain {

const char* LossName(LossKind kind) {
  switch (kind) {
    case LossKind::kLogistic:
      return "logistic";
    case LossKind::kSquared:
      return "squared";
    case LossKind::kSquaredHinge:
      return "squared-hinge";
  }
  return "unknown";
}

std::optional<LossKind> ParseLossName(std::string_view name) {
  for (LossKind k : {LossKind::kLogistic, LossKind::kSquared, LossKind::kSquaredHinge}) {
    if (name == LossName(k)) return k;
  }
  return std::nullopt;
}

}  // namespace edgetrain
