// CSV reader: a header row, then one sample per line.
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "block_reader.h"
#include "edgetrain/readers.h"
#include "label_collector.h"
#include "parse_number.h"

namespace edgetrain {
namespace {

struct Field {
  std::string_view text;
  int64_t column;  // 1-based byte column where the field starts
};

class CsvParser {
 public:
  CsvParser(const std::string& source, const ReadOptions& options)
      : source_(source), options_(options), labels_(options) {}

  Status ParseChunk(std::string_view chunk) {
    const char* p = chunk.data();
    const char* end = p + chunk.size();
    while (p < end) {
      const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (eol == nullptr) eol = end;
      ++line_;
      EDGETRAIN_RETURN_IF_ERROR(ParseLine(p, eol));
      p = eol + 1;
    }
    return Status::Ok();
  }

  Result<Dataset> Finish() {
    if (names_.empty())
      return Status::InvalidArgument(source_ + ": empty file, expected a header row");
    Result<std::optional<LabelMap>> map = labels_.Finish(&y_, source_);
    if (!map.ok()) return map.status();
    const int32_t dim = std::max(static_cast<int32_t>(feature_columns_.size()), options_.min_dim);
    Dataset data(std::move(row_ptr_), std::move(index_), std::move(value_), std::move(y_), dim,
                 options_.task, std::move(*map));
    std::vector<std::string> names;
    for (size_t c : feature_columns_) names.push_back(names_[c]);
    data.set_feature_names(std::move(names));
    if (options_.defer_label_map) data.set_raw_labels(labels_.seen());
    return data;
  }

 private:
  std::string Where(int64_t column) const {
    return source_ + ":" + std::to_string(line_) + ":" + std::to_string(column);
  }

  // Splits one line into fields (RFC 4180 quoting within the line).
  Status Split(const char* line_start, const char* eol) {
    fields_.clear();
    unquoted_.clear();
    const char delim = options_.csv_delimiter;
    const char* p = line_start;
    while (true) {
      const char* start = p;
      if (p < eol && *p == '"') {
        // Quoted: copy with "" -> " into a side buffer.
        std::string& text = unquoted_.emplace_back();
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
          return Status::InvalidArgument(Where(p - line_start + 1) + ": found '" +
                                         std::string(1, *p) + "' after a quoted field, expected '" +
                                         std::string(1, delim) + "' or the end of the line");
        }
        fields_.push_back({std::string_view(), start - line_start + 1});
        quoted_index_.resize(fields_.size());
        quoted_index_.back() = static_cast<int64_t>(unquoted_.size()) - 1;
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
        return Status::InvalidArgument(Where(fields_[i].column) + ": found the column name '" +
                                       names_.back() + "' twice, expected unique names");
      }
    }
    auto list = [&] {
      std::string all;
      for (const std::string& n : names_) all += (all.empty() ? "" : ", ") + n;
      return all;
    };
    if (options_.label_column.empty()) {
      return Status::InvalidArgument(source_ +
                                     ": a CSV file needs --label-column; columns are: " + list());
    }
    auto it = by_name.find(options_.label_column);
    if (it == by_name.end()) {
      return Status::InvalidArgument(source_ + ":1: no column named '" + options_.label_column +
                                     "' for the label; columns are: " + list());
    }
    label_column_ = it->second;
    if (options_.feature_columns.empty()) {
      for (size_t i = 0; i < names_.size(); ++i) {
        if (i != label_column_) feature_columns_.push_back(i);
      }
    } else {
      for (const std::string& name : options_.feature_columns) {
        auto f = by_name.find(name);
        if (f == by_name.end()) {
          return Status::InvalidArgument(source_ + ":1: no column named '" + name +
                                         "' for a feature; columns are: " + list());
        }
        if (f->second == label_column_) {
          return Status::InvalidArgument(source_ + ":1: column '" + name +
                                         "' is the label and cannot also be a feature");
        }
        feature_columns_.push_back(f->second);
      }
    }
    return Status::Ok();
  }

  Status ParseLine(const char* line_start, const char* eol) {
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
    const Field& label = fields_[label_column_];
    if (label.text.empty()) {
      return Status::InvalidArgument(Where(label.column) + ": the label column '" +
                                     names_[label_column_] + "' is empty, expected a value");
    }
    std::string why;
    std::optional<double> target = labels_.Add(label.text, &why);
    if (!target) {
      return Status::InvalidArgument(Where(label.column) + ": column '" + names_[label_column_] +
                                     "': " + why);
    }
    for (size_t k = 0; k < feature_columns_.size(); ++k) {
      const Field& f = fields_[feature_columns_[k]];
      const std::string& name = names_[feature_columns_[k]];
      if (f.text.empty()) {
        return Status::InvalidArgument(Where(f.column) + ": column '" + name +
                                       "' is empty (missing value), expected a number");
      }
      double v;
      if (!internal::ParseDouble(f.text, &v)) {
        return Status::InvalidArgument(Where(f.column) + ": found '" + std::string(f.text) +
                                       "' in column '" + name + "', expected a number");
      }
      if (!std::isfinite(v)) {
        return Status::InvalidArgument(Where(f.column) + ": found '" + std::string(f.text) +
                                       "' in column '" + name + "', expected a finite number");
      }
      if (v != 0.0) {
        index_.push_back(static_cast<int32_t>(k));
        value_.push_back(v);
      }
    }
    y_.push_back(*target);
    row_ptr_.push_back(static_cast<int64_t>(index_.size()));
    return Status::Ok();
  }

  const std::string& source_;
  const ReadOptions& options_;
  internal::LabelCollector labels_;
  int64_t line_ = 0;
  std::vector<std::string> names_;
  size_t label_column_ = 0;
  std::vector<size_t> feature_columns_;
  std::vector<Field> fields_;
  std::vector<std::string> unquoted_;
  std::vector<int64_t> quoted_index_;
  std::vector<int64_t> row_ptr_{0};
  std::vector<int32_t> index_;
  std::vector<double> value_;
  std::vector<double> y_;
};

}  // namespace

Result<Dataset> ParseCsv(std::string_view text, const std::string& source,
                         const ReadOptions& options) {
  CsvParser parser(source, options);
  EDGETRAIN_RETURN_IF_ERROR(parser.ParseChunk(text));
  return parser.Finish();
}

Result<Dataset> ReadCsvFile(const std::string& path, const ReadOptions& options) {
  internal::BlockReader reader;
  EDGETRAIN_RETURN_IF_ERROR(reader.Open(path));
  CsvParser parser(path, options);
  std::string_view chunk;
  while (true) {
    EDGETRAIN_RETURN_IF_ERROR(reader.Next(&chunk));
    if (chunk.empty()) break;
    EDGETRAIN_RETURN_IF_ERROR(parser.ParseChunk(chunk));
  }
  return parser.Finish();
}

}  // namespace edgetrain
