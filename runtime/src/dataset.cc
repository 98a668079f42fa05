#include "edgetrain/dataset.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "edgetrain/text.h"
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
    return Status::InvalidArgument("the two labels '" + Printable(first, 60) + "' and '" +
                                   Printable(second, 60) + "' are the same value");
  }
  if (positive) {
    if (SameLabel(*positive, first)) return LabelMap{second, first};
    if (SameLabel(*positive, second)) return LabelMap{first, second};
    return Status::InvalidArgument("positive label '" + Printable(*positive, 60) +
                                   "' is not one of the labels '" + Printable(first, 60) +
                                   "' and '" + Printable(second, 60) + "' found in the data");
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
      return Status::InvalidArgument(
          "the data's label '" + Printable(raw[k], 60) + "' is not one of the run's labels '" +
          Printable(map.negative, 60) + "' and '" + Printable(map.positive, 60) + "'");
    }
    target[k] = *t;
  }
  for (double& v : y_) v = (v == current[1]) ? target[1] : target[0];
  labels_ = map;
  return Status::Ok();
}

Status Dataset::Append(const Dataset& more) {
  if (more.task_ != task_) return Status::InvalidArgument("cannot append rows of another task");
  if (rows() > 0 && more.rows() > 0 && more.feature_names_ != feature_names_) {
    return Status::InvalidArgument("the feature columns differ");
  }
  if (more.labels_ != labels_) return Status::InvalidArgument("the label mappings differ");
  // Deferred classification labels: renumber more's provisional ids into this one's.
  double remap[2] = {0, 1};
  std::vector<std::string> raw = raw_labels_;
  if (task_ == Task::kClassification && !labels_) {
    for (size_t k = 0; k < more.raw_labels_.size(); ++k) {
      size_t j = 0;
      while (j < raw.size() && !SameLabel(raw[j], more.raw_labels_[k])) ++j;
      if (j == raw.size()) {
        if (raw.size() == 2) {
          return Status::InvalidArgument(
              "found a third label '" + Printable(more.raw_labels_[k], 60) +
              "', expected one of '" + Printable(raw[0], 60) + "' and '" + Printable(raw[1], 60) +
              "' (binary classification needs exactly two labels)");
        }
        raw.push_back(more.raw_labels_[k]);
      }
      remap[k] = static_cast<double>(j);
    }
  }
  raw_labels_ = std::move(raw);
  if (rows() == 0) feature_names_ = more.feature_names_;
  const int64_t base = static_cast<int64_t>(index_.size());
  for (int64_t i = 1; i < static_cast<int64_t>(more.row_ptr_.size()); ++i) {
    row_ptr_.push_back(base + more.row_ptr_[i]);
  }
  index_.insert(index_.end(), more.index_.begin(), more.index_.end());
  value_.insert(value_.end(), more.value_.begin(), more.value_.end());
  const bool renumber = task_ == Task::kClassification && !labels_;
  for (double v : more.y_) y_.push_back(renumber ? remap[v == 0.0 ? 0 : 1] : v);
  row_tags_.insert(row_tags_.end(), more.row_tags_.begin(), more.row_tags_.end());
  missing_.cells += more.missing_.cells;
  missing_.skipped_rows += more.missing_.skipped_rows;
  dim_ = std::max(dim_, more.dim_);
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
