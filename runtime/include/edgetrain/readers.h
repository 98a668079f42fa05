// Readers for training and test data: libsvm/svmlight text and CSV with a header row.
//
// libsvm: "<label> <index>:<value> ... [# comment]", indices 1-based and strictly increasing,
// `qid:<n>` tokens ignored, blank and comment-only lines skipped, CRLF accepted.
// CSV: a header row naming the columns; one column is the label, the features are all other
// columns or a chosen subset; RFC 4180 quoting; every feature cell must be a finite number.
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
  // CSV only: with a trained model the feature columns must match its names.
  char csv_delimiter = ',';
};

// Reads a libsvm/svmlight file.
Result<Dataset> ReadLibsvmFile(const std::string& path, const ReadOptions& options);
// Parses libsvm text held in memory; `source` names it in error messages.
Result<Dataset> ParseLibsvm(std::string_view text, const std::string& source,
                            const ReadOptions& options);

// Reads a CSV file with a header row.
Result<Dataset> ReadCsvFile(const std::string& path, const ReadOptions& options);
Result<Dataset> ParseCsv(std::string_view text, const std::string& source,
                         const ReadOptions& options);

// Picks the reader from the file name: ".csv" (any case) is CSV, everything else libsvm.
Result<Dataset> ReadDataFile(const std::string& path, const ReadOptions& options);

}  // namespace edgetrain

#endif  // EDGETRAIN_READERS_H_
