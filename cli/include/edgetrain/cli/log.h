// The programs' human-readable lines (progress, results, warnings, errors), each with a priority,
// written so that the systemd journal files every line under its priority.
//
// A service's stdout and stderr are usually connected to the journal; systemd then sets
// $JOURNAL_STREAM to "DEVICE:INODE" of that stream (decimal st_dev and st_ino, systemd.exec(5)).
// A line written there that starts with "<N>" (sd-daemon(3): <3> error, <4> warning, <5> notice,
// <6> info, <7> debug) is recorded with PRIORITY=N and the prefix removed, so `journalctl -p
// warning` shows what matters. Anywhere else (a terminal, a file, a pipe, a test) the prefix would
// be noise: a LineSink writes it only when told that its stream is the journal's, and
// IsJournalStream decides that as sd_journal_stream_fd(3) describes: compare fstat() of the fd with
// the device and inode the variable names (a child that inherited the variable but writes to a
// pipe gets plain lines).
//
// main() reads $JOURNAL_STREAM (no code below main reads the environment) and passes the decision
// in: `cli::Console console(std::getenv("JOURNAL_STREAM"));`.
//
// Lines that quote text from outside the program (the network, a data file) must pass it through
// edgetrain::Printable (edgetrain/text.h) first; a sink writes what it is given.
//
// Thread-safety: Write writes each line with one stdio call, so lines of concurrent writers do not
// interleave. Ownership: a sink borrows its FILE, which must outlive it.
#ifndef EDGETRAIN_CLI_LOG_H_
#define EDGETRAIN_CLI_LOG_H_

#include <cstdio>
#include <string>
#include <string_view>

#include "edgetrain/status.h"

namespace edgetrain::cli {

// syslog/sd-daemon priorities (the values are the "<N>" prefixes).
enum class Priority : int { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Whether `fd` is the stream `journal_stream` names ("DEVICE:INODE", the value of
// $JOURNAL_STREAM; null or empty when the variable is not set). A malformed value is no match.
bool IsJournalStream(int fd, const char* journal_stream);

class LineSink {
 public:
  // Writes to `file`; with `journal`, every line starts with its "<N>" prefix.
  LineSink(std::FILE* file, bool journal) : file_(file), journal_(journal) {}

  // Writes `line` and a newline, then flushes. A text with newlines is written as one line per
  // part, each with the prefix (a journal entry is one line).
  void Write(Priority priority, std::string_view line) const;

  bool journal() const { return journal_; }

 private:
  std::FILE* file_;
  bool journal_;
};

// A program's two sinks: stdout (results and progress: notice, info, debug) and stderr (errors and
// warnings, and notes that must stay out of a program's data output). Write() routes by priority.
class Console {
 public:
  // The standard streams, each with the prefix when it is the journal stream `journal_stream`
  // names (the value of $JOURNAL_STREAM, or null).
  explicit Console(const char* journal_stream);
  Console(LineSink out, LineSink err) : out_(out), err_(err) {}

  // Errors and warnings to err(), the rest to out().
  void Write(Priority priority, std::string_view line) const;

  const LineSink& out() const { return out_; }
  const LineSink& err() const { return err_; }

  // "<program>: error: <what>; run '<program> --help'" on err() at kError; returns kExitUsage (2).
  int UsageError(std::string_view program, std::string_view what) const;
  // "<program>: error: <status message>" on err() at kError; returns kExitFailure (1).
  int Fail(std::string_view program, const Status& status) const;

 private:
  LineSink out_;
  LineSink err_;
};

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_LOG_H_
