// Text from outside the process (agent ids, version strings, data-file bytes) made safe to show,
// and printf into a std::string.
//
// Strings that arrive over the network or from a data file may hold anything: control bytes
// (ESC sequences that clear a terminal or set its title, BEL, newlines that forge log lines) and
// bytes that are not UTF-8 (which make a JSON consumer fail). The wire decoder refuses strings
// that are not valid UTF-8 at the door (IsValidUtf8); everything printed to a terminal or a log
// line goes through Printable, which keeps printable UTF-8 and escapes the rest.
//
// Thread-safety: pure functions.
#ifndef EDGETRAIN_TEXT_H_
#define EDGETRAIN_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace edgetrain {

// Whether s is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// s with every byte that is not printable written as an escape: C0 controls, DEL and the C1
// controls (U+0080..U+009F) as \xNN (\n, \r, \t as such), a backslash as "\\", and every byte of
// an ill-formed UTF-8 sequence as \xNN. Printable UTF-8 (including non-ASCII letters) is kept.
// At most max_bytes of the result are kept; a longer one ends in "..." (max_bytes 0: no limit).
std::string Printable(std::string_view s, size_t max_bytes = 0);

// printf into a std::string, of any length.
std::string StringPrintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace edgetrain

#endif  // EDGETRAIN_TEXT_H_
