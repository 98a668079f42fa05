// RunRecord: what edgetrain-monitor knows about a training run, folded from the coordinator's
// log-stream events (docs/log-stream.md): the run's settings (run_started), one EpochPoint per
// evaluated snapshot (epoch_begin, completed by the matching epoch_end), the inner phase in
// progress (progress), the agents connected (agent_*), and the end of the run (run_finished).
//
// No sockets and no clock: feed it JSON objects in the order they arrive; events it does not
// know are counted and otherwise ignored. A record that starts mid-run (the monitor connected
// late) simply has no RunInfo; a second run_started starts a new record.
//
// Thread-safety: a value; one thread at a time. Ownership: owns copies of everything it keeps.
#ifndef EDGETRAIN_MONITOR_RUN_RECORD_H_
#define EDGETRAIN_MONITOR_RUN_RECORD_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/json.h"
#include "edgetrain/status.h"

namespace edgetrain::monitor {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// From run_started. Numbers the event did not carry (or carried as null) are kMissing.
struct RunInfo {
  double time = kMissing;  // Unix seconds of the event
  int64_t agents = 0;
  int64_t dimension = 0;
  std::string loss;
  double l1 = kMissing;
  double l2 = kMissing;
  bool intercept = false;
  int64_t max_epochs = 0;
  double kkt_tolerance = kMissing;
  double reference_objective = kMissing;
  std::string label_negative, label_positive;  // empty for regression
};

// One evaluated snapshot: epoch_begin's fields, plus the throughput of the inner phase that
// followed it (epoch_end with the same epoch number; kMissing when none came, e.g. the final
// snapshot or a rolled-back one).
struct EpochPoint {
  int64_t epoch = 0;
  double time = kMissing;  // Unix seconds of epoch_begin
  double seconds = kMissing;
  double objective = kMissing;
  double kkt = kMissing;
  double gap_bound = kMissing;
  double rel_subopt = kMissing;  // only with --reference-objective
  int64_t nnz = 0;
  int64_t agents = 0;  // agents whose gradient sums arrived
  double eta = kMissing;
  int64_t inner_steps = 0;
  bool best = false;
  bool rolled_back = false;
  bool final = false;
  // From the matching epoch_end.
  bool ended = false;
  int64_t updates_applied = 0;
  double updates_per_second = kMissing;
  double inner_seconds = kMissing;
};

// The inner phase under way (progress events; reset by epoch_begin, closed by epoch_end).
struct InnerProgress {
  bool active = false;
  int64_t epoch = -1;
  int64_t updates_applied = 0;
  int64_t inner_steps = 0;
  double updates_per_second = kMissing;
  double seconds = kMissing;
};

// From run_finished.
struct FinishInfo {
  double time = kMissing;
  std::string reason;
  int64_t epoch = 0;
  double objective = kMissing;
  double kkt = kMissing;
  int64_t nnz = 0;
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;
  int64_t agents_joined = 0;
  double seconds = kMissing;
  double rel_subopt = kMissing;
  std::string model;
};

class RunRecord {
 public:
  // Parses one JSON object (one log-stream frame or JSON line) and folds it in. Malformed JSON,
  // a value that is not an object, or an object without a string "event" is InvalidArgument and
  // leaves the record unchanged.
  Status Consume(std::string_view json_text);
  Status Consume(const JsonValue& event);

  const std::optional<RunInfo>& run() const { return run_; }
  const std::vector<EpochPoint>& epochs() const { return epochs_; }
  const InnerProgress& progress() const { return progress_; }
  const std::optional<FinishInfo>& finish() const { return finish_; }
  bool finished() const { return finish_.has_value(); }
  // Agents connected to the coordinator as last reported (agent_joined/agent_left, progress,
  // run_started); -1 before any such event.
  int64_t agents_connected() const { return agents_connected_; }
  // The last updates/s reported (progress or epoch_end); kMissing before any.
  double update_rate() const { return update_rate_; }
  // True between waiting_for_agents and the next epoch or agent_joined.
  bool waiting_for_agents() const { return waiting_; }
  int64_t events_seen() const { return events_seen_; }
  // Unix seconds of the first event seen (kMissing before any).
  double first_event_time() const { return first_event_time_; }

  // The objective the suboptimality curve is measured against when epochs carry no rel_subopt:
  // run_finished's objective, else (run still going or interrupted) the smallest objective seen.
  // kMissing when there is neither.
  double FinalObjective() const;
  // Whether the epochs carry rel_subopt (the run started with --reference-objective).
  bool HasReferenceObjective() const;
  // The suboptimality plotted for one epoch: rel_subopt when the run reports it, else
  // (P - FinalObjective())/|FinalObjective()|. kMissing when it cannot be computed.
  double Suboptimality(const EpochPoint& point) const;

 private:
  std::optional<RunInfo> run_;
  std::vector<EpochPoint> epochs_;
  InnerProgress progress_;
  std::optional<FinishInfo> finish_;
  int64_t agents_connected_ = -1;
  double update_rate_ = kMissing;
  bool waiting_ = false;
  int64_t events_seen_ = 0;
  double first_event_time_ = kMissing;
};

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_RUN_RECORD_H_
