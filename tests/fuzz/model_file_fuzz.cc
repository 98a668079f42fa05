// libFuzzer target: ParseModel, and the SerializeModel/ParseModel round trip of accepted models.
// The checks live in fuzz_checks.cc (shared with tests/fuzz_regression_test.cc); see
// docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgetrain::fuzz::FeedModelFile(data, size);
  return 0;
}
