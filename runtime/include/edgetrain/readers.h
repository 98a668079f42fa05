// Readers for training and test data: libsvm/svmlight text and CSV with a header row.
//
// libsvm: "<label> <index>:<value> ... [# comment]", indices 1-based and strictly increasing,
// `qid:<n>` tokens ignored, blank and comment-only lines skipped, CRLF accepted. An unlabeled
// row (ReadOptions::labels_optional: predict, score) starts with its first index:value pair.
// CSV: a header row naming the columns; one column is the label, the features are all other
// columns (but the id columns) or a chosen subset; RFC 4180 quoting; a feature cell is a finite
// number or, under a MissingPolicy other than kError, a missing value (empty, NA, N/A, NaN, nan,
// NAN, null, NULL, ?).
//
// Sources: a file, standard input ("-"), a pipe or a FIFO, read in one pass (a regular libsvm
// file is also counted first, so its arrays are allocated once); gzip data is decompressed
// (InputStream). The format is ReadOptions::format, else ".csv" / ".csv.gz" names CSV, else the
// first data line decides (SniffFormat).
//
// Classification labels may be any two distinct values (numbers, or strings in CSV); they are
// mapped to -1/+1 and the mapping is recorded in the Dataset (and later in the model). A test
// file is read with the training mapping (ReadOptions::labels) so the signs agree.
//
// Every error names the place: "path:line:column: found '...', expected ...".
// Thread-safety: the functions are reentrant. Memory: the file is streamed in blocks, so peak
// memory is the resulting Dataset plus a few MB.
#ifndef EDGETRAIN_READERS_H_
#define EDGETRAIN_READERS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/status.h"

namespace edgetrain {

// The default of every --max-dim (readers, agents, coordinator): 4 194 304 features, 32 MB per
// dense vector of the model, what a small board can hold several times over.
constexpr int32_t kDefaultMaxDimension = int32_t{1} << 22;
// The largest dimension a model file may declare. Weights are held dense (8 bytes a feature:
// 512 MiB here), so readers refuse larger indices and the model reader larger files rather than
// trying to allocate them.
constexpr int32_t kMaxModelDimension = int32_t{1} << 26;

enum class DataFormat : uint8_t { kAuto = 0, kCsv = 1, kLibsvm = 2 };
const char* DataFormatName(DataFormat format);  // "auto", "csv", "libsvm"
std::optional<DataFormat> ParseDataFormatName(std::string_view name);

// What a CSV reader does with a missing feature cell (see IsMissingCell).
enum class MissingPolicy : uint8_t {
  kError = 0,  // an error naming file:line:column and the column
  kSkip = 1,   // the row is left out (Dataset::missing().skipped_rows counts them)
  kZero = 2,   // the cell is 0
  kMean = 3,   // the cell is its column's mean over the non-missing cells (or fill_values)
};
const char* MissingPolicyName(MissingPolicy policy);  // "error", "skip", "zero", "mean"
std::optional<MissingPolicy> ParseMissingPolicyName(std::string_view name);
// Empty, NA, N/A, NaN, nan, NAN, null, NULL or ? (after trimming spaces).
bool IsMissingCell(std::string_view cell);

struct ReadOptions {
  Task task = Task::kClassification;
  // Use this mapping instead of choosing one (test data read against a trained model); a label
  // outside it is an error.
  std::optional<LabelMap> labels;
  // Which raw label becomes +1 when the mapping is chosen from the data (default: the larger).
  std::optional<std::string> positive_label;
  // Classification without choosing the mapping yet: targets hold provisional class ids and the
  // Dataset lists the raw labels found (one or two); Dataset::ApplyLabelMap finishes later. An
  // agent reads its shard this way, since its device may have seen only one class; the
  // coordinator decides the mapping for all agents.
  bool defer_label_map = false;
  // The dimension is at least this (the model's d when reading test data).
  int32_t min_dim = 0;
  // CSV only: the label column's name (required for CSV).
  std::string label_column;
  // CSV only: the feature columns to use, in this order (default: every other column).
  std::vector<std::string> feature_columns;
  // CSV only: the field separator (',' ';' '\t' '|').
  char csv_delimiter = ',';
  // kAuto: by the name (".csv", ".csv.gz": CSV), else by the first data line (SniffFormat).
  DataFormat format = DataFormat::kAuto;
  // CSV only: missing feature cells. kMean with fill_values (a model's, one per feature) fills
  // those; without, the means of the data read.
  MissingPolicy missing = MissingPolicy::kError;
  std::vector<double> fill_values;
  // Rows may come without a label (predict, score): a CSV without the label column, libsvm rows
  // that start with an index:value pair. All rows of a source agree (Dataset::labeled()).
  bool labels_optional = false;
  // CSV only: columns passed through to Dataset::row_tags() (not features), e.g. an id or a time.
  std::vector<std::string> id_columns;
  // Indices (libsvm) or feature columns (CSV) beyond this are refused with their place, before
  // anything is allocated for them. REQUIRES: 1 <= max_dim <= kMaxModelDimension.
  int32_t max_dim = kMaxModelDimension;
};

// Reads a data source: a file, "-" (standard input), a pipe or a FIFO; gzip decompressed; the
// format from options.format, the name or the first line.
Result<Dataset> ReadDataFile(const std::string& path, const ReadOptions& options);

// The format of data whose first bytes are `head`: libsvm when the first line that is not blank
// or a comment has an <integer>:<value> token first or second (or is a single token without a
// comma, semicolon, tab or '|'); CSV otherwise.
DataFormat SniffFormat(std::string_view head);

// Reads a libsvm/svmlight source (ReadDataFile with format kLibsvm).
Result<Dataset> ReadLibsvmFile(const std::string& path, const ReadOptions& options);
// Parses libsvm text held in memory; `source` names it in error messages.
Result<Dataset> ParseLibsvm(std::string_view text, const std::string& source,
                            const ReadOptions& options);

// Reads a CSV source with a header row (ReadDataFile with format kCsv).
Result<Dataset> ReadCsvFile(const std::string& path, const ReadOptions& options);
Result<Dataset> ParseCsv(std::string_view text, const std::string& source,
                         const ReadOptions& options);

}  // namespace edgetrain

#endif  // EDGETRAIN_READERS_H_
