// RunRecord: what edgetrain-monitor knows about a training run, folded from the coordinator's
// log-stream events (docs/log-stream.md): the run's id and settings (run_started), its state and
// every agent's health (status: the coordinator's whole state, periodically and on every change),
// one EpochPoint per evaluated snapshot (epoch_begin, completed by the matching epoch_end), the
// inner phase in progress (progress), markers for the chart (agents joining and leaving, Newton
// points, roll-backs, new baselines), and the end of the run (run_finished).
//
// Any event may come first: a monitor that connects mid-run knows where the run is from the first
// status (which the coordinator publishes every second). Events carry the run's id: an event of
// another run (a coordinator restarted under a running monitor) starts a new record; a repeated
// run_started of the same run only refreshes it. The log stream's last-value cache replays the
// latest status and run_started ("replay": true) to every subscriber whenever one connects: a
// replay of a kind the record already has is ignored (repeated()). Events without a run_id (older
// coordinators) belong to the current record, except run_started, which then starts a new one.
//
// Objectives over different sets of rows are not compared. An epoch whose verdict is "baseline"
// after the first one seen (agents joined or left) starts a new segment: suboptimalities are
// measured within a segment, and trends do not reach across one.
//
// No sockets and no clock: feed it JSON objects in the order they arrive; events it does not
// know are counted and otherwise ignored.
//
// Thread-safety: a value; one thread at a time. Ownership: owns copies of everything it keeps.
#ifndef EDGETRAIN_MONITOR_RUN_RECORD_H_
#define EDGETRAIN_MONITOR_RUN_RECORD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/status.h"
#include "event_json.h"

namespace edgetrain::monitor {

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
  double tolerance = kMissing;  // --tol: the certified relative gap the run stops at
  double reference_objective = kMissing;
  bool insecure = false;
  bool secure_log = false;
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
  double rel_gap = kMissing;     // gap_bound / |objective|: what --tol compares
  double rel_subopt = kMissing;  // only with --reference-objective
  int64_t nnz = 0;
  int64_t rows = 0;
  int64_t agents = 0;  // agents whose gradient sums arrived
  double eta = kMissing;
  int64_t inner_steps = 0;
  std::string verdict;  // baseline, best, probation, rolled-back ("" from older coordinators)
  std::string action;   // inner, newton, roll-back, stop
  double newton_alpha = kMissing;  // an accepted Newton point: its step length
  bool best = false;
  bool rolled_back = false;
  bool final = false;
  int segment = 0;  // 0, then +1 at every new baseline (a change of rows)
  // From the matching epoch_end.
  bool ended = false;
  int64_t updates_applied = 0;
  double updates_per_second = kMissing;
  double inner_seconds = kMissing;
};

// The inner phase under way (progress and status events; reset by epoch_begin, closed by
// epoch_end).
struct InnerProgress {
  bool active = false;
  int64_t epoch = -1;
  int64_t updates_applied = 0;  // Update messages applied (one may carry several steps)
  int64_t steps_applied = 0;    // inner steps applied: the phase ends at inner_steps
  int64_t inner_steps = 0;
  double updates_per_second = kMissing;
  double seconds = kMissing;
};

// From run_finished.
struct FinishInfo {
  double time = kMissing;
  std::string reason;
  bool evaluated = true;  // false: stopped before any epoch; no model, no objective
  int64_t epoch = 0;
  double objective = kMissing;
  double kkt = kMissing;
  double rel_gap = kMissing;
  int64_t nnz = 0;
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;
  int64_t messages_refused = 0;
  int64_t agents_joined = 0;
  double seconds = kMissing;
  double rel_subopt = kMissing;
  std::string model;
  std::map<std::string, int64_t> refused;  // reason -> count over the run
};

// One agent in a status event's agent_status. arch, refused_by_reason, rtt_seconds and
// last_message are newer fields: empty or kMissing from a coordinator that does not send them.
struct AgentHealth {
  std::string agent, address, software_version, arch, role;
  int64_t rows = 0;
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;
  std::map<std::string, int64_t> refused_by_reason;  // its refusals (updates and messages)
  int64_t gradient_timeouts = 0;
  int64_t messages = 0;
  double mean_staleness = kMissing;  // versions; kMissing before its first applied update
  double rtt_seconds = kMissing;     // its Updates' round trip as the agent measured it
  double seconds_since_heard = kMissing;
  std::string last_message;  // the type of the last message heard from it
};

// The last status event: the coordinator's whole state.
struct RunStatus {
  double time = kMissing;  // Unix seconds of the event
  std::string state;       // waiting, running, stopping, finished
  std::string why;
  std::string phase;  // running: gradient, curvature, inner, deciding
  int64_t epoch = 0;
  double seconds = kMissing;
  int64_t agents = 0;
  int64_t agents_needed = 0;
  int64_t steps_applied = 0;  // of the running inner phase, out of inner_steps
  int64_t inner_steps = 0;
  bool evaluated = false;  // then objective, kkt, rel_gap, rows are the best snapshot's
  double objective = kMissing;
  double kkt = kMissing;
  double rel_gap = kMissing;
  int64_t rows = 0;
  double tolerance = kMissing;
  double epoch_eta_seconds = kMissing;
  double run_eta_seconds = kMissing;
  // Agents are not authenticated (--insecure); subscribers are (--log-secure). nullopt from a
  // coordinator that does not send them.
  std::optional<bool> insecure, secure_log;
  std::vector<AgentHealth> agents_health;  // agent_status, in the coordinator's order
};

// Something the chart marks at a point in time.
struct Marker {
  enum class Kind { kAgentJoined, kAgentLeft, kNewton, kRolledBack, kBaseline };
  Kind kind = Kind::kAgentJoined;
  double time = kMissing;  // Unix seconds of the event
  int64_t epoch = -1;      // the epoch it belongs to (-1: none, agents)
  std::string agent;       // kAgentJoined, kAgentLeft: the agent's id, as received
  std::string detail;      // kAgentLeft: the reason; kBaseline: rows and agents
};
// "agent_joined", "agent_left", "newton", "rolled_back", "baseline".
const char* MarkerKindName(Marker::Kind kind);

enum class RunState { kUnknown, kWaiting, kRunning, kStopping, kFinished };
// "unknown" (nothing seen yet), "waiting", "running", "stopping", "finished".
const char* RunStateName(RunState state);

class RunRecord {
 public:
  // At most this many markers are kept (the oldest go first): agents that flap join and leave
  // without end.
  static constexpr size_t kMaxMarkers = 2000;

  // Parses one JSON object (one log-stream frame or JSON line, ParseEvent) and folds it in. Text
  // that is not a strict JSON event is InvalidArgument and leaves the record unchanged.
  Status Consume(std::string_view json_text);
  // Folds in an event already parsed. An event that is not an object with a string "event" (as
  // ParseEvent guarantees) is InvalidArgument and leaves the record unchanged.
  Status ConsumeEvent(const Json& event);

  // The run's id (16 hex digits, from any event; "" before one carried it).
  const std::string& run_id() const { return run_id_; }
  const std::optional<RunInfo>& run() const { return run_; }
  const std::optional<RunStatus>& status() const { return status_; }
  const std::vector<EpochPoint>& epochs() const { return epochs_; }
  const InnerProgress& progress() const { return progress_; }
  const std::optional<FinishInfo>& finish() const { return finish_; }
  bool finished() const { return finish_.has_value(); }
  const std::vector<Marker>& markers() const { return markers_; }

  // The state as of the last event: from status, kept current by the events in between.
  RunState state() const { return state_; }
  // waiting: for what; stopping, finished: the reason ("" when unknown).
  const std::string& why() const { return why_; }
  // running: gradient, curvature, inner, deciding ("" when unknown).
  const std::string& phase() const { return phase_; }
  // The current epoch (-1 before any event told).
  int64_t epoch() const { return epoch_; }
  // Agents connected as last reported (agent_joined/agent_left, progress, status, run_started);
  // -1 before any such event. agents_needed: --min-agents (-1 before a status or
  // waiting_for_agents told it).
  int64_t agents_connected() const { return agents_connected_; }
  int64_t agents_needed() const { return agents_needed_; }
  bool waiting_for_agents() const { return state_ == RunState::kWaiting; }
  // The last updates/s reported (progress or epoch_end); kMissing before any.
  double update_rate() const { return update_rate_; }
  int64_t events_seen() const { return events_seen_; }
  // Unix seconds of the first event seen (kMissing before any).
  double first_event_time() const { return first_event_time_; }
  // Unix seconds when training started (from an event with both "time" and "seconds"; kMissing
  // before one).
  double training_start_time() const { return training_start_time_; }
  // Seconds since training started at Unix time `time` (kMissing when unknown; 0 before training).
  double SecondsAt(double time) const;
  // Training time as of the last event that said: the latest "seconds" of run_finished, status
  // (not while waiting: those count from the coordinator's start), epoch_begin, progress and
  // epoch_end. kMissing before one.
  double TrainingSeconds() const;
  // Whether the last event consumed was a status that changed the state or its reason (or the
  // first status): the plain output prints a line for those only.
  bool status_news() const { return status_news_; }
  // Whether the last event consumed was a replay ("replay": true, the log stream's last-value
  // cache) of a status or run_started this record already had: it was ignored, and the views
  // should not show it again.
  bool repeated() const { return repeated_; }

  // The stop measure's current value and name: rel_gap (the certified relative gap, compared
  // with --tol) before any snapshot and once any snapshot of the run had one, else the KKT
  // violation. The value is
  // run_finished's, else the last status's (the best snapshot), else the last epoch's.
  struct StopMeasure {
    const char* name = "rel_gap";  // "rel_gap" or "kkt"
    double value = kMissing;
    double tolerance = kMissing;  // --tol for rel_gap, the KKT tolerance for kkt
  };
  StopMeasure CurrentStopMeasure() const;

  // Whether the coordinator runs with --insecure: run_started's word, else the last status's
  // (newer coordinators; it reaches a monitor that joined before run_started). nullopt before
  // either.
  std::optional<bool> insecure() const;

  // The ETAs of the last status, while they apply: the epoch's while its inner phase runs, the
  // run's while it runs (kMissing otherwise, and when the coordinator had no estimate).
  double epoch_eta_seconds() const;
  double run_eta_seconds() const;

  // Totals over the run, as far as this monitor has seen: the sums of every agent's counts in
  // the status events (an agent that left keeps its last counts; a new session's counts add to
  // the old ones), raised to run_finished's totals at the end. Never decrease (Prometheus
  // counters).
  int64_t updates_applied_total() const { return updates_applied_total_; }
  int64_t updates_refused_total() const { return updates_refused_total_; }
  // Refusals by reason (updates and messages): the sums of epoch_end's "refused", raised to
  // run_finished's at the end.
  const std::map<std::string, int64_t>& refused_by_reason() const { return refused_by_reason_; }

  // The objective the suboptimality of an epoch in `segment` is measured against when epochs
  // carry no rel_subopt: run_finished's objective for the last segment of a finished run, else
  // the smallest objective seen in the segment. kMissing when there is neither.
  double ReferenceObjective(int segment) const;
  // ReferenceObjective of the last segment.
  double FinalObjective() const;
  // Whether the epochs carry rel_subopt (the run started with --reference-objective).
  bool HasReferenceObjective() const;
  // The suboptimality plotted for one epoch: rel_subopt when the run reports it, else
  // (P - ReferenceObjective(segment))/|ReferenceObjective(segment)|. kMissing when it cannot be
  // computed.
  double Suboptimality(const EpochPoint& point) const;

 private:
  void Reset();
  void StartRun(const Json& e, double time);
  void OnStatus(const Json& e, double time);
  void OnEpochBegin(const Json& e, double time);
  void OnEpochEnd(const Json& e);
  void OnFinished(const Json& e, double time);
  void AddMarker(Marker marker);
  void NoteTrainingTime(double time, double seconds);

  std::string run_id_;
  std::optional<RunInfo> run_;
  std::optional<RunStatus> status_;
  std::vector<EpochPoint> epochs_;
  InnerProgress progress_;
  std::optional<FinishInfo> finish_;
  std::vector<Marker> markers_;
  RunState state_ = RunState::kUnknown;
  std::string why_, phase_;
  int64_t epoch_ = -1;
  int64_t agents_connected_ = -1;
  int64_t agents_needed_ = -1;
  double update_rate_ = kMissing;
  int64_t events_seen_ = 0;
  double first_event_time_ = kMissing;
  double training_start_time_ = kMissing;
  bool status_news_ = false;
  bool repeated_ = false;
  bool has_rel_gap_ = false;
  int segment_ = 0;

  // Per agent id: counts of earlier sessions (banked) and of the last one seen.
  struct AgentCounts {
    int64_t banked_applied = 0, banked_refused = 0, applied = 0, refused = 0;
  };
  std::map<std::string, AgentCounts> agent_counts_;
  int64_t updates_applied_total_ = 0;
  int64_t updates_refused_total_ = 0;
  std::map<std::string, int64_t> refused_by_reason_;
};

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_RUN_RECORD_H_
