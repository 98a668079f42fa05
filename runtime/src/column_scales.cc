#include "edgetrain/column_scales.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace edgetrain {

ColumnScales::ColumnScales(std::vector<double> scale, std::vector<double> offset) {
  auto data = std::make_shared<Data>();
  data->inverse.resize(scale.size());
  for (size_t j = 0; j < scale.size(); ++j) data->inverse[j] = 1.0 / scale[j];  // exact
  data->scale = std::move(scale);
  bool centred = false;
  for (double m : offset) centred |= m != 0.0;
  if (centred) data->offset = std::move(offset);
  data_ = std::move(data);
}

namespace {

int PowerOfTwoExponent(double target) {
  return static_cast<int>(std::clamp(std::round(std::log2(target)),
                                     static_cast<double>(-ColumnScales::kMaxExponent),
                                     static_cast<double>(ColumnScales::kMaxExponent)));
}

}  // namespace

ColumnScales ColumnScales::FromStats(const ColumnStats& stats, bool intercept) {
  const int32_t d = stats.dim();
  const double n = static_cast<double>(stats.rows);
  std::vector<double> scale(static_cast<size_t>(d), 1.0), offset(static_cast<size_t>(d), 0.0);
  // Each column's magnitude: the standard deviation of a centred one, else the root mean square
  // of its stored cells; the nnz-weighted median of the latter (log) is the typical magnitude.
  std::vector<double> magnitude(static_cast<size_t>(d), 0.0);
  std::vector<std::pair<double, double>> logs;  // (log magnitude, nonzeros), uncentred columns
  bool any_centred = false;
  for (int32_t j = 0; j < d; ++j) {
    if (stats.nonzeros[j] == 0 || !(stats.sum_squares[j] > 0)) continue;
    if (intercept && 2 * stats.nonzeros[j] >= stats.rows) {
      const double mean = stats.sum[j] / n;
      const double var = stats.sum_squares[j] / n - mean * mean;
      // Centred when that changes anything: not for a column centred already (standardised
      // data), nor for a constant one (the intercept's twin).
      if (var > 1e-12 * stats.sum_squares[j] / n && std::isfinite(var) &&
          std::fabs(mean) > 1e-6 * std::sqrt(var)) {
        offset[j] = mean;
        magnitude[j] = std::sqrt(var);
        any_centred = true;
        continue;
      }
    }
    const double nonzeros = static_cast<double>(stats.nonzeros[j]);
    const double rms = std::sqrt(stats.sum_squares[j] / nonzeros);
    if (!std::isfinite(rms)) continue;
    magnitude[j] = rms;
    logs.emplace_back(std::log(rms), nonzeros);
  }
  double typical = 1.0;
  if (!logs.empty()) {
    std::sort(logs.begin(), logs.end());
    double total = 0.0;
    for (const auto& l : logs) total += l.second;
    double below = 0.0;
    for (const auto& l : logs) {
      below += l.second;
      if (2 * below >= total) {
        typical = std::exp(l.first);
        break;
      }
    }
  }
  // The magnitude every column is brought to (or near): 1 when columns are centred (their
  // standard deviation), else the typical one, so that data already in one unit stays as it is.
  const double reference = any_centred ? 1.0 : typical;
  bool identity = !any_centred;
  for (int32_t j = 0; j < d; ++j) {
    if (magnitude[j] == 0.0) continue;
    double target = reference;  // centred: the standard deviation becomes ~1
    if (offset[j] == 0.0) {
      target *= std::clamp(magnitude[j] / typical, 1.0 / kBand, kBand);
    }
    const int e = PowerOfTwoExponent(target / magnitude[j]);
    scale[j] = std::ldexp(1.0, e);
    identity &= e == 0;
  }
  if (identity) return ColumnScales();
  // Columns past the last scaled or centred one are the identity (scale(j) is 1 there): a wide,
  // sparse model's Welcome need not carry them.
  size_t used = scale.size();
  while (used > 0 && scale[used - 1] == 1.0 && offset[used - 1] == 0.0) --used;
  scale.resize(used);
  offset.resize(used);
  return ColumnScales(std::move(scale), std::move(offset));
}

Result<ColumnScales> ColumnScales::FromValues(const std::vector<double>& scales,
                                              const std::vector<double>& offsets) {
  bool identity = true;
  for (size_t j = 0; j < scales.size(); ++j) {
    int e = 0;
    const double mantissa = std::frexp(scales[j], &e);  // s = mantissa 2^e, mantissa in [1/2, 1)
    if (!(scales[j] > 0) || !std::isfinite(scales[j]) || mantissa != 0.5 ||
        std::abs(e - 1) > kMaxExponent) {
      char value[32];
      std::snprintf(value, sizeof value, "%.17g", scales[j]);
      return Status::InvalidArgument("column scale " + std::to_string(j) + " is " + value +
                                     ": not a power of two in [2^-256, 2^256]");
    }
    identity &= scales[j] == 1.0;
  }
  if (!offsets.empty() && offsets.size() != scales.size()) {
    return Status::InvalidArgument("column offsets: " + std::to_string(offsets.size()) +
                                   " entries for " + std::to_string(scales.size()) + " scales");
  }
  for (size_t j = 0; j < offsets.size(); ++j) {
    if (!std::isfinite(offsets[j])) {
      return Status::InvalidArgument("column offset " + std::to_string(j) + " is not finite");
    }
    identity &= offsets[j] == 0.0;
  }
  if (identity) return ColumnScales();
  return ColumnScales(scales, offsets);
}

double ColumnScales::max_scale() const {
  double m = 1.0;
  for (int32_t j = 0; j < dim(); ++j) m = std::max(m, data_->scale[j]);
  return m;
}

double ColumnScales::min_scale() const {
  double m = 1.0;
  for (int32_t j = 0; j < dim(); ++j) m = std::min(m, data_->scale[j]);
  return m;
}

int32_t ColumnScales::scaled_columns() const {
  int32_t count = 0;
  for (int32_t j = 0; j < dim(); ++j) count += data_->scale[j] != 1.0;
  return count;
}

int32_t ColumnScales::centred_columns() const {
  int32_t count = 0;
  for (int32_t j = 0; j < dim() && centred(); ++j) count += data_->offset[j] != 0.0;
  return count;
}

void ColumnScales::ToUser(double* v, int64_t weights, double* intercept) const {
  const int64_t m = std::min<int64_t>(weights, dim());
  for (int64_t j = 0; j < m; ++j) v[j] *= data_->scale[j];
  if (centred()) {  // b = b~ - sum_j m_j x_j
    double shift = 0.0;
    for (int64_t j = 0; j < m; ++j) shift += data_->offset[j] * v[j];
    *intercept -= shift;
  }
}

void ColumnScales::ToSolver(double* v, int64_t weights, double* intercept) const {
  const int64_t m = std::min<int64_t>(weights, dim());
  if (centred()) {  // b~ = b + sum_j m_j x_j
    double shift = 0.0;
    for (int64_t j = 0; j < m; ++j) shift += data_->offset[j] * v[j];
    *intercept += shift;
  }
  for (int64_t j = 0; j < m; ++j) v[j] *= data_->inverse[j];
}

void ApplyColumnScales(Dataset* data, const ColumnScales& scales) {
  if (scales.empty()) return;
  // A shard lacking the last (centred) features still needs their cells: it takes the width of
  // the statistics the scales came from.
  if (scales.centred() && scales.dim() > data->dim()) data->set_dim(scales.dim());
  const int32_t d = std::min(data->dim(), scales.dim());
  // Columns to centre that lack cells (their implicit zeros become -m_j s_j): the rows are
  // rebuilt with those cells added.
  std::vector<int32_t> fill;
  if (scales.centred()) {
    std::vector<int64_t> count(static_cast<size_t>(d), 0);
    for (int32_t j : data->index())
      if (j < d) ++count[j];
    for (int32_t j = 0; j < d; ++j)
      if (scales.offset(j) != 0.0 && count[j] < data->rows()) fill.push_back(j);
  }
  if (fill.empty()) {
    const std::vector<int32_t>& index = data->index();
    std::vector<double>& value = data->mutable_value();
    for (size_t k = 0; k < index.size(); ++k) {
      const int32_t j = index[k];
      if (j < d) value[k] = (value[k] - scales.offset(j)) * scales.scale(j);
    }
    return;
  }
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> idx;
  std::vector<double> val;
  row_ptr.reserve(static_cast<size_t>(data->rows()) + 1);
  idx.reserve(static_cast<size_t>(data->nnz()) + fill.size() * static_cast<size_t>(data->rows()));
  val.reserve(idx.capacity());
  for (int64_t i = 0; i < data->rows(); ++i) {
    const RowView row = data->Row(i);
    int32_t k = 0;
    size_t c = 0;
    while (k < row.nnz || c < fill.size()) {
      if (c < fill.size() && (k >= row.nnz || fill[c] < row.index[k])) {
        const int32_t j = fill[c++];
        idx.push_back(j);
        val.push_back(-scales.offset(j) * scales.scale(j));
        continue;
      }
      const int32_t j = row.index[k];
      if (c < fill.size() && fill[c] == j) ++c;
      idx.push_back(j);
      val.push_back(j < d ? (row.value[k] - scales.offset(j)) * scales.scale(j) : row.value[k]);
      ++k;
    }
    row_ptr.push_back(static_cast<int64_t>(idx.size()));
  }
  Dataset out(std::move(row_ptr), std::move(idx), std::move(val), data->y(), data->dim(),
              data->task(), data->labels());
  out.set_feature_names(data->feature_names());
  out.set_raw_labels(data->raw_labels());
  out.set_labeled(data->labeled());
  out.set_row_tags(data->row_tags());
  out.set_missing(data->missing());
  *data = std::move(out);
}

void ScaleColumnValues(const std::vector<double>& raw_values, const ColumnScales& scales,
                       Dataset* data) {
  assert(!scales.centred() && raw_values.size() == data->index().size());
  const std::vector<int32_t>& index = data->index();
  std::vector<double>& value = data->mutable_value();
  value.resize(raw_values.size());
  const int32_t d = std::min(data->dim(), scales.dim());
  std::vector<double> factor(static_cast<size_t>(std::max(d, 0)));
  for (int32_t j = 0; j < d; ++j) factor[j] = scales.scale(j);
  for (size_t k = 0; k < index.size(); ++k) {
    const int32_t j = index[k];
    value[k] = j < d ? raw_values[k] * factor[j] : raw_values[k];
  }
}

}  // namespace edgetrain
