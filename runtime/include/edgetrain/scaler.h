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
// ColumnStats are the sufficient statistics of the three scalers: per column the stored
// (non-zero) cells' count, sum, sum of squares, minimum and maximum, plus the number of rows, so
// a column's implicit zeros are known exactly. Stats of disjoint shards Merge() into the stats of
// their union, and Scaler::FromStats on merged stats equals Scaler::Fit on the concatenated
// data (up to the rounding of the sums): every agent of a run can scale the same way without
// sending rows (`run --scale`).
//
// Thread-safety: value types.
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

struct ColumnStats {
  int64_t rows = 0;
  // One entry per column (the data's dimension); min/max are over the stored cells and mean
  // nothing where nonzeros is 0.
  std::vector<int64_t> nonzeros;
  std::vector<double> sum;
  std::vector<double> sum_squares;
  std::vector<double> min;
  std::vector<double> max;

  static ColumnStats Compute(const Dataset& data);
  int32_t dim() const { return static_cast<int32_t>(sum.size()); }
  // Adds the stats of rows disjoint from these (another shard); the dimension becomes the larger.
  void Merge(const ColumnStats& other);
  // The column's minimum and maximum over all rows, implicit zeros included (0 with no rows).
  double Min(int32_t j) const;
  double Max(int32_t j) const;
};

struct Scaler {
  ScalerKind kind = ScalerKind::kNone;
  std::vector<double> offset;  // d entries
  std::vector<double> factor;  // d entries

  static Scaler Fit(const Dataset& data, ScalerKind kind);
  // The scaler for data with these statistics (Fit is FromStats(ColumnStats::Compute(data))).
  static Scaler FromStats(const ColumnStats& stats, ScalerKind kind);
  // The scaled copy of `data` (features with a non-zero offset become dense).
  // REQUIRES: data.dim() <= offset.size().
  Dataset Apply(const Dataset& data) const;
  // The statistics of Apply(data) from those of data, up to rounding: what a coordinator that
  // holds only the agents' statistics needs to precondition the scaled columns (column_scales.h).
  // A feature with a non-zero offset counts every row as stored. REQUIRES: stats.dim() <=
  // offset.size().
  ColumnStats ApplyToStats(const ColumnStats& stats) const;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_SCALER_H_
