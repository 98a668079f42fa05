// Run events: what the coordinator tells the world, as typed values. The driver and the loop
// emit them to an EventSink; JsonEventSink (the log stream, docs/log-stream.md) and ConsoleSink
// (the progress table on stdout) render them. Nothing else prints or publishes.
//
// Every event gets the run's id, its wall-clock time and its topic ("run", "epoch", "agent") from
// the sink. Strings that came from the network or from files are kept as received (valid UTF-8,
// the decoder checks) and escaped by each sink for its medium.
//
// Thread-safety: values; a sink is called from the coordinator's thread only.
#ifndef EDGETRAIN_COORDINATOR_EVENTS_H_
#define EDGETRAIN_COORDINATOR_EVENTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"

namespace edgetrain::coordinator {

// ---- topic "run"
struct RunInsecure {};
struct RunStarted {
  int64_t agents = 0;
  int32_t dimension = 0;
  ProblemSpec problem;
  StopRule stop;
  bool insecure = false, secure_log = false;
  double reference_objective = 0;  // NaN: none
  std::optional<LabelMap> labels;
};
struct RunResumed {
  int64_t epoch = 0, version = 0, updates_applied = 0, agents_before = 0;
  double step_factor = 1;
};
struct WaitingForAgents {
  int64_t agents = 0, needed = 0;
  std::string why;
};
struct CheckpointError {
  std::string detail;
};
struct RunFinished {
  std::string reason;
  bool evaluated = false;  // an epoch ran: the numbers describe the model
  int64_t epoch = 0, nnz = 0;
  double objective = 0, kkt = 0, relative_gap = 0;
  int64_t updates_applied = 0, updates_refused = 0, messages_refused = 0, duplicates = 0;
  int64_t repeats = 0, newton_steps = 0, newton_rejected = 0, agents_joined = 0;
  int64_t bytes_in = 0, bytes_out = 0;
  double seconds = 0;
  std::string model_path;
  std::map<std::string, int64_t> refused, refused_by_sender;
  double reference_objective = 0;  // NaN: none
};

// Training rounds (round_scheduler.h). A round began: why, and the model it warm-starts from.
struct RoundBegan {
  int64_t round = 0;
  std::string trigger;           // "start", "schedule", "new rows", "request", "resumed"
  int64_t warm_start_round = 0;  // the published model it starts from (0: from zero)
  int64_t new_rows = 0;          // the agents' rows beyond the last round's
  int64_t agents = 0;
};
// A round ended: its model published into --model-dir, or why not (the model of model_round
// stays in service).
struct RoundEnded {
  int64_t round = 0;
  std::string reason;  // the stop reason
  bool published = false;
  std::string model_path;   // published: the new file
  std::string detail;       // not published: why
  int64_t model_round = 0;  // the round of the model in service now (0: none)
  double seconds = 0;       // the round's length
  std::string next;         // what starts the next round ("" after the last one)
};
// An agent said (in a heartbeat) that it saved the published model of `round`.
struct ModelDelivered {
  std::string agent;
  int64_t round = 0;
  double seconds = 0;   // after the round ended (or after the agent joined, if later)
  int64_t holding = 0;  // agents connected that hold this model now
  int64_t agents = 0;   // agents connected
};

// ---- topic "status": the whole state, periodically and on every change of state; the log stream
// keeps the last one and gives it to every new subscriber at once (docs/log-stream.md).
struct AgentStatus {
  std::string agent, address, software_version, arch, role;  // role: pending, idle, gradient, ...
  int64_t rows = 0, updates_applied = 0, updates_refused = 0, gradient_timeouts = 0;
  std::map<std::string, int64_t> refused_by_reason;
  int64_t messages = 0;
  double mean_staleness = 0;  // versions, over its applied updates (NaN: none yet)
  double rtt_seconds = 0;     // the agent's measured Update round trip (NaN: not reported)
  double seconds_since_heard = 0;
  std::string last_message;  // its type
};
struct RunStatus {
  bool insecure = false, secure_log = false;  // how agents and subscribers are authenticated
  std::string state;  // "waiting", "running", "idle" (between rounds), "stopping", "finished"
  std::string why;    // waiting: for what; finished: the stop reason
  std::string phase;  // running: "gradient", "curvature", "inner"
  int64_t epoch = 0, agents = 0, agents_needed = 0, rows = 0;
  int64_t steps_applied = 0, inner_steps = 0;  // of the running inner phase
  double seconds = 0;
  bool evaluated = false;  // a snapshot was evaluated: the numbers below are the best one's
  double objective = 0, kkt = 0, relative_gap = 0;
  double tolerance = 0;          // the stop rule's --tol
  double epoch_eta_seconds = 0;  // NaN: unknown
  double run_eta_seconds = 0;    // NaN: unknown (no trend yet, or not converging)
  std::string next_round;        // idle between rounds: what starts the next one
  std::vector<AgentStatus> agent_status;
};

// ---- topic "agent"
struct AgentJoined {
  std::string agent, peer, key, key_name, software_version;
  int64_t rows = 0, agents = 0;
  int32_t dimension = 0;
  double row_norm_sq_max = 0;
};
struct AgentLeft {
  std::string agent, reason;
  int64_t agents = 0;
};
struct AgentRefused {
  std::string agent, peer, reason, detail;
};
struct MessageRefused {
  std::string agent, peer, reason, detail;
};
struct KeyRefused {
  std::string domain, peer, key;
  int64_t count = 1;  // > 1: a summary of refusals not shown (rate limit); peer and key empty
};
struct HandshakeFailed {
  std::string detail;
  int64_t count = 1;  // failures summarised by this event (rate limit)
};
struct AllowListReloaded {
  int64_t keys = 0, subscriber_keys = 0;
};
struct AllowListError {
  std::string detail;
};
struct GradientTimeout {
  std::string agent;
  int64_t rows = 0, epoch = 0, in_a_row = 0;
};

// ---- topic "epoch"
struct EpochBegan {
  SnapshotReport report;
  EpochDecision decision;
  int64_t agents = 0, version = 0;
  double seconds = 0, reference_objective = 0, updates_per_second = 0;
};
struct NewtonTrial {  // a trial point judged and not taken (backtrack), or the search given up
  bool rejected = false;
  int64_t epoch = 0;
  double objective = 0, best_objective = 0, seconds = 0;
  double next_alpha = 0;  // backtrack: the step length of the next trial point
};
struct NewtonSolved {
  int64_t epoch = 0, support = 0, rows = 0, sweeps = 0, bytes = 0;
  bool declined = false, taken = false;
  double decrease = 0, solve_seconds = 0, curvature_seconds = 0, seconds = 0;
  bool reused = false;  // solved with the last Newton epoch's block: no curvature phase
};
struct Progress {
  int64_t epoch = 0, updates_applied = 0, steps_applied = 0, inner_steps = 0, agents = 0;
  double updates_per_second = 0, seconds = 0;
};
struct EpochEnded {
  int64_t epoch = 0, updates_applied = 0, steps_applied = 0, inner_steps = 0, version = 0;
  double updates_per_second = 0, inner_seconds = 0, seconds = 0;
  std::vector<int64_t> staleness_histogram;
  std::map<std::string, int64_t> refused;
  int64_t guarded_refused = 0, guarded_clipped = 0, bytes_in = 0, bytes_out = 0;
  bool stalled = false;  // ended early: no update applied for --stall-timeout
};
// The log stream's socket was closed and bound again: every subscriber reconnects by itself.
struct LogStreamRebound {
  std::string reason;                 // "subscriber_key_removed", "subscription_flood", "failed"
  int64_t ignored_subscriptions = 0;  // subscriptions to no topic, since the start
  std::string detail;                 // failed: why the stream is closed now
};
// A human-readable note with no structured content (console only): "a connection failed ...".
struct Note {
  std::string text;
};

using Event =
    std::variant<RunInsecure, RunStarted, RunResumed, WaitingForAgents, CheckpointError,
                 RunFinished, RoundBegan, RoundEnded, ModelDelivered, AgentJoined, AgentLeft,
                 AgentRefused, MessageRefused, KeyRefused, HandshakeFailed, AllowListReloaded,
                 AllowListError, GradientTimeout, EpochBegan, NewtonTrial, NewtonSolved, Progress,
                 EpochEnded, RunStatus, LogStreamRebound, Note>;

// The event's name in the log stream ("run_started", ...) and its topic ("run", "agent", "epoch").
const char* EventName(const Event& e);
const char* EventTopic(const Event& e);

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(const Event& e) = 0;
};

// Emits to several sinks in order. Borrows them.
class EventFanout : public EventSink {
 public:
  void Add(EventSink* sink) { sinks_.push_back(sink); }
  void Emit(const Event& e) override {
    for (EventSink* s : sinks_) s->Emit(e);
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_EVENTS_H_
