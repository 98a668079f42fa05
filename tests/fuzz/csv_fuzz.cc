// libFuzzer target: ParseCsv (first input line: label column[|feature|...], then the CSV text).
// The checks live in fuzz_checks.cc (shared with tests/fuzz_regression_test.cc); see
// docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgetrain::fuzz::FeedCsv(data, size);
  return 0;
}
