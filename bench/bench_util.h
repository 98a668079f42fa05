// Helpers shared by the coordinator benchmarks (bench/coordinator_throughput.cc,
// bench/dap_vs_tap.cc): timing, CPU clocks, the machine description every figure carries, a
// zero-copy patchable pre-encoded message, and a small SVG bar chart.
//
// Thread-safety: free functions, no shared state.
#ifndef EDGETRAIN_BENCH_BENCH_UTIL_H_
#define EDGETRAIN_BENCH_BENCH_UTIL_H_

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/coordinator_state.h"

namespace edgetrain::bench {

// Seconds per call of f: the fastest of five trials, each repeating f for min_seconds / 5 (after
// one warm call). The minimum filters out what other work on the machine adds.
template <typename F>
double TimePerCall(F&& f, double min_seconds = 0.3) {
  f();
  double best = 1e300;
  int64_t reps = 1;
  for (int trial = 0; trial < 5;) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < reps; ++r) f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < min_seconds / 5) {  // too short to time: more repetitions
      reps = s <= 1e-6
                 ? reps * 10
                 : std::max<int64_t>(reps * 2, static_cast<int64_t>(static_cast<double>(reps) *
                                                                    min_seconds / 5 / s * 1.2));
      continue;
    }
    best = std::min(best, s / static_cast<double>(reps));
    ++trial;
  }
  return best;
}

// CPU seconds a thread has used (pthread_getcpuclockid).
double ThreadCpuSeconds(pthread_t thread);
// CPU seconds of all threads of this process whose name starts with prefix (/proc/self/task).
double NamedThreadsCpuSeconds(const std::string& prefix);

// "CPU model, N cores" / "x.yz x.yz x.yz" (/proc/loadavg) / UTC date.
std::string MachineDescription();
std::string LoadAverage();
std::string UtcNow();

// Offset of an 8-byte pattern that occurs exactly once in buf, or -1.
int64_t FindUnique(std::string_view buf, uint64_t pattern);

// The bench programs' command lines: "--name value" pairs and bare switches, read in order.
// command() is the program name and every argument read, to print as "Reproduce: ...".
class Flags {
 public:
  Flags(int argc, char** argv, const std::string& program)
      : argc_(argc), argv_(argv), command_(program) {}
  // The next flag's name, or false at the end.
  bool Next(std::string* name);
  // The value after the current flag (exits with status 2 when there is none).
  std::string Value();
  const std::string& command() const { return command_; }

 private:
  int argc_;
  char** argv_;
  int at_ = 0;
  std::string command_;
};

// "1000,1e5" -> {1000, 100000}.
std::vector<int64_t> ParseInts(const std::string& list);
std::vector<double> ParseDoubles(const std::string& list);

// Human-readable counts: 1234567 -> "1 234 567"; bytes -> "8.0 MB".
std::string Thousands(double v);
std::string Bytes(double b);

// A grouped horizontal bar chart (log scale) written as SVG.
struct BarGroup {
  std::string label;
  std::vector<double> values;  // one per series
};
void WriteBarChartSvg(const std::string& path, const std::string& title, const std::string& unit,
                      const std::vector<std::string>& series, const std::vector<BarGroup>& groups);

// A ZeroMQ zero-copy message's free function for buffers the sender keeps alive itself.
inline void NoFree(void*, void*) {}

// Puts `state` into an inner phase that never ends (m = 2^50), with mu~ = g (one row), as the
// coordinator's is while updates arrive. REQUIRES: g.size() == the state's model size.
void BeginEndlessInnerPhase(CoordinatorState* state, const std::vector<double>& g);

}  // namespace edgetrain::bench

#endif  // EDGETRAIN_BENCH_BENCH_UTIL_H_
