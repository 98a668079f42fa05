// Log-stream event sequences for the monitor's tests (docs/log-stream.md), written by hand to
// exercise the cases a run rarely shows on demand, and helpers to fold them into a RunRecord.
#ifndef EDGETRAIN_TESTS_MONITOR_STREAMS_H_
#define EDGETRAIN_TESTS_MONITOR_STREAMS_H_

#include <string>
#include <utility>
#include <vector>

#include "run_record.h"

namespace edgetrain::testing {

// (topic, JSON body) pairs, in publishing order.
using Stream = std::vector<std::pair<std::string, std::string>>;

// A run with --reference-objective 0.38 and no run ids (an older coordinator): two agents join,
// run_started, four snapshots (the second worse than the first, an agent leaves in between, the
// last one final and already a hair below the reference, so its rel_subopt is negative),
// run_finished.
Stream RunWithReference();

// A monitor that connected mid-run (no run_started), a run without --reference-objective:
// epochs 5..7, the last one final; gap_bound null everywhere. Bodies only.
std::vector<std::string> MidRunWithoutReference();

// What a monitor sees from a coordinator with status events and run ids (run kOperatorsRunId):
// status and run_started first (the coordinator's last-value cache), agents line-1 and a hostile
// id (kHostileAgent) joining, epochs 0-2 (a Newton point at 2), line-1 leaving (epoch 3 is a new
// baseline over 800 rows, epoch 4 is rolled back), line-1 back in a new session (epoch 5, a new
// baseline over 1600 rows, final), stopping, run_finished (tol), finished. kOperatorsAgentsBack
// is the index of the status after line-1 came back.
Stream OperatorsRun();
inline constexpr const char* kOperatorsRunId = "00c0ffee00c0ffee";
inline constexpr const char* kHostileAgent = "press\x1b[2J<b>&\"7\\";
inline constexpr size_t kOperatorsAgentsBack = 19;

// A coordinator stopped while it waited for agents: status waiting, run_started, run_finished
// with evaluated false.
Stream RunWithoutEpochs();

// Folds the events into a fresh record (every one must be accepted).
monitor::RunRecord Fold(const Stream& events);
monitor::RunRecord Fold(const std::vector<std::string>& events);

// The lines of a text.
std::vector<std::string> Lines(const std::string& text);

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_MONITOR_STREAMS_H_
