#include "edgetrain/dataset.h"

#include <cassert>
#include <cmath>

#include "parse_number.h"

namespace edgetrain {

const char* TaskName(Task task) {
  return task == Task::kClassification ? "classification" : "regression";
}

bool SameLabel(std::string_view a, std::string_view b) {
  if (a == b) return true;  // also for "nan", which is not equal to itself as a number
  double x, y;
  return internal::ParseDouble(a, &x) && internal::ParseDouble(b, &y) && x == y;
}

std::optional<double> LabelMap::Map(std::string_view raw) const {
  if (SameLabel(raw, positive)) return 1.0;
  if (SameLabel(raw, negative)) return -1.0;
  return std::nullopt;
}

Result<LabelMap> ChooseLabelMap(const std::string& first, const std::string& second,
                                const std::optional<std::string>& positive) {
  if (SameLabel(first, second)) {
    return Status::InvalidArgument("the two labels '" + first + "' and '" + second +
                                   "' are the same value");
  }
  if (positive) {
    if (SameLabel(*positive, first)) return LabelMap{second, first};
    if (SameLabel(*positive, second)) return LabelMap{first, second};
    return Status::InvalidArgument("positive label '" + *positive + "' is not one of the labels '" +
                                   first + "' and '" + second + "' found in the data");
  }
  double a, b;
  bool first_is_larger;
  if (internal::ParseDouble(first, &a) && internal::ParseDouble(second, &b)) {
    first_is_larger = a > b;
  } else {
    first_is_larger = first > second;
  }
  return first_is_larger ? LabelMap{second, first} : LabelMap{first, second};
}

Dataset::Dataset(std::vector<int64_t> row_ptr, std::vector<int32_t> index,
                 std::vector<double> value, std::vector<double> y, int32_t dim, Task task,
                 std::optional<LabelMap> labels)
    : row_ptr_(std::move(row_ptr)),
      index_(std::move(index)),
      value_(std::move(value)),
      y_(std::move(y)),
      dim_(dim),
      task_(task),
      labels_(std::move(labels)) {
  assert(row_ptr_.size() == y_.size() + 1);
  assert(row_ptr_.back() == static_cast<int64_t>(index_.size()));
  assert(index_.size() == value_.size());
}

Status Dataset::ApplyLabelMap(const LabelMap& map) {
  // The two values y holds now (provisional ids 0/1, or -1/+1 of an earlier mapping) and the
  // raw label each stands for.
  const double current[2] = {labels_ ? -1.0 : 0.0, 1.0};
  std::string raw[2];
  for (int k = 0; k < 2; ++k) {
    if (labels_)
      raw[k] = k == 0 ? labels_->negative : labels_->positive;
    else if (k < static_cast<int>(raw_labels_.size()))
      raw[k] = raw_labels_[k];
  }
  bool present[2] = {false, false};
  for (double v : y_) present[v == current[1] ? 1 : 0] = true;
  double target[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    if (!present[k]) continue;
    std::optional<double> t = map.Map(raw[k]);
    if (!t) {
      return Status::InvalidArgument("the data's label '" + raw[k] +
                                     "' is not one of the run's labels '" + map.negative +
                                     "' and '" + map.positive + "'");
    }
    target[k] = *t;
  }
  for (double& v : y_) v = (v == current[1]) ? target[1] : target[0];
  labels_ = map;
  return Status::Ok();
}

void Dataset::set_dim(int32_t dim) {
  assert(dim >= dim_);
  dim_ = dim;
}

Dataset Dataset::SelectRows(const std::vector<int64_t>& rows) const {
  std::vector<int64_t> row_ptr{0};
  row_ptr.reserve(rows.size() + 1);
  int64_t nnz = 0;
  for (int64_t r : rows) nnz += row_ptr_[r + 1] - row_ptr_[r];
  std::vector<int32_t> index;
  std::vector<double> value;
  std::vector<double> y;
  index.reserve(nnz);
  value.reserve(nnz);
  y.reserve(rows.size());
  for (int64_t r : rows) {
    index.insert(index.end(), index_.begin() + row_ptr_[r], index_.begin() + row_ptr_[r + 1]);
    value.insert(value.end(), value_.begin() + row_ptr_[r], value_.begin() + row_ptr_[r + 1]);
    y.push_back(y_[r]);
    row_ptr.push_back(static_cast<int64_t>(index.size()));
  }
  Dataset out(std::move(row_ptr), std::move(index), std::move(value), std::move(y), dim_, task_,
              labels_);
  out.feature_names_ = feature_names_;
  out.raw_labels_ = raw_labels_;
  return out;
}

Dataset Dataset::Shard(int k, int K) const {
  assert(K > 0 && k >= 0 && k < K);
  const int64_t n = rows();
  const int64_t begin = n * k / K, end = n * (k + 1) / K;
  std::vector<int64_t> rows_list;
  rows_list.reserve(end - begin);
  for (int64_t i = begin; i < end; ++i) rows_list.push_back(i);
  return SelectRows(rows_list);
}

int64_t Dataset::MemoryBytes() const {
  return static_cast<int64_t>(row_ptr_.size() * sizeof(int64_t) + index_.size() * sizeof(int32_t) +
                              value_.size() * sizeof(double) + y_.size() * sizeof(double));
}

}  // namespace edgetrain
