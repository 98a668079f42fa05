// Dataset: a sparse design matrix in CSR form with one target per row.
//
// Rows are the samples a_i (feature indices 0-based, strictly increasing within a row), targets
// y_i are in {-1, +1} for classification (the original labels are kept in a LabelMap) and real
// numbers for regression. The dimension d may exceed the largest index seen (a test file read
// against a wider model, or a shard that lacks the last features).
//
// Thread-safety: immutable after construction; concurrent readers are fine.
// Ownership: a Dataset owns its arrays; RowView points into them and must not outlive the Dataset.
#ifndef EDGETRAIN_DATASET_H_
#define EDGETRAIN_DATASET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/status.h"

namespace edgetrain {

enum class Task : uint8_t { kClassification = 0, kRegression = 1 };

const char* TaskName(Task task);

// The two original class labels of a binary classification problem, as written in the data
// ("0"/"1", "-1"/"+1", "B"/"M", "Rad.Flow"/...). Internally the negative one is -1, the
// positive one +1.
struct LabelMap {
  std::string negative;
  std::string positive;

  bool operator==(const LabelMap&) const = default;
  // Maps a raw label to -1/+1; numeric labels compare by value ("1" == "+1" == "1.0").
  // Returns nullopt when the label is neither of the two.
  std::optional<double> Map(std::string_view raw) const;
};

// True when two raw labels denote the same class: numbers compare by value ("1" == "+1" ==
// "1.0"), anything else by text.
bool SameLabel(std::string_view a, std::string_view b);

// Chooses the mapping for two distinct raw labels: `positive` if given (it must be one of the
// two), else the larger one (numerically when both are numbers, else lexicographically).
Result<LabelMap> ChooseLabelMap(const std::string& first, const std::string& second,
                                const std::optional<std::string>& positive);

// How a reader treated missing CSV cells (ReadOptions::missing).
struct MissingSummary {
  int64_t cells = 0;         // missing cells filled (kZero, kMean)
  int64_t skipped_rows = 0;  // rows left out (kSkip)
  // kMean: the value each feature's missing cells got (one per feature), as a model records it.
  std::vector<double> fill_values;
};

// A view of one row: nnz (index, value) pairs plus the target.
struct RowView {
  const int32_t* index;
  const double* value;
  int32_t nnz;
  double y;
};

class Dataset {
 public:
  Dataset() = default;
  // REQUIRES: row_ptr.size() == y.size() + 1, row_ptr.front() == 0, row_ptr.back() == index.size()
  //           == value.size(), indices in every row strictly increasing and < dim.
  Dataset(std::vector<int64_t> row_ptr, std::vector<int32_t> index, std::vector<double> value,
          std::vector<double> y, int32_t dim, Task task, std::optional<LabelMap> labels);

  int64_t rows() const { return static_cast<int64_t>(y_.size()); }
  int32_t dim() const { return dim_; }
  int64_t nnz() const { return static_cast<int64_t>(index_.size()); }
  Task task() const { return task_; }
  // Present for classification data.
  const std::optional<LabelMap>& labels() const { return labels_; }
  // Names of the features (CSV headers); empty for libsvm data.
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  void set_feature_names(std::vector<std::string> names) { feature_names_ = std::move(names); }

  RowView Row(int64_t i) const {
    const int64_t begin = row_ptr_[i];
    return RowView{index_.data() + begin, value_.data() + begin,
                   static_cast<int32_t>(row_ptr_[i + 1] - begin), y_[i]};
  }
  const std::vector<int64_t>& row_ptr() const { return row_ptr_; }
  const std::vector<int32_t>& index() const { return index_; }
  const std::vector<double>& value() const { return value_; }
  std::vector<double>& mutable_value() { return value_; }
  const std::vector<double>& y() const { return y_; }

  // False when the rows came without labels (ReadOptions::labels_optional); y() is then 0.
  bool labeled() const { return labeled_; }
  void set_labeled(bool labeled) { labeled_ = labeled; }
  // One entry per row with ReadOptions::id_columns: the id cells, tab separated; else empty.
  const std::vector<std::string>& row_tags() const { return row_tags_; }
  void set_row_tags(std::vector<std::string> tags) { row_tags_ = std::move(tags); }
  const MissingSummary& missing() const { return missing_; }
  void set_missing(MissingSummary missing) { missing_ = std::move(missing); }

  // Appends the rows of `more` (read from the same kind of source with the same options): the
  // dimension becomes the larger one; deferred labels (raw_labels) are merged, renumbering
  // `more`'s provisional ids. Fails, naming the labels, on a third class, and when the feature
  // names, the task or the label mapping differ.
  Status Append(const Dataset& more);

  // Classification read with ReadOptions::defer_label_map: the raw labels found, in the order of
  // the provisional ids held in y() (0, 1) until ApplyLabelMap.
  const std::vector<std::string>& raw_labels() const { return raw_labels_; }
  void set_raw_labels(std::vector<std::string> labels) { raw_labels_ = std::move(labels); }
  // Sets the -1/+1 targets from a mapping (also re-maps data already mapped differently).
  // Fails, naming the label, when a label of the data is not in the mapping.
  Status ApplyLabelMap(const LabelMap& map);

  // Widens the dimension (for reading a test file against a model, or aligning shards).
  // REQUIRES: dim >= this->dim()
  void set_dim(int32_t dim);

  // Rows [k*n/K, (k+1)*n/K): shard k of K, contiguous and deterministic, the way each device
  // holds its own block of the data. REQUIRES: 0 <= k < K.
  Dataset Shard(int k, int K) const;
  // The rows listed (in that order); used by splits and tests.
  Dataset SelectRows(const std::vector<int64_t>& rows) const;

  // Bytes held by the CSR arrays and targets (what an agent's memory budget counts as data).
  int64_t MemoryBytes() const;

 private:
  std::vector<int64_t> row_ptr_{0};
  std::vector<int32_t> index_;
  std::vector<double> value_;
  std::vector<double> y_;
  int32_t dim_ = 0;
  Task task_ = Task::kClassification;
  std::optional<LabelMap> labels_;
  std::vector<std::string> raw_labels_;
  std::vector<std::string> feature_names_;
  bool labeled_ = true;
  std::vector<std::string> row_tags_;
  MissingSummary missing_;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_DATASET_H_
