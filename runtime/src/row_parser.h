// RowParser: the common part of the libsvm and CSV parsers (internal header).
//
// A parser takes chunks of whole lines (BlockReader) and collects rows in CSR form with their
// targets and, for CSV id columns, their tags. Finish() hands everything over as a Dataset;
// streaming callers (the scorer) read the rows parsed so far with Row()/Tag() and ClearRows()
// between chunks, which keeps the arrays' capacity: no allocation per row once warm.
#ifndef EDGETRAIN_RUNTIME_ROW_PARSER_H_
#define EDGETRAIN_RUNTIME_ROW_PARSER_H_

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/readers.h"
#include "edgetrain/status.h"
#include "label_collector.h"

namespace edgetrain::internal {

class RowParser {
 public:
  RowParser(const std::string& source, const ReadOptions& options)
      : source_(source), options_(options), labels_(options_) {}
  virtual ~RowParser() = default;
  RowParser(const RowParser&) = delete;
  RowParser& operator=(const RowParser&) = delete;

  void Reserve(int64_t rows, int64_t nnz) {
    y_.reserve(rows);
    row_ptr_.reserve(rows + 1);
    index_.reserve(nnz);
    value_.reserve(nnz);
  }

  // Parses whole lines; the last line may lack its newline.
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

  // Everything parsed, as a Dataset; the parser is spent afterwards.
  Result<Dataset> Finish();

  // Streaming access: the rows parsed since the last ClearRows().
  int64_t rows() const { return static_cast<int64_t>(y_.size()); }
  RowView Row(int64_t i) const {
    const int64_t begin = row_ptr_[i];
    return RowView{index_.data() + begin, value_.data() + begin,
                   static_cast<int32_t>(row_ptr_[i + 1] - begin), y_[i]};
  }
  std::string_view Tag(int64_t i) const {
    if (tag_end_.empty()) return {};
    const int64_t begin = i == 0 ? 0 : tag_end_[i - 1];
    return std::string_view(tag_text_).substr(begin, tag_end_[i] - begin);
  }
  void ClearRows() {
    row_ptr_.resize(1);
    index_.clear();
    value_.clear();
    y_.clear();
    tag_text_.clear();
    tag_end_.clear();
  }
  // Whether the rows carry labels (known after the first row; true before).
  bool labeled() const { return labeled_ != Labeled::kNo; }
  // The number of lines consumed; set it to resume a file after its first lines.
  int64_t line() const { return line_; }
  void set_line(int64_t line) { line_ = line; }
  // CSV: the header's column names (empty before the header, and for libsvm).
  virtual const std::vector<std::string>& header() const { return no_header_; }
  // CSV: start with a known header (a file resumed after its header line).
  virtual Status SetHeader(const std::vector<std::string>& names) {
    (void)names;
    return Status::Internal("not a CSV parser");
  }

 protected:
  enum class Labeled { kUnknown, kYes, kNo };

  virtual Status ParseLine(const char* line_start, const char* eol) = 0;
  // The dimension of the Dataset (at least options_.min_dim) and the rest of it.
  virtual int32_t Dimension() const = 0;
  virtual Status Complete(Dataset* data) {
    (void)data;
    return Status::Ok();
  }

  std::string Where(int64_t column) const {
    return source_ + ":" + std::to_string(line_) + ":" + std::to_string(column);
  }
  // The first row decides whether rows carry labels; later rows must agree.
  Status CheckLabeled(bool labeled, int64_t column) {
    const Labeled now = labeled ? Labeled::kYes : Labeled::kNo;
    if (labeled_ == Labeled::kUnknown || labeled_ == now) {
      labeled_ = now;
      return Status::Ok();
    }
    return Status::InvalidArgument(
        Where(column) + (labeled ? ": found a label, expected a row without one (as the rows above)"
                                 : ": found a row without a label, expected a label (as the rows "
                                   "above)"));
  }
  void EndRow(double target) {
    y_.push_back(target);
    row_ptr_.push_back(static_cast<int64_t>(index_.size()));
  }

  const std::string source_;
  const ReadOptions options_;
  LabelCollector labels_;
  Labeled labeled_ = Labeled::kUnknown;
  int64_t line_ = 0;
  std::vector<int64_t> row_ptr_{0};
  std::vector<int32_t> index_;
  std::vector<double> value_;
  std::vector<double> y_;
  std::string tag_text_;
  std::vector<int64_t> tag_end_;
  MissingSummary missing_;

 private:
  const std::vector<std::string> no_header_;
};

std::unique_ptr<RowParser> NewLibsvmParser(const std::string& source, const ReadOptions& options);
std::unique_ptr<RowParser> NewCsvParser(const std::string& source, const ReadOptions& options);
inline std::unique_ptr<RowParser> NewParser(DataFormat format, const std::string& source,
                                            const ReadOptions& options) {
  return format == DataFormat::kCsv ? NewCsvParser(source, options)
                                    : NewLibsvmParser(source, options);
}

// The format for a source named `path` whose first bytes are `head` (ReadOptions::format
// first, then the name, then SniffFormat).
DataFormat ResolveFormat(const std::string& path, DataFormat requested, std::string_view head);

// Counts newlines and colons: upper bounds on a libsvm source's rows and stored non-zeros.
void CountBounds(std::string_view text, int64_t* lines, int64_t* colons);

}  // namespace edgetrain::internal

#endif  // EDGETRAIN_RUNTIME_ROW_PARSER_H_
