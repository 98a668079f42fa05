// Writes the coordinator_fuzz seed corpus: programs (coordinator_program.h) for runs that reach
// the places worth mutating -- two and three honest agents through inner loops and Newton epochs
// to their stop, a secured run with an id takeover and a revoked key, a time limit, a box, and a
// honest run interleaved with hostile steps. Run once (the output is committed):
//   build/fuzz/tests/fuzz/edgetrain_make_coordinator_seeds tests/fuzz/corpus/coordinator
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator_program.h"
#include "seed_file.h"

namespace {

namespace pg = edgetrain::fuzz::program;

// The option bytes (coordinator_checks.cc, DecodeOptions).
struct Options {
  uint8_t flags = 0;     // bit 0 regression, 1 squared hinge / box upper, 2 intercept, 3 secure,
                         // 4 fixed --dim, 5 box, 6 no Newton, 7 l2
  uint8_t agents = 10;   // --min-agents 1 + b % 3, --max-agents 1 + (b / 3) % 4: 2 and 4
  uint8_t drops = 14;    // --max-staleness b % 5, --gradient-timeouts-to-drop 1 + (b / 5) % 3
  uint8_t limit = 0;     // --time-limit 0.5 * (b % 40) unless b % 4 == 0
  uint8_t stop = 7;      // --max-epochs 1 + b % 12; tolerances from the high bits
  uint8_t l1 = 1;        // 0, 1e-3, 0.05, 1e3
  uint8_t max_dim = 60;  // --max-dim 4 + b % 61
  uint8_t dim = 0;       // --dim 1 + b % 80 when fixed
};

class Program {
 public:
  explicit Program(const Options& o)
      : bytes_{o.flags, o.agents, o.drops, o.limit, o.stop, o.l1, o.max_dim, o.dim} {
    static_assert(pg::kOptionBytes == 8);
  }
  Program& Op(pg::Op op, uint8_t slot, std::initializer_list<uint8_t> args = {}) {
    bytes_.push_back(op);
    bytes_.push_back(slot);
    bytes_.insert(bytes_.end(), args);
    return *this;
  }
  // variant: bits 0-1 the agent id, 2-4 the field to falsify, 5-7 how (coordinator_program.h).
  Program& Hello(uint8_t slot, uint8_t variant = 0) {
    return Op(pg::kHello, slot, {variant, 0, 0, 0, 0});
  }
  // rounds of every slot answering honestly, then the clock advancing 0.01/0.05/0.2/0.5 s.
  Program& Autopilot(uint8_t rounds, uint8_t step = 1, int times = 1) {
    for (int k = 0; k < times; ++k) Op(pg::kAutopilot, 0, {rounds, step});
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

bool Write(const std::string& dir, const std::string& name, const Program& p) {
  const std::string_view bytes(reinterpret_cast<const char*>(p.bytes().data()), p.bytes().size());
  return edgetrain::fuzz::WriteSeed(dir, name, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = edgetrain::fuzz::SeedFolder(argc, argv);
  if (dir.empty()) return 2;
  bool ok = true;

  // Logistic with l1, two agents, Newton allowed: gradient phases, inner loops, Newton epochs.
  Options o;
  ok &= Write(dir, "two-agents-logistic", Program(o).Hello(0).Hello(1).Autopilot(63, 1, 6));

  // Lasso with an intercept, three agents (one joins late), l1 0.05.
  o = Options{};
  o.flags = 1 | 4;
  o.agents = 11;  // --min-agents 3, --max-agents 4
  o.l1 = 2;
  ok &= Write(dir, "three-agents-lasso-intercept",
              Program(o).Hello(0).Hello(1).Autopilot(8).Hello(2).Autopilot(63, 1, 6));

  // Secured: slot 1 claims slot 0's id (another key: Duplicate), slot 2 is slot 0's device
  // reconnecting (same key: replaces it), then slot 1's key is revoked.
  o = Options{};
  o.flags = 8;
  ok &= Write(dir, "secure-takeover-revoke",
              Program(o)
                  .Hello(0)
                  .Hello(1, 1)
                  .Hello(1)
                  .Autopilot(20)
                  .Hello(2, 1)
                  .Autopilot(20)
                  .Op(pg::kRevoke, 1)
                  .Autopilot(63, 1, 3));

  // A time limit of 2.5 s while an agent stays silent in the gradient phase.
  o = Options{};
  o.agents = 1 + 3 * 3;  // --min-agents 2
  o.limit = 5;
  o.stop = 11;
  ok &= Write(dir, "time-limit-silent-agent",
              Program(o)
                  .Hello(0)
                  .Hello(1)
                  .Op(pg::kAnswer, 0, {0})
                  .Op(pg::kTick, 0, {5})
                  .Op(pg::kTick, 0, {6})
                  .Op(pg::kTick, 0, {6})
                  .Op(pg::kTick, 0, {12}));

  // Squared hinge with l2 and a box [-0.5, 0.5], one agent, fixed --dim 9.
  o = Options{};
  o.flags = 2 | 16 | 32 | 128;
  o.agents = 0;  // --min-agents 1, --max-agents 1
  o.dim = 8;
  ok &= Write(dir, "box-squared-hinge-fixed-dim", Program(o).Hello(0).Autopilot(63, 2, 4));

  // A honest run with hostile steps in between: a broken gradient sum, huge and repeated Delta
  // entries, garbage, a mutated message, another session, another protocol version, a clock
  // jump, an agent id with terminal escapes and one at the dimension cap.
  o = Options{};
  o.flags = 64;  // inner loops only
  o.agents = 0;
  Program hostile(o);
  hostile.Hello(0)
      .Hello(1, 2)                               // ESC/BEL/newline in the id
      .Hello(3, 3 << 2 | 3 << 5)                 // dimension kMaxModelDimension
      .Op(pg::kAnswer, 0, {pg::kHonest + 1, 4})  // rows = 0
      .Hello(0)
      .Op(pg::kAnswer, 0, {0})
      .Autopilot(2)
      .Op(pg::kAnswer, 0, {pg::kHonest + 3, 2})  // Delta scaled by 1.7e308
      .Op(pg::kCraft, 0, {pg::kCraftUpdate, 0, 0, 1, 2, 10, 2, 10, 2, 0, 0})
      .Op(pg::kGarbage, 2, {4, 'j', 'u', 'n', 'k'})
      .Op(pg::kMutate, 0, {1, 12, 0, 0xff, 0})
      .Op(pg::kWrongSession, 0, {0, 1, 0, 0, 0, 0, 0, 0, 0})
      .Op(pg::kOtherVersion, 1, {2})
      .Op(pg::kTick, 0, {11})
      .Autopilot(30);
  ok &= Write(dir, "hostile-mix", hostile);
  if (!ok) {
    std::fprintf(stderr, "could not write into %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
