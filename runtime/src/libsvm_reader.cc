// libsvm/svmlight parser: a hand-written scanner over whole-line chunks.
//
// Speed: ReadDataFile counts lines and ':' of a regular file first (an upper bound on rows and
// non-zeros, so the CSR arrays are allocated once and never regrown), then parses with
// std::from_chars. Pipes and compressed sources are parsed in one pass.
#include <cmath>
#include <cstring>
#include <string>

#include "edgetrain/readers.h"
#include "edgetrain/text.h"
#include "parse_number.h"
#include "row_parser.h"

namespace edgetrain::internal {
namespace {

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

class LibsvmParser : public RowParser {
 public:
  using RowParser::RowParser;

 private:
  int32_t Dimension() const override { return std::max(max_index_ + 1, options_.min_dim); }

  Status Error(const char* line_start, const char* at, const char* token_end,
               const std::string& expected) const {
    std::string found(at, std::min<size_t>(token_end - at, 40));
    if (found.empty())
      found = "end of line";
    else
      found = "'" + Printable(found) + "'";
    return Status::InvalidArgument(Where(at - line_start + 1) + ": found " + found + ", expected " +
                                   expected);
  }

  static const char* TokenEnd(const char* p, const char* eol) {
    while (p < eol && !IsBlank(*p)) ++p;
    return p;
  }

  Status ParseLine(const char* line_start, const char* eol) override {
    const char* p = line_start;
    while (p < eol && IsBlank(*p)) ++p;
    if (p == eol || *p == '#') return Status::Ok();  // blank or comment-only line

    // Label, unless the row starts with its first index:value pair (an unlabeled row).
    const char* label_end = TokenEnd(p, eol);
    double target = 0;
    if (std::memchr(p, ':', label_end - p) != nullptr) {
      if (!options_.labels_optional)
        return Error(line_start, p, label_end, "a label before the first index:value pair");
      EDGETRAIN_RETURN_IF_ERROR(CheckLabeled(false, p - line_start + 1));
    } else {
      EDGETRAIN_RETURN_IF_ERROR(CheckLabeled(true, p - line_start + 1));
      std::string why;
      std::optional<double> t = labels_.Add(std::string_view(p, label_end - p), &why);
      if (!t) return Status::InvalidArgument(Where(p - line_start + 1) + ": " + why);
      target = *t;
      p = label_end;
    }

    // index:value pairs.
    int64_t prev_index = 0;
    while (true) {
      while (p < eol && IsBlank(*p)) ++p;
      if (p == eol || *p == '#') break;
      const char* token = p;
      uint64_t index;
      const char* q = ParseUintPrefix(p, eol, &index);
      if (q == nullptr) {
        if (eol - p >= 4 && std::memcmp(p, "qid:", 4) == 0) {  // ranking group id: ignored
          p = TokenEnd(p, eol);
          continue;
        }
        return Error(line_start, token, TokenEnd(token, eol), "an index:value pair");
      }
      if (q == eol || *q != ':') {
        return Error(line_start, token, TokenEnd(token, eol), "an index:value pair");
      }
      if (index == 0) {
        return Error(line_start, token, TokenEnd(token, eol),
                     "an index of at least 1 (libsvm indices are 1-based)");
      }
      if (index > static_cast<uint64_t>(options_.max_dim)) {
        return Error(line_start, token, TokenEnd(token, eol),
                     "an index of at most " + std::to_string(options_.max_dim) +
                         (options_.max_dim == kMaxModelDimension
                              ? " (the largest dimension a model can hold)"
                              : " (--max-dim)"));
      }
      if (static_cast<int64_t>(index) <= prev_index) {
        return Error(line_start, token, TokenEnd(token, eol),
                     "an index greater than the previous " + std::to_string(prev_index) +
                         (static_cast<int64_t>(index) == prev_index ? " (duplicate index)"
                                                                    : " (indices must increase)"));
      }
      const char* value_start = q + 1;
      double value;
      const char* r = ParseDoublePrefix(value_start, eol, &value);
      if (r == nullptr || (r < eol && !IsBlank(*r))) {
        return Error(line_start, value_start, TokenEnd(value_start, eol), "a number after ':'");
      }
      if (!std::isfinite(value)) {
        return Error(line_start, value_start, r, "a finite value (NaN and Inf are not data)");
      }
      prev_index = static_cast<int64_t>(index);
      if (value != 0.0) {  // explicit zeros are not stored
        index_.push_back(static_cast<int32_t>(index - 1));
        value_.push_back(value);
      }
      p = r;
    }
    if (prev_index > max_index_) max_index_ = static_cast<int32_t>(prev_index - 1);
    EndRow(target);
    return Status::Ok();
  }

  int32_t max_index_ = -1;
};

}  // namespace

std::unique_ptr<RowParser> NewLibsvmParser(const std::string& source, const ReadOptions& options) {
  return std::make_unique<LibsvmParser>(source, options);
}

}  // namespace edgetrain::internal
