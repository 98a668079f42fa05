// CSV parser: a header row, then one sample per line.
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "edgetrain/readers.h"
#include "edgetrain/text.h"
#include "parse_number.h"
#include "row_parser.h"

namespace edgetrain::internal {
namespace {

struct Field {
  std::string_view text;
  int64_t column;  // 1-based byte column where the field starts
};

// Quoted text from a data file, made safe to print.
std::string Quote(std::string_view text) { return "'" + Printable(text, 60) + "'"; }

class CsvParser : public RowParser {
 public:
  using RowParser::RowParser;

  const std::vector<std::string>& header() const override { return names_; }

  Status SetHeader(const std::vector<std::string>& names) override {
    stored_fields_.clear();
    for (const std::string& n : names) stored_fields_.push_back(n);
    fields_.clear();
    for (const std::string& n : stored_fields_) fields_.push_back({n, 1});
    return ParseHeader();
  }

 private:
  int32_t Dimension() const override {
    return std::max(static_cast<int32_t>(feature_columns_.size()), options_.min_dim);
  }

  Status Complete(Dataset* data) override {
    if (names_.empty())
      return Status::InvalidArgument(source_ + ": empty file, expected a header row");
    std::vector<std::string> names;
    for (size_t c : feature_columns_) names.push_back(names_[c]);
    data->set_feature_names(std::move(names));
    if (options_.missing == MissingPolicy::kMean) {
      FillMeans(data);
      missing_.fill_values = options_.fill_values.empty() ? fill_ : options_.fill_values;
    }
    return Status::Ok();
  }

  // kMean without given fill values: the missing cells were stored as placeholders; now that
  // every row is read, they get their column's mean over the non-missing cells (0 for a column
  // with no value at all), and a mean of exactly 0 is dropped from the sparse rows.
  void FillMeans(Dataset* data) {
    if (!options_.fill_values.empty()) return;
    const double rows = static_cast<double>(data->rows());
    fill_.assign(feature_columns_.size(), 0.0);
    for (size_t k = 0; k < fill_.size(); ++k) {
      const double present = rows - static_cast<double>(missing_count_[k]);
      fill_[k] = present > 0 ? column_sum_[k] / present : 0.0;
    }
    if (missing_at_.empty()) return;
    std::vector<double>& value = data->mutable_value();
    bool zero = false;
    for (int64_t at : missing_at_) {
      value[at] = fill_[data->index()[at]];
      zero = zero || value[at] == 0.0;
    }
    if (!zero) return;
    std::vector<int64_t> row_ptr{0};
    std::vector<int32_t> index;
    std::vector<double> kept;
    for (int64_t i = 0; i < data->rows(); ++i) {
      const RowView r = data->Row(i);
      for (int32_t k = 0; k < r.nnz; ++k) {
        if (r.value[k] != 0.0) {
          index.push_back(r.index[k]);
          kept.push_back(r.value[k]);
        }
      }
      row_ptr.push_back(static_cast<int64_t>(index.size()));
    }
    Dataset compact(std::move(row_ptr), std::move(index), std::move(kept), data->y(), data->dim(),
                    data->task(), data->labels());
    compact.set_raw_labels(data->raw_labels());
    compact.set_labeled(data->labeled());
    compact.set_row_tags(data->row_tags());
    *data = std::move(compact);
  }

  // Splits one line into fields (RFC 4180 quoting within the line).
  Status Split(const char* line_start, const char* eol) {
    fields_.clear();
    unquoted_count_ = 0;
    const char delim = options_.csv_delimiter;
    const char* p = line_start;
    while (true) {
      const char* start = p;
      if (p < eol && *p == '"') {
        // Quoted: copy with "" -> " into a side buffer (reused: no allocation once warm).
        if (unquoted_count_ == unquoted_.size()) unquoted_.emplace_back();
        std::string& text = unquoted_[unquoted_count_];
        text.clear();
        ++p;
        while (true) {
          if (p >= eol) {
            return Status::InvalidArgument(Where(start - line_start + 1) +
                                           ": found an unterminated quote, expected '\"' before "
                                           "the end of the line");
          }
          if (*p == '"') {
            if (p + 1 < eol && p[1] == '"') {
              text.push_back('"');
              p += 2;
              continue;
            }
            ++p;
            break;
          }
          text.push_back(*p++);
        }
        // The CR of a CRLF line end after a closing quote ends the line (as after unquoted fields).
        const char* after = p;
        while (after < eol && *after == '\r') ++after;
        if (after == eol) p = eol;
        if (p < eol && *p != delim) {
          return Status::InvalidArgument(Where(p - line_start + 1) + ": found " +
                                         Quote(std::string_view(p, 1)) +
                                         " after a quoted field, expected '" +
                                         Printable({&delim, 1}) + "' or the end of the line");
        }
        fields_.push_back({std::string_view(), start - line_start + 1});
        quoted_index_.resize(fields_.size());
        quoted_index_.back() = static_cast<int64_t>(unquoted_count_++);
      } else {
        while (p < eol && *p != delim) ++p;
        std::string_view text(start, p - start);
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
        while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        fields_.push_back({text, start - line_start + 1});
        quoted_index_.resize(fields_.size());
        quoted_index_.back() = -1;
      }
      if (p >= eol) break;
      ++p;  // delimiter
    }
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (quoted_index_[i] >= 0) fields_[i].text = unquoted_[quoted_index_[i]];
    }
    return Status::Ok();
  }

  Status ParseHeader() {
    std::unordered_map<std::string, size_t> by_name;
    for (size_t i = 0; i < fields_.size(); ++i) {
      names_.emplace_back(fields_[i].text);
      if (!by_name.emplace(names_.back(), i).second) {
        return Status::InvalidArgument(Where(fields_[i].column) + ": found the column name " +
                                       Quote(names_.back()) + " twice, expected unique names");
      }
    }
    auto list = [&] {
      std::string all;
      for (const std::string& n : names_) all += (all.empty() ? "" : ", ") + Printable(n, 60);
      return Printable(all, 400);
    };
    std::vector<bool> taken(names_.size(), false);
    for (const std::string& name : options_.id_columns) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return Status::InvalidArgument(source_ + ":1: no column named " + Quote(name) +
                                       " for --id-column; columns are: " + list());
      }
      id_columns_.push_back(it->second);
      taken[it->second] = true;
    }
    has_label_ = false;
    if (!options_.label_column.empty()) {
      auto it = by_name.find(options_.label_column);
      if (it != by_name.end()) {
        has_label_ = true;
        label_column_ = it->second;
        taken[label_column_] = true;
      } else if (!options_.labels_optional) {
        return Status::InvalidArgument(source_ + ":1: no column named " +
                                       Quote(options_.label_column) +
                                       " for the label; columns are: " + list());
      }
    } else if (!options_.labels_optional) {
      return Status::InvalidArgument(source_ +
                                     ": a CSV file needs --label-column; columns are: " + list());
    }
    if (options_.feature_columns.empty()) {
      for (size_t i = 0; i < names_.size(); ++i) {
        if (!taken[i]) feature_columns_.push_back(i);
      }
    } else {
      for (const std::string& name : options_.feature_columns) {
        auto f = by_name.find(name);
        if (f == by_name.end()) {
          return Status::InvalidArgument(source_ + ":1: no column named " + Quote(name) +
                                         " for a feature; columns are: " + list());
        }
        if (has_label_ && f->second == label_column_) {
          return Status::InvalidArgument(source_ + ":1: column " + Quote(name) +
                                         " is the label and cannot also be a feature");
        }
        feature_columns_.push_back(f->second);
      }
    }
    if (feature_columns_.size() > static_cast<size_t>(options_.max_dim)) {
      return Status::InvalidArgument(
          source_ + ":1: found " + std::to_string(feature_columns_.size()) +
          " feature columns, expected at most " + std::to_string(options_.max_dim));
    }
    if (options_.missing == MissingPolicy::kMean) {
      if (!options_.fill_values.empty() && options_.fill_values.size() != feature_columns_.size()) {
        return Status::InvalidArgument(
            source_ + ":1: " + std::to_string(feature_columns_.size()) + " feature columns, but " +
            std::to_string(options_.fill_values.size()) + " fill values (one per feature)");
      }
      column_sum_.assign(feature_columns_.size(), 0.0);
      missing_count_.assign(feature_columns_.size(), 0);
    }
    return CheckLabeled(has_label_, 1);
  }

  Status ParseLine(const char* line_start, const char* eol) override {
    const char* q = line_start;
    while (q < eol && (*q == ' ' || *q == '\r' || *q == '\t')) ++q;
    if (q == eol) return Status::Ok();  // blank line
    EDGETRAIN_RETURN_IF_ERROR(Split(line_start, eol));
    if (names_.empty()) return ParseHeader();
    if (fields_.size() != names_.size()) {
      return Status::InvalidArgument(source_ + ":" + std::to_string(line_) + ": found " +
                                     std::to_string(fields_.size()) + " fields, expected " +
                                     std::to_string(names_.size()) + " (as in the header)");
    }
    double target = 0;
    if (has_label_) {
      const Field& label = fields_[label_column_];
      if (label.text.empty()) {
        if (options_.missing == MissingPolicy::kSkip) {
          ++missing_.skipped_rows;
          return Status::Ok();
        }
        return Status::InvalidArgument(Where(label.column) + ": the label column " +
                                       Quote(names_[label_column_]) +
                                       " is empty, expected a value");
      }
      std::string why;
      std::optional<double> t = labels_.Add(label.text, &why);
      if (!t) {
        return Status::InvalidArgument(Where(label.column) + ": column " +
                                       Quote(names_[label_column_]) + ": " + why);
      }
      target = *t;
    }
    const size_t row_start = index_.size();
    const size_t missing_start = missing_at_.size();
    for (size_t k = 0; k < feature_columns_.size(); ++k) {
      const Field& f = fields_[feature_columns_[k]];
      double v;
      if (!ParseDouble(f.text, &v) || std::isnan(v)) {
        if (IsMissingCell(f.text)) {
          switch (options_.missing) {
            case MissingPolicy::kError:
              return Status::InvalidArgument(
                  Where(f.column) + ": column " + Quote(names_[feature_columns_[k]]) +
                  (f.text.empty() ? " is empty" : " holds " + Quote(f.text)) +
                  " (a missing value), expected a number (--missing skip|zero|mean says what "
                  "to do with missing values)");
            case MissingPolicy::kSkip:
              index_.resize(row_start);
              value_.resize(row_start);
              missing_at_.resize(missing_start);
              ++missing_.skipped_rows;
              return Status::Ok();
            case MissingPolicy::kZero:
              ++missing_.cells;
              continue;
            case MissingPolicy::kMean:
              ++missing_.cells;
              if (!options_.fill_values.empty()) {
                v = options_.fill_values[k];
                if (v == 0.0) continue;
              } else {
                ++missing_count_[k];
                missing_at_.push_back(static_cast<int64_t>(index_.size()));
                v = 0.0;  // placeholder, filled by FillMeans
              }
              index_.push_back(static_cast<int32_t>(k));
              value_.push_back(v);
              continue;
          }
        }
        return Status::InvalidArgument(Where(f.column) + ": found " + Quote(f.text) +
                                       " in column " + Quote(names_[feature_columns_[k]]) +
                                       ", expected a number");
      }
      if (!std::isfinite(v)) {
        return Status::InvalidArgument(Where(f.column) + ": found " + Quote(f.text) +
                                       " in column " + Quote(names_[feature_columns_[k]]) +
                                       ", expected a finite number");
      }
      if (!column_sum_.empty()) column_sum_[k] += v;
      if (v != 0.0) {
        index_.push_back(static_cast<int32_t>(k));
        value_.push_back(v);
      }
    }
    if (!id_columns_.empty()) {
      for (size_t c = 0; c < id_columns_.size(); ++c) {
        if (c > 0) tag_text_.push_back('\t');
        tag_text_.append(fields_[id_columns_[c]].text);
      }
      tag_end_.push_back(static_cast<int64_t>(tag_text_.size()));
    }
    EndRow(target);
    return Status::Ok();
  }

  std::vector<std::string> names_;
  bool has_label_ = false;
  size_t label_column_ = 0;
  std::vector<size_t> feature_columns_;
  std::vector<size_t> id_columns_;
  std::vector<Field> fields_;
  std::vector<std::string> unquoted_;
  size_t unquoted_count_ = 0;
  std::vector<std::string> stored_fields_;
  std::vector<int64_t> quoted_index_;
  // kMean without fill values: per-feature sums of the present cells and missing counts, and
  // where the placeholders sit in value_.
  std::vector<double> column_sum_;
  std::vector<int64_t> missing_count_;
  std::vector<int64_t> missing_at_;
  std::vector<double> fill_;
};

}  // namespace

std::unique_ptr<RowParser> NewCsvParser(const std::string& source, const ReadOptions& options) {
  return std::make_unique<CsvParser>(source, options);
}

}  // namespace edgetrain::internal
