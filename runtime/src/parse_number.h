// Strict number parsing shared by the readers (internal header).
//
// ParseDouble accepts exactly the text of one finite or non-finite decimal number (an optional
// leading '+' is allowed, as libsvm files often write "+1"); the caller decides whether NaN/Inf
// are errors. No locale, no allocation.
#ifndef EDGETRAIN_RUNTIME_PARSE_NUMBER_H_
#define EDGETRAIN_RUNTIME_PARSE_NUMBER_H_

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace edgetrain::internal {

// Parses a prefix of [p, end) as a double; returns the position after it, or nullptr when no
// number starts at p.
inline const char* ParseDoublePrefix(const char* p, const char* end, double* out) {
  if (p < end && *p == '+') {  // from_chars rejects a leading '+'; "+-1" is not a number either
    ++p;
    if (p < end && *p == '-') return nullptr;
  }
  auto [next, ec] = std::from_chars(p, end, *out, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Overflow or underflow: from_chars leaves *out unchanged. strtod (rare path) gives +-HUGE_VAL
    // or the denormal/zero, so the caller's finiteness check names an overflow.
    *out = std::strtod(std::string(p, next).c_str(), nullptr);
    return next;
  }
  if (ec != std::errc()) return nullptr;
  return next;
}

// True and *out set when the whole of `text` is one number.
inline bool ParseDouble(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  const char* next = ParseDoublePrefix(text.data(), end, out);
  return next != nullptr && next == end;
}

// Parses a non-negative decimal integer prefix (at most 18 digits); nullptr when none.
inline const char* ParseUintPrefix(const char* p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  const char* start = p;
  while (p < end && static_cast<unsigned>(*p - '0') < 10u) {
    if (p - start >= 18) return nullptr;
    v = v * 10 + static_cast<unsigned>(*p - '0');
    ++p;
  }
  if (p == start) return nullptr;
  *out = v;
  return p;
}

}  // namespace edgetrain::internal

#endif  // EDGETRAIN_RUNTIME_PARSE_NUMBER_H_
