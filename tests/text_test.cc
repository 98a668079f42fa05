// Printable and IsValidUtf8, checked against an independent UTF-8 encoder: every 1-, 2- and
// 3-byte sequence is valid exactly when it is the encoding of a scalar value of that length;
// StringPrintf against known output.
#include "edgetrain/text.h"

#include <cstdint>
#include <string>

#include "doctest/doctest.h"
#include "edgetrain/rng.h"

namespace edgetrain {
namespace {

// The UTF-8 encoding of a Unicode scalar value (RFC 3629, section 3).
std::string Encode(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

bool IsScalar(uint32_t cp) { return cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF); }

TEST_CASE("IsValidUtf8: exactly the encodings of scalar values, exhaustively up to 3 bytes") {
  // Mark every 1-3 byte string that encodes a scalar value, then check all 2^8 + 2^16 + 2^24.
  std::string valid(1u << 24, '\0');
  std::string valid2(1u << 16, '\0');
  std::string valid1(1u << 8, '\0');
  for (uint32_t cp = 0; cp < 0x10000; ++cp) {
    if (!IsScalar(cp)) continue;
    const std::string e = Encode(cp);
    uint32_t key = 0;
    for (char c : e) key = (key << 8) | static_cast<uint8_t>(c);
    (e.size() == 1 ? valid1 : e.size() == 2 ? valid2 : valid)[key] = 1;
  }
  int64_t mismatches = 0;
  std::string s;
  for (uint32_t k = 0; k < (1u << 8); ++k) {
    s.assign(1, static_cast<char>(k));
    mismatches += IsValidUtf8(s) != (valid1[k] == 1);
  }
  for (uint32_t k = 0; k < (1u << 16); ++k) {
    s = {static_cast<char>(k >> 8), static_cast<char>(k & 255)};
    mismatches += IsValidUtf8(s) != (valid2[k] == 1 || (valid1[k >> 8] && valid1[k & 255]));
  }
  for (uint32_t k = 0; k < (1u << 24); ++k) {
    s = {static_cast<char>(k >> 16), static_cast<char>((k >> 8) & 255), static_cast<char>(k & 255)};
    // A 3-byte string may also be valid as shorter sequences back to back.
    const bool shorter = (valid1[k >> 16] && valid2[k & 0xFFFF]) ||
                         (valid2[k >> 8] && valid1[k & 255]) ||
                         (valid1[k >> 16] && valid1[(k >> 8) & 255] && valid1[k & 255]);
    mismatches += IsValidUtf8(s) != (valid[k] == 1 || shorter);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("IsValidUtf8: 4-byte sequences, the edges and random ones") {
  for (uint32_t cp : {0x10000u, 0x1F600u, 0xFFFFFu, 0x10FFFFu}) CHECK(IsValidUtf8(Encode(cp)));
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // overlong U+FFFF
  CHECK_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 of U+1F600: surrogates
  CHECK_FALSE(IsValidUtf8("\xF0\x9F\x98"));              // truncated
  Rng rng(7);
  for (int t = 0; t < 100000; ++t) {
    const uint32_t cp = 0x10000 + static_cast<uint32_t>(rng.Uniform(0x100000));
    CHECK(IsValidUtf8(Encode(cp)));
  }
}

TEST_CASE("Printable: controls and ill-formed bytes escaped, printable UTF-8 kept") {
  CHECK(Printable("press-7") == "press-7");
  CHECK(Printable("caf\xC3\xA9 \xE2\x82\xAC") == "caf\xC3\xA9 \xE2\x82\xAC");
  CHECK(Printable("a\nagent press-7 left") == "a\\nagent press-7 left");
  CHECK(Printable("\x1b]0;owned\x07\x1b[2J") == "\\x1b]0;owned\\x07\\x1b[2J");
  CHECK(Printable("\xE9t\xE9") == "\\xe9t\\xe9");  // Latin-1, not UTF-8
  CHECK(Printable("\xC2\x9B"
                  "31m") == "\\xc2\\x9b31m");  // C1 CSI
  CHECK(Printable("back\\slash\t\r\x7f") == "back\\\\slash\\t\\r\\x7f");
  CHECK(Printable(std::string("nul\0byte", 8)) == "nul\\x00byte");
  CHECK(Printable("abcdefgh", 4) == "abcd...");
  // Whatever the input, the output is valid UTF-8 without a control byte.
  Rng rng(11);
  for (int t = 0; t < 20000; ++t) {
    std::string s(static_cast<size_t>(rng.Uniform(12)), '\0');
    for (char& c : s) c = static_cast<char>(rng.Uniform(256));
    const std::string p = Printable(s);
    CHECK(IsValidUtf8(p));
    for (char c : p) CHECK((static_cast<uint8_t>(c) >= 0x20 && c != 0x7F));
  }
}

TEST_CASE("StringPrintf: printf into a string of any length") {
  CHECK(StringPrintf("%s %05.1f %lld", "x", 2.5, 12345678901LL) == "x 002.5 12345678901");
  CHECK(StringPrintf("%s", "").empty());
  const std::string long_text(1000, 'a');
  CHECK(StringPrintf("<%s|%d>", long_text.c_str(), 7) == "<" + long_text + "|7>");
}

}  // namespace
}  // namespace edgetrain
