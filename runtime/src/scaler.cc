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

Scaler Scaler::Fit(const Dataset& data, ScalerKind kind) {
  const int32_t d = data.dim();
  const double n = static_cast<double>(data.rows());
  Scaler s;
  s.kind = kind;
  s.offset.assign(d, 0.0);
  s.factor.assign(d, 1.0);
  if (kind == ScalerKind::kNone || data.rows() == 0) return s;
  std::vector<double> sum(d, 0.0), sumsq(d, 0.0), lo(d, 0.0), hi(d, 0.0), amax(d, 0.0);
  std::vector<int64_t> count(d, 0);
  const auto& index = data.index();
  const auto& value = data.value();
  for (size_t k = 0; k < index.size(); ++k) {
    const int32_t j = index[k];
    const double v = value[k];
    if (count[j] == 0) {
      lo[j] = hi[j] = v;
    } else {
      lo[j] = std::min(lo[j], v);
      hi[j] = std::max(hi[j], v);
    }
    ++count[j];
    sum[j] += v;
    sumsq[j] += v * v;
    amax[j] = std::max(amax[j], std::fabs(v));
  }
  for (int32_t j = 0; j < d; ++j) {
    if (count[j] < data.rows()) {  // implicit zeros present
      lo[j] = std::min(lo[j], 0.0);
      hi[j] = std::max(hi[j], 0.0);
    }
    switch (kind) {
      case ScalerKind::kStandard: {
        const double mean = sum[j] / n;
        const double var = std::max(0.0, sumsq[j] / n - mean * mean);
        s.offset[j] = mean;
        s.factor[j] = var > 0 ? 1.0 / std::sqrt(var) : 1.0;
        break;
      }
      case ScalerKind::kMinMax:
        s.offset[j] = lo[j];
        s.factor[j] = hi[j] > lo[j] ? 1.0 / (hi[j] - lo[j]) : 1.0;
        break;
      case ScalerKind::kMaxAbs:
        s.factor[j] = amax[j] > 0 ? 1.0 / amax[j] : 1.0;
        break;
      case ScalerKind::kNone:
        break;
    }
  }
  return s;
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
