// Writing a seed corpus: what the seed generators (make_wire_seeds.cc, make_coordinator_seeds.cc)
// share. Each is run by hand with the corpus folder as its only argument; the output is
// committed under tests/fuzz/corpus/<target>/.
//
// Thread-safety: functions of one thread. Ownership: none.
#ifndef EDGETRAIN_TESTS_FUZZ_SEED_FILE_H_
#define EDGETRAIN_TESTS_FUZZ_SEED_FILE_H_

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

namespace edgetrain::fuzz {

// The output folder from the command line, or "" after printing the usage (exit 2 then).
inline std::string SeedFolder(int argc, char** argv) {
  if (argc == 2) return argv[1];
  std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
  return "";
}

// Writes dir/name; false if it could not.
inline bool WriteSeed(const std::string& dir, const std::string& name, std::string_view bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace edgetrain::fuzz

#endif  // EDGETRAIN_TESTS_FUZZ_SEED_FILE_H_
