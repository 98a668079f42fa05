// libFuzzer target: one coordinator Driver driven by a program of fake agents' messages and clock
// ticks (coordinator_program.h), its invariants checked after every step. The checks live in
// coordinator_checks.cc (shared with tests/fuzz_regression_test.cc); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgetrain::fuzz::FeedCoordinator(data, size);
  return 0;
}
