// Replays the fuzz seed corpora (tests/fuzz/corpus/<target>/) and the reproducers of everything
// the fuzzers found (tests/fuzz/regressions/<target>/) through the fuzz targets' own entry points
// and invariant checks (tests/fuzz/fuzz_checks.cc), in the normal g++ build. A violated invariant
// throws here (instead of aborting, as in the fuzzers) so the failure names the file. Under the
// asan preset the sanitizers see these inputs too. docs/fuzzing.md describes the targets.
#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/wire.h"
#include "fuzz/fuzz_checks.h"
#include "test_util.h"

namespace edgetrain {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void ThrowViolation(const std::string& what) { throw std::runtime_error(what); }

// The files directly in tests/fuzz/<kind>/<target> (none when the folder does not exist).
std::vector<std::string> InputsOf(const std::string& kind, const std::string& target) {
  std::vector<std::string> files;
  const fs::path dir = testing::SourcePath("tests/fuzz/" + kind + "/" + target);
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Feeds every input of `kind`; returns how many there were.
size_t Replay(const std::string& kind) {
  fuzz::SetFailureHandler(ThrowViolation);
  size_t count = 0;
  for (const fuzz::Target& target : fuzz::Targets()) {
    for (const std::string& path : InputsOf(kind, target.name)) {
      const std::string bytes = testing::ReadText(path);
      INFO(target.name << " <- " << path << " (" << bytes.size() << " bytes)");
      CHECK_NOTHROW(target.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++count;
    }
  }
  fuzz::SetFailureHandler(nullptr);
  return count;
}

TEST_CASE("fuzz seed corpora pass every fuzz target's checks") {
  for (const fuzz::Target& target : fuzz::Targets()) {
    INFO(target.name);
    CHECK_FALSE(InputsOf("corpus", target.name).empty());
  }
  CHECK(Replay("corpus") > 0);
}

TEST_CASE("the wire seeds, as wire::Encoder writes them, are accepted by the decoder") {
  // The fuzz checks only look at what is accepted; an over-strict decoder shows here.
  for (const std::string& path : InputsOf("corpus", "wire_decoder")) {
    const std::string bytes = testing::ReadText(path);
    wire::Decoder decoder;
    Result<wire::Message> m = decoder.Decode(bytes.data(), bytes.size());
    INFO(path);
    CHECK_MESSAGE(m.ok(), m.status().ToString());
  }
}

TEST_CASE("inputs that crashed or broke an invariant while fuzzing are handled") {
  CHECK(Replay("regressions") > 0);
}

}  // namespace
}  // namespace edgetrain
