// Scaler: per-feature affine scaling fitted on training data, stored in the model and applied
// (folded into the weights) at prediction.
//
//   v' = (v - offset_j) * factor_j
//   standard: offset = mean, factor = 1/std   (centres: turns sparse features dense)
//   minmax:   offset = min,  factor = 1/(max - min)   -> [0, 1]
//   maxabs:   offset = 0,    factor = 1/max|v|        -> [-1, 1], keeps sparsity (use for sparse
//   data)
// Statistics count the implicit zeros of sparse rows. A constant feature gets factor 1.
//
// Thread-safety: a value type.
#ifndef EDGETRAIN_SCALER_H_
#define EDGETRAIN_SCALER_H_

#include <optional>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"

namespace edgetrain {

enum class ScalerKind : uint8_t { kNone = 0, kStandard = 1, kMinMax = 2, kMaxAbs = 3 };
const char* ScalerName(ScalerKind kind);  // "none", "standard", "minmax", "maxabs"
std::optional<ScalerKind> ParseScalerName(std::string_view name);

struct Scaler {
  ScalerKind kind = ScalerKind::kNone;
  std::vector<double> offset;  // d entries
  std::vector<double> factor;  // d entries

  static Scaler Fit(const Dataset& data, ScalerKind kind);
  // The scaled copy of `data` (features with a non-zero offset become dense).
  // REQUIRES: data.dim() <= offset.size().
  Dataset Apply(const Dataset& data) const;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_SCALER_H_
