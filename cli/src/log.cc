#include "edgetrain/cli/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <string>

#include "edgetrain/cli/flags.h"

namespace edgetrain::cli {
namespace {

// Parses a decimal unsigned number filling all of `text`.
bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

bool IsJournalStream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  const std::string_view value(journal_stream);
  const size_t colon = value.find(':');
  uint64_t device = 0, inode = 0;
  if (colon == std::string_view::npos || !ParseDecimal(value.substr(0, colon), &device) ||
      !ParseDecimal(value.substr(colon + 1), &inode)) {
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_dev) == device && static_cast<uint64_t>(st.st_ino) == inode;
}

void LineSink::Write(Priority priority, std::string_view line) const {
  std::string text;
  text.reserve(line.size() + 8);
  size_t begin = 0;
  while (true) {
    const size_t end = line.find('\n', begin);
    if (journal_) {
      text += '<';
      text += static_cast<char>('0' + static_cast<int>(priority));
      text += '>';
    }
    text.append(line.substr(begin, end == std::string_view::npos ? end : end - begin));
    text += '\n';
    if (end == std::string_view::npos || end + 1 == line.size()) break;
    begin = end + 1;
  }
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

Console::Console(const char* journal_stream)
    : out_(stdout, IsJournalStream(STDOUT_FILENO, journal_stream)),
      err_(stderr, IsJournalStream(STDERR_FILENO, journal_stream)) {}

void Console::Write(Priority priority, std::string_view line) const {
  (priority <= Priority::kWarning ? err_ : out_).Write(priority, line);
}

int Console::UsageError(std::string_view program, std::string_view what) const {
  std::string line(program);
  line.append(": error: ").append(what).append("; run '").append(program).append(" --help'");
  err_.Write(Priority::kError, line);
  return kExitUsage;
}

int Console::Fail(std::string_view program, const Status& status) const {
  std::string line(program);
  line.append(": error: ").append(status.message());
  err_.Write(Priority::kError, line);
  return kExitFailure;
}

}  // namespace edgetrain::cli
