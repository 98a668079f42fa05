// libsvm/svmlight reader: a hand-written scanner over whole-line chunks.
//
// Speed: one pass to count lines and ':' (an upper bound on rows and non-zeros, so the CSR arrays
// are allocated once and never regrown), one pass to parse with std::from_chars. Both passes
// stream the file in blocks.
#include <cmath>
#include <cstring>
#include <string>

#include "block_reader.h"
#include "edgetrain/readers.h"
#include "label_collector.h"
#include "parse_number.h"

namespace edgetrain {
namespace {

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Counts newlines and colons: upper bounds on rows and stored non-zeros.
void CountBounds(std::string_view text, int64_t* lines, int64_t* colons) {
  const char* p = text.data();
  const char* end = p + text.size();
  int64_t nl = 0, co = 0;
  for (; p < end; ++p) {
    nl += (*p == '\n');
    co += (*p == ':');
  }
  *lines += nl;
  *colons += co;
}

class LibsvmParser {
 public:
  LibsvmParser(const std::string& source, const ReadOptions& options)
      : source_(source), options_(options), labels_(options) {}

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

  Result<Dataset> Finish() {
    Result<std::optional<LabelMap>> map = labels_.Finish(&y_, source_);
    if (!map.ok()) return map.status();
    int32_t dim = std::max(max_index_ + 1, options_.min_dim);
    Dataset data(std::move(row_ptr_), std::move(index_), std::move(value_), std::move(y_), dim,
                 options_.task, std::move(*map));
    if (options_.defer_label_map) data.set_raw_labels(labels_.seen());
    return data;
  }

 private:
  Status Error(const char* line_start, const char* at, const char* token_end,
               const std::string& expected) const {
    std::string found(at, std::min<size_t>(token_end - at, 40));
    if (found.empty())
      found = "end of line";
    else
      found = "'" + found + "'";
    return Status::InvalidArgument(source_ + ":" + std::to_string(line_) + ":" +
                                   std::to_string(at - line_start + 1) + ": found " + found +
                                   ", expected " + expected);
  }

  static const char* TokenEnd(const char* p, const char* eol) {
    while (p < eol && !IsBlank(*p)) ++p;
    return p;
  }

  Status ParseLine(const char* line_start, const char* eol) {
    const char* p = line_start;
    while (p < eol && IsBlank(*p)) ++p;
    if (p == eol || *p == '#') return Status::Ok();  // blank or comment-only line

    // Label.
    const char* label_end = TokenEnd(p, eol);
    if (std::memchr(p, ':', label_end - p) != nullptr) {
      return Error(line_start, p, label_end, "a label before the first index:value pair");
    }
    std::string why;
    std::optional<double> target = labels_.Add(std::string_view(p, label_end - p), &why);
    if (!target) {
      return Status::InvalidArgument(source_ + ":" + std::to_string(line_) + ":" +
                                     std::to_string(p - line_start + 1) + ": " + why);
    }
    p = label_end;

    // index:value pairs.
    int64_t prev_index = 0;
    while (true) {
      while (p < eol && IsBlank(*p)) ++p;
      if (p == eol || *p == '#') break;
      const char* token = p;
      uint64_t index;
      const char* q = internal::ParseUintPrefix(p, eol, &index);
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
      if (index > static_cast<uint64_t>(INT32_MAX)) {
        return Error(line_start, token, TokenEnd(token, eol), "an index below 2^31");
      }
      if (static_cast<int64_t>(index) <= prev_index) {
        return Error(line_start, token, TokenEnd(token, eol),
                     "an index greater than the previous " + std::to_string(prev_index) +
                         (static_cast<int64_t>(index) == prev_index ? " (duplicate index)"
                                                                    : " (indices must increase)"));
      }
      const char* value_start = q + 1;
      double value;
      const char* r = internal::ParseDoublePrefix(value_start, eol, &value);
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
    y_.push_back(*target);
    row_ptr_.push_back(static_cast<int64_t>(index_.size()));
    return Status::Ok();
  }

  const std::string& source_;
  const ReadOptions& options_;
  internal::LabelCollector labels_;
  int64_t line_ = 0;
  int32_t max_index_ = -1;
  std::vector<int64_t> row_ptr_{0};
  std::vector<int32_t> index_;
  std::vector<double> value_;
  std::vector<double> y_;
};

}  // namespace

Result<Dataset> ParseLibsvm(std::string_view text, const std::string& source,
                            const ReadOptions& options) {
  int64_t lines = 1, colons = 0;
  CountBounds(text, &lines, &colons);
  LibsvmParser parser(source, options);
  parser.Reserve(lines, colons);
  EDGETRAIN_RETURN_IF_ERROR(parser.ParseChunk(text));
  return parser.Finish();
}

Result<Dataset> ReadLibsvmFile(const std::string& path, const ReadOptions& options) {
  int64_t lines = 1, colons = 0;
  {
    internal::BlockReader counter;
    EDGETRAIN_RETURN_IF_ERROR(counter.Open(path));
    std::string_view chunk;
    do {
      EDGETRAIN_RETURN_IF_ERROR(counter.Next(&chunk));
      CountBounds(chunk, &lines, &colons);
    } while (!chunk.empty());
  }
  internal::BlockReader reader;
  EDGETRAIN_RETURN_IF_ERROR(reader.Open(path));
  LibsvmParser parser(path, options);
  parser.Reserve(lines, colons);
  std::string_view chunk;
  while (true) {
    EDGETRAIN_RETURN_IF_ERROR(reader.Next(&chunk));
    if (chunk.empty()) break;
    EDGETRAIN_RETURN_IF_ERROR(parser.ParseChunk(chunk));
  }
  return parser.Finish();
}

Result<Dataset> ReadDataFile(const std::string& path, const ReadOptions& options) {
  std::string lower;
  for (char c : path)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower.size() >= 4 && lower.compare(lower.size() - 4, 4, ".csv") == 0) {
    return ReadCsvFile(path, options);
  }
  return ReadLibsvmFile(path, options);
}

}  // namespace edgetrain
