// libFuzzer target: wire::Decoder::Decode and the vectors of accepted messages.
// The checks live in fuzz_checks.cc (shared with tests/fuzz_regression_test.cc); see
// docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgetrain::fuzz::FeedWireMessage(data, size);
  return 0;
}
