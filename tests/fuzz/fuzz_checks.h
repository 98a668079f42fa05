// The fuzz entry points: feed one input to a parser and check what it returns.
//
// Shared by the libFuzzer targets in this folder (built by the `fuzz` preset with clang) and by
// tests/fuzz_regression_test.cc (built with the normal suite), which replays every file under
// tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/ through the same functions.
//
// Each Feed* function must not crash on any input, and checks invariants on what is accepted (a
// Dataset's CSR structure, finite values, label mappings, a model file's round trip, a decoded
// message's vectors...); a violated invariant calls the failure handler, which by default prints
// the reason and aborts (so libFuzzer reports the input as a crash). docs/fuzzing.md lists the
// invariants.
//
// Thread-safety: none (the failure handler is a global). Feed* functions are otherwise pure.
#ifndef EDGETRAIN_TESTS_FUZZ_FUZZ_CHECKS_H_
#define EDGETRAIN_TESTS_FUZZ_FUZZ_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edgetrain::fuzz {

// Called with a description of the violated invariant; must not return normally (abort or
// throw). The default prints to stderr and calls std::abort().
using FailureHandler = void (*)(const std::string& what);
void SetFailureHandler(FailureHandler handler);
// Reports a violated invariant to the failure handler (never returns).
[[noreturn]] void Fail(const std::string& what);

// Checks an invariant: on failure, Fail with the place, the condition and `context`.
#define FUZZ_CHECK(cond, context)                                                    \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ::edgetrain::fuzz::Fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                              ": "                                                   \
                              "(" #cond ") is false; " +                             \
                              (context));                                            \
    }                                                                                \
  } while (0)

// wire::Decoder::Decode with no model size, with a model size (from the first byte, from the
// message's own vectors, from a curvature request's support), and from a misaligned copy; every
// accepted message is checked field by field, every vector walked and assigned to a ModelReplica.
void FeedWireMessage(const uint8_t* data, size_t size);
// ParseLibsvm as classification, regression and classification with defer_label_map; an
// accepted classification file is read again with its own mapping and with the other positive
// label; the same text with CRLF line ends must read the same.
void FeedLibsvm(const uint8_t* data, size_t size);
// ParseCsv. The input's first line holds the options: the label column's name, optionally
// followed by '|' and the feature columns separated by '|'; the rest is the CSV text. Same
// modes and checks as FeedLibsvm.
void FeedCsv(const uint8_t* data, size_t size);
// ParseModel on the bytes as given, and on their nested Model buffer wrapped in a ModelFile with
// a valid checksum (8-byte aligned and misaligned), so that mutations get past the CRC32C; an
// accepted model must serialize and parse back to the same model, byte-stable.
void FeedModelFile(const uint8_t* data, size_t size);
// One coordinator Driver (socket-free, manual clock) driven by a program of steps decoded from the
// input: several fake agents' messages through the real wire::Encoder (honest answers computed
// with runtime code, perturbed or crafted field by field), raw and mutated bytes, clock advances
// and ticks; the Driver's invariants are checked after every step (coordinator_checks.cc,
// docs/fuzzing.md).
void FeedCoordinator(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // the folder name under tests/fuzz/corpus and tests/fuzz/regressions
  void (*feed)(const uint8_t* data, size_t size);
};
// The targets: wire_decoder, libsvm, csv, model_file, coordinator.
const std::vector<Target>& Targets();

}  // namespace edgetrain::fuzz

#endif  // EDGETRAIN_TESTS_FUZZ_FUZZ_CHECKS_H_
