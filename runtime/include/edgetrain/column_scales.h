// ColumnScales: the solver's preconditioner, a scale s_j (and, with an intercept, an offset m_j)
// per feature column (docs/algorithm.md, "The preconditioner").
//
// Plants' columns come in their own units (kPa next to mm next to counts), and a first-order
// method's step, the Newton working set and its coordinate descent all see those units. The
// solver therefore works on scaled (and centred) columns and the matching change of variables
//   a~_ij = (a_ij - m_j) s_j,   z_j = x_j / s_j,   b~ = b + sum_j m_j x_j
// (a~_i . z + b~ = a_i . x + b: every margin is unchanged), under which the user's objective P(x)
// becomes, per weight j (the intercept is never scaled),
//   l1 |x_j| = (l1 s_j) |z_j|,   (l2/2) x_j^2 = (l2 s_j^2 / 2) z_j^2,
//   lower <= x_j <= upper  <=>  lower / s_j <= z_j <= upper / s_j
// (ProblemSpec::Penalty, problem.h): a weighted l1, a weighted l2 and a per-coordinate box, whose
// prox stays exact and O(1) per coordinate. P is the same function: the solver minimises
// P~(z) = P(x), and x is the user's optimum when z is the solver's (ModelToUser, problem.h).
//
// The scales (FromStats), all powers of two:
//   - with an intercept, a column stored in at least half the rows is centred (m_j = its mean)
//     and scaled by 1 / its standard deviation: the free intercept absorbs the offset, which no
//     diagonal scaling can remove (raw sensor columns far from zero are nearly collinear with the
//     intercept and with each other); sparse columns are never centred (it would densify them);
//   - every other column by the root mean square r_j of its stored cells, relative to the typical
//     column's (the nnz-weighted median, c) and only as far as needed: s_j brings r_j / c into
//     [1/kBand, kBand] and leaves it where it is inside. Whatever the units, the solver's columns
//     are within kBand^2 (x2 for the rounding) of one another, while data in one unit keeps its
//     deliberate weighting (tf-idf terms, pixels: equalising them fully costs 4-9x the epochs).
//     Over the stored cells, not all rows: a rare sparse feature is not inflated by sqrt(n/nnz_j);
//   - powers of two: a_ij s_j, x_j / s_j, l1 s_j, l2 s_j^2 and lower / s_j are exact in floating
//     point, so without centring the margins, the objective, the duality gap and the weights mapped
//     back are the same numbers bit for bit as without the preconditioner, and a bound holds
//     exactly in both coordinates. Rounding costs at most a factor sqrt(2) per column.
// ColumnStats of disjoint shards merge (scaler.h), so every agent of a run gets the same scales
// from the merged statistics without sending rows (FromStats on the coordinator, FromValues on an
// agent, or FromStats on every agent).
//
// Thread-safety: an immutable value; copies share one array (copying costs a reference count),
// so a ProblemSpec carrying it is cheap to copy into workers. Ownership: shared, immutable.
#ifndef EDGETRAIN_COLUMN_SCALES_H_
#define EDGETRAIN_COLUMN_SCALES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/scaler.h"
#include "edgetrain/status.h"

namespace edgetrain {

class ColumnScales {
 public:
  // Scales are powers of two in [2^-kMaxExponent, 2^kMaxExponent].
  static constexpr int kMaxExponent = 256;
  // Uncentred columns within this factor of the typical magnitude keep their relative scale.
  static constexpr double kBand = 4.0;

  // The identity: no preconditioning (empty()).
  ColumnScales() = default;

  // The scales for data with these statistics (above); a column without non-zeros gets 1. With
  // an intercept, columns stored in at least half the rows are centred too (offset = mean). The
  // identity when nothing would change.
  static ColumnScales FromStats(const ColumnStats& stats, bool intercept = false);
  // Scales (and offsets: empty, or one per scale) received from elsewhere (a coordinator). Errors
  // name the column whose scale is not a power of two within the range, or whose offset is not
  // finite.
  static Result<ColumnScales> FromValues(const std::vector<double>& scales,
                                         const std::vector<double>& offsets = {});

  bool empty() const { return data_ == nullptr; }
  // Columns with a scale; scale(j) is 1 and offset(j) 0 from here on (the intercept, wider data,
  // and FromStats leaves out the identity columns after the last scaled or centred one).
  int32_t dim() const { return data_ == nullptr ? 0 : static_cast<int32_t>(data_->scale.size()); }
  double scale(int64_t j) const { return j < dim() ? data_->scale[j] : 1.0; }
  double inverse(int64_t j) const { return j < dim() ? data_->inverse[j] : 1.0; }
  bool centred() const { return data_ != nullptr && !data_->offset.empty(); }
  double offset(int64_t j) const { return centred() && j < dim() ? data_->offset[j] : 0.0; }
  // dim() entries (empty for the identity; offsets empty when nothing is centred).
  std::vector<double> scales() const { return empty() ? std::vector<double>() : data_->scale; }
  std::vector<double> offsets() const { return empty() ? std::vector<double>() : data_->offset; }
  // The largest and smallest scale, and how many columns are scaled (s_j != 1) and centred.
  double max_scale() const;
  double min_scale() const;
  int32_t scaled_columns() const;
  int32_t centred_columns() const;

  // A model's weights (`weights` entries) and intercept between the solver's coordinates and the
  // user's: x_j = s_j z_j, b = b~ - sum_j m_j x_j (ToUser) and back (ToSolver). intercept may be
  // null when nothing is centred. Exact for the weights.
  void ToUser(double* weights_v, int64_t weights, double* intercept) const;
  void ToSolver(double* weights_v, int64_t weights, double* intercept) const;

 private:
  struct Data {
    std::vector<double> scale, inverse, offset;
  };
  ColumnScales(std::vector<double> scale, std::vector<double> offset);
  std::shared_ptr<const Data> data_;
};

// Turns a shard into the solver's columns once, before training with a ProblemSpec whose `scales`
// are these: a~_ij = (a_ij - m_j) s_j. Values change in place; a centred column that lacks cells
// gets them (the rows are rebuilt, the metadata kept; the dimension widens to scales.dim() when a
// centred column lies beyond it). Not undone: keep the raw data if it is needed afterwards.
void ApplyColumnScales(Dataset* data, const ColumnScales& scales);

// The same for scales without offsets, from values kept aside: data's values become
// raw_values[k] s_j, written into data's own value array (resized; no other array changes, so the
// raw values can stay with the caller and a later session can apply other scales without a copy of
// the rows). REQUIRES: !scales.centred(); raw_values has data->nnz() entries, in data's order.
void ScaleColumnValues(const std::vector<double>& raw_values, const ColumnScales& scales,
                       Dataset* data);

}  // namespace edgetrain

#endif  // EDGETRAIN_COLUMN_SCALES_H_
