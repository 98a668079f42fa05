// LabelCollector: maps the raw labels of a file to targets while it is read (internal header).
//
// Classification without a given mapping: the first two distinct raw labels get provisional ids
// 0 and 1 (a third is an error); Finish() chooses the LabelMap and rewrites the ids to -1/+1.
// With a given mapping the targets are -1/+1 at once. Regression: the label is a number.
#ifndef EDGETRAIN_RUNTIME_LABEL_COLLECTOR_H_
#define EDGETRAIN_RUNTIME_LABEL_COLLECTOR_H_

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/readers.h"
#include "edgetrain/text.h"
#include "parse_number.h"

namespace edgetrain::internal {

class LabelCollector {
 public:
  explicit LabelCollector(const ReadOptions& options) : options_(options) {}

  // Returns the target for `raw`, or nullopt with *error set to "found ..., expected ...".
  std::optional<double> Add(std::string_view raw, std::string* error) {
    if (options_.task == Task::kRegression) {
      double v;
      if (!ParseDouble(raw, &v)) {
        *error = "found '" + Printable(raw, 60) + "', expected a numeric target";
        return std::nullopt;
      }
      if (!std::isfinite(v)) {
        *error = "found '" + Printable(raw, 60) + "', expected a finite target";
        return std::nullopt;
      }
      return v;
    }
    if (options_.labels) {
      if (raw == last_raw_) return last_target_;
      std::optional<double> t = options_.labels->Map(raw);
      if (!t) {
        *error = "found label '" + Printable(raw, 60) + "', expected one of the model's labels '" +
                 Printable(options_.labels->negative, 60) + "' and '" +
                 Printable(options_.labels->positive, 60) + "'";
        return std::nullopt;
      }
      last_raw_.assign(raw);
      last_target_ = *t;
      return t;
    }
    for (size_t k = 0; k < seen_.size(); ++k) {
      if (raw == seen_[k]) return static_cast<double>(k);  // exact text: the fast path
    }
    for (size_t k = 0; k < seen_.size(); ++k) {
      if (SameLabel(raw, seen_[k])) return static_cast<double>(k);  // "1" == "+1"
    }
    if (seen_.size() == 2) {
      *error = "found a third label '" + Printable(raw, 60) + "', expected one of '" +
               Printable(seen_[0], 60) + "' and '" + Printable(seen_[1], 60) +
               "' (binary classification needs exactly two labels)";
      return std::nullopt;
    }
    seen_.emplace_back(raw);
    return static_cast<double>(seen_.size() - 1);
  }

  // The raw labels in the order first seen (provisional ids 0 and 1).
  const std::vector<std::string>& seen() const { return seen_; }

  // Rewrites provisional ids to -1/+1 and returns the mapping (nullopt for regression, and for
  // classification with ReadOptions::defer_label_map, where the ids stay).
  Result<std::optional<LabelMap>> Finish(std::vector<double>* y, const std::string& source) {
    if (options_.task == Task::kRegression) return std::optional<LabelMap>();
    if (options_.labels) return std::optional<LabelMap>(options_.labels);
    if (options_.defer_label_map) {
      if (y->empty()) return Status::InvalidArgument(source + ": no rows");
      return std::optional<LabelMap>();
    }
    if (seen_.size() < 2) {
      return Status::InvalidArgument(
          source + ": found " +
          (seen_.empty() ? "no rows" : "only the label '" + Printable(seen_[0], 60) + "'") +
          ", expected two distinct labels for classification (use --task regression for "
          "real-valued targets)");
    }
    Result<LabelMap> map = ChooseLabelMap(seen_[0], seen_[1], options_.positive_label);
    if (!map.ok()) return map.status().WithContext(source);
    const double id0 = map->Map(seen_[0]).value();
    const double id1 = -id0;
    for (double& v : *y) v = (v == 0.0) ? id0 : id1;
    return std::optional<LabelMap>(*map);
  }

 private:
  const ReadOptions& options_;
  std::vector<std::string> seen_;
  std::string last_raw_;
  double last_target_ = 0;
};

}  // namespace edgetrain::internal

#endif  // EDGETRAIN_RUNTIME_LABEL_COLLECTOR_H_
