// DataSource: a device's data that grows, re-read incrementally for each training round.
//
// The source is one file, or a directory of files that the plant's logger writes and rotates
// (`line.csv`, `line.csv.1`, `line-2026-11-30.csv.gz`; names starting with '.' are ignored).
// Refresh() appends to the owned Dataset only the rows that are new since the last call:
//   - a file that grew by appends is parsed from the byte after its last complete line; an
//     unfinished last line waits for the next Refresh;
//   - a new file is parsed whole; a gzip file still being written (its stream ends inside a
//     member) waits for the next Refresh;
//   - a rotated file (renamed: same device and inode) is not parsed again;
//   - a file whose first bytes (up to 4 KiB of whole lines, and at least two rows) equal those of a
//     file already read is a copy of it (logrotate's compress or copytruncate): only what lies
//     beyond the part already read is parsed;
//   - a file that shrank (truncated in place) or was replaced (another inode under a known name)
//     is reported in the notes and read again as a new file.
// Rows already read stay in the Dataset. Classification labels stay deferred when the options
// say so (ReadOptions::defer_label_map, as the agent reads them): raw_labels() lists the labels
// found and the coordinator decides the mapping. Every CSV file must have the header of the
// first one (an error names the file). MissingPolicy::kMean needs fill values here (the mean of
// a growing source would change the rows already read).
//
// Nothing here opens a socket or reads a clock: a refresh is whatever the caller decides.
// Thread-safety: one thread at a time. Ownership: owns its Dataset; data() is valid until the
// next Refresh().
#ifndef EDGETRAIN_DATA_SOURCE_H_
#define EDGETRAIN_DATA_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/readers.h"
#include "edgetrain/status.h"

namespace edgetrain {

struct RefreshReport {
  int64_t new_rows = 0;    // rows appended by this Refresh
  int64_t total_rows = 0;  // rows held now
  int32_t files_read = 0;  // files that contributed bytes
  // One line per unusual event: "PATH: truncated (...), read again from its start",
  // "PATH: gzip data still being written, read at the next refresh", ...
  std::vector<std::string> notes;
};

class DataSource {
 public:
  // `path`: a data file or a directory of them. REQUIRES: options.missing != kMean unless
  // options.fill_values is set (checked by the first Refresh).
  DataSource(std::string path, ReadOptions options);

  // Reads what is new. On error nothing is appended and the state is as before the call.
  Result<RefreshReport> Refresh();

  const Dataset& data() const { return data_; }
  Dataset& mutable_data() { return data_; }
  const std::string& path() const { return path_; }

  // What is known of one file (exposed for tests and status pages).
  struct FileState {
    std::string path;
    uint64_t device = 0, inode = 0;
    int64_t size = 0;      // raw size when last read
    int64_t consumed = 0;  // (decompressed) bytes of complete lines parsed
    int64_t lines = 0;     // lines parsed (for error places when resumed)
    bool gzip = false;
    std::string head;  // its first bytes (up to 4 KiB), to recognise a copy
  };
  const std::vector<FileState>& files() const { return files_; }

 private:
  std::string path_;
  ReadOptions options_;
  Dataset data_;
  bool started_ = false;
  DataFormat format_ = DataFormat::kAuto;
  std::vector<std::string> header_;  // CSV: the first file's header
  std::vector<FileState> files_;     // files present at the last Refresh
  std::vector<FileState> gone_;      // files read earlier that vanished or were reset (copies)
};

}  // namespace edgetrain

#endif  // EDGETRAIN_DATA_SOURCE_H_
