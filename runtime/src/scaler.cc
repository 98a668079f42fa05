#include "edgetrain/scaler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgetrain {

const char* ScalerName(ScalerKind kind) {
  switch (kind) {
    case ScalerKind::kNone:
      return "none";
    case ScalerKind::kStandard:
      return "standard";
    case ScalerKind::kMinMax:
      return "minmax";
    case ScalerKind::kMaxAbs:
      return "maxabs";
  }
  return "unknown";
}

std::optional<ScalerKind> ParseScalerName(std::string_view name) {
  for (ScalerKind k :
       {ScalerKind::kNone, ScalerKind::kStandard, ScalerKind::kMinMax, ScalerKind::kMaxAbs}) {
    if (name == ScalerName(k)) return k;
  }
  return std::nullopt;
}

ColumnStats ColumnStats::Compute(const Dataset& data) {
  const int32_t d = data.dim();
  ColumnStats s;
  s.rows = data.rows();
  s.nonzeros.assign(d, 0);
  s.sum.assign(d, 0.0);
  s.sum_squares.assign(d, 0.0);
  s.min.assign(d, 0.0);
  s.max.assign(d, 0.0);
  const auto& index = data.index();
  const auto& value = data.value();
  for (size_t k = 0; k < index.size(); ++k) {
    const int32_t j = index[k];
    const double v = value[k];
    if (s.nonzeros[j] == 0) {
      s.min[j] = s.max[j] = v;
    } else {
      s.min[j] = std::min(s.min[j], v);
      s.max[j] = std::max(s.max[j], v);
    }
    ++s.nonzeros[j];
    s.sum[j] += v;
    s.sum_squares[j] += v * v;
  }
  return s;
}

void ColumnStats::Merge(const ColumnStats& o) {
  const int32_t d = std::max(dim(), o.dim());
  nonzeros.resize(d, 0);
  sum.resize(d, 0.0);
  sum_squares.resize(d, 0.0);
  min.resize(d, 0.0);
  max.resize(d, 0.0);
  for (int32_t j = 0; j < o.dim(); ++j) {
    if (o.nonzeros[j] == 0) continue;
    if (nonzeros[j] == 0) {
      min[j] = o.min[j];
      max[j] = o.max[j];
    } else {
      min[j] = std::min(min[j], o.min[j]);
      max[j] = std::max(max[j], o.max[j]);
    }
    nonzeros[j] += o.nonzeros[j];
    sum[j] += o.sum[j];
    sum_squares[j] += o.sum_squares[j];
  }
  rows += o.rows;
}

double ColumnStats::Min(int32_t j) const {
  if (nonzeros[j] == 0) return 0.0;
  return nonzeros[j] < rows ? std::min(min[j], 0.0) : min[j];
}

double ColumnStats::Max(int32_t j) const {
  if (nonzeros[j] == 0) return 0.0;
  return nonzeros[j] < rows ? std::max(max[j], 0.0) : max[j];
}

Scaler Scaler::Fit(const Dataset& data, ScalerKind kind) {
  if (kind == ScalerKind::kNone || data.rows() == 0) {
    Scaler s;
    s.kind = kind;
    s.offset.assign(data.dim(), 0.0);
    s.factor.assign(data.dim(), 1.0);
    return s;
  }
  return FromStats(ColumnStats::Compute(data), kind);
}

Scaler Scaler::FromStats(const ColumnStats& stats, ScalerKind kind) {
  const int32_t d = stats.dim();
  const double n = static_cast<double>(stats.rows);
  Scaler s;
  s.kind = kind;
  s.offset.assign(d, 0.0);
  s.factor.assign(d, 1.0);
  if (kind == ScalerKind::kNone || stats.rows == 0) return s;
  for (int32_t j = 0; j < d; ++j) {
    switch (kind) {
      case ScalerKind::kStandard: {
        const double mean = stats.sum[j] / n;
        const double var = std::max(0.0, stats.sum_squares[j] / n - mean * mean);
        s.offset[j] = mean;
        s.factor[j] = var > 0 ? 1.0 / std::sqrt(var) : 1.0;
        break;
      }
      case ScalerKind::kMinMax: {
        const double lo = stats.Min(j), hi = stats.Max(j);
        s.offset[j] = lo;
        s.factor[j] = hi > lo ? 1.0 / (hi - lo) : 1.0;
        break;
      }
      case ScalerKind::kMaxAbs: {
        const double amax = std::max(std::fabs(stats.Min(j)), std::fabs(stats.Max(j)));
        s.factor[j] = amax > 0 ? 1.0 / amax : 1.0;
        break;
      }
      case ScalerKind::kNone:
        break;
    }
  }
  return s;
}

ColumnStats Scaler::ApplyToStats(const ColumnStats& stats) const {
  ColumnStats out = stats;
  const double n = static_cast<double>(stats.rows);
  for (int32_t j = 0; j < stats.dim(); ++j) {
    const double o = offset[j], f = factor[j];
    double lo, hi;
    if (o == 0.0) {  // the stored cells scale, the implicit zeros stay
      out.sum[j] = stats.sum[j] * f;
      out.sum_squares[j] = stats.sum_squares[j] * f * f;
      lo = stats.min[j] * f;
      hi = stats.max[j] * f;
    } else {  // every row gets a cell (v - o) f, the implicit zeros -o f
      out.nonzeros[j] = stats.rows;
      out.sum[j] = (stats.sum[j] - n * o) * f;
      out.sum_squares[j] =
          std::max(0.0, (stats.sum_squares[j] - 2 * o * stats.sum[j] + n * o * o) * f * f);
      lo = (stats.Min(j) - o) * f;
      hi = (stats.Max(j) - o) * f;
    }
    out.min[j] = std::min(lo, hi);
    out.max[j] = std::max(lo, hi);
  }
  return out;
}

Dataset Scaler::Apply(const Dataset& data) const {
  const int32_t d = data.dim();
  std::vector<int32_t> centred;  // features whose implicit zeros become non-zero
  for (int32_t j = 0; j < d && j < static_cast<int32_t>(offset.size()); ++j) {
    if (offset[j] != 0.0) centred.push_back(j);
  }
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> idx;
  std::vector<double> val;
  row_ptr.reserve(data.rows() + 1);
  idx.reserve(data.nnz() + centred.size() * data.rows());
  val.reserve(idx.capacity());
  auto scaled = [&](int32_t j, double v) {
    return j < static_cast<int32_t>(offset.size()) ? (v - offset[j]) * factor[j] : v;
  };
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    int32_t k = 0;
    size_t c = 0;
    while (k < row.nnz || c < centred.size()) {
      int32_t j;
      double v;
      if (c < centred.size() && (k >= row.nnz || centred[c] < row.index[k])) {
        j = centred[c++];
        v = scaled(j, 0.0);
      } else {
        j = row.index[k];
        v = scaled(j, row.value[k]);
        if (c < centred.size() && centred[c] == j) ++c;
        ++k;
      }
      if (v != 0.0) {
        idx.push_back(j);
        val.push_back(v);
      }
    }
    row_ptr.push_back(static_cast<int64_t>(idx.size()));
  }
  Dataset out(std::move(row_ptr), std::move(idx), std::move(val), data.y(), d, data.task(),
              data.labels());
  out.set_feature_names(data.feature_names());
  return out;
}

}  // namespace edgetrain
