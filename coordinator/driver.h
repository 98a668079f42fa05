// Driver: the coordinator's logic, socket-free. It owns the model (CoordinatorState: the
// gradient and curvature sums, x and its versions), the EpochPolicy and the Roster; it hears
// inbound messages from the loop (Receive), its timers run when the loop calls Tick, it talks to
// agents through an Outbox and tells the world through an EventSink. Given a manual clock and a
// scripted outbox, a whole run -- timeouts, repeats, late joiners, dead agents, malformed input,
// revoked keys, Newton epochs -- runs in a test in milliseconds (tests/driver_test.cc).
//
// Life of a run (docs/protocol.md has the state machine):
//   waiting   Hellos are admitted (Roster) until --min-agents have joined and, for
//             classification, two labels are known; then the dimension (the largest shard, or
//             --dim) and the label mapping are fixed and every waiting agent is welcomed.
//   epochs    gradient phase: EpochBegin(x~) to the welcomed agents, GradSums summed until all
//             answered, left or --gradient-timeout; the EpochPolicy decides; then a curvature phase
//             (CurvatureRequest, Curvatures summed, one solve) or an inner phase (InnerLoop, then
//             every Update applied and answered: the coordinator only adds).
//   stopping  the best snapshot is the model (written to --model); Stop goes to every agent and is
//             repeated to those that answer anything but Bye, for up to two heartbeats.
//   done      Run's result: the summary, or the failure.
// Rounds (round_scheduler.h, docs/protocol.md "Rounds"): with --rounds other than 1 a finished run
// is a round: its model is published into --model-dir when it passed the stop rule and is finite,
// every agent gets it in a RoundEnd and stays connected, idle, until the scheduler starts the next
// round; then a RoundBegin makes every agent re-read its data and say Hello again, and the new
// round warm-starts from the last published model. Only the last round (or a one-shot run) ends
// with Stop; an interrupted round in rounds mode ends without one (agents wait for the restart).
// Late joiners are welcomed with the current model and take part from the next gradient phase;
// agents silent for heartbeat * patience, or in --gradient-timeouts-to-drop gradient phases in a
// row, are dropped. Every wait ends by the time limit.
//
// Thread-safety: none; the loop's thread owns it. Ownership: borrows the clock, the outbox, the
// sink and the checkpoint store; owns everything else.
#ifndef EDGETRAIN_COORDINATOR_DRIVER_H_
#define EDGETRAIN_COORDINATOR_DRIVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "burst_limit.h"
#include "edgetrain/checkpoint.h"
#include "edgetrain/clock.h"
#include "edgetrain/column_scales.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/model.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"
#include "eta.h"
#include "events.h"
#include "options.h"
#include "roster.h"
#include "round_scheduler.h"

namespace edgetrain::coordinator {

// Where the driver's messages go: the loop's ROUTER socket, or a test's script.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Queues one message to a connection; false when it could not be queued (gone, or full).
  virtual bool Send(std::string_view identity, std::string_view bytes) = 0;
};

class Driver {
 public:
  // `resume`: a checkpoint to continue (its options were checked by the caller). `checkpoints`
  // may be null (no checkpoints).
  Driver(const CoordinatorOptions& options, const Clock* clock, Outbox* outbox, EventSink* events,
         CheckpointStore* checkpoints = nullptr, std::optional<Checkpoint> resume = std::nullopt);
  ~Driver();

  // Which CURVE keys may talk (re-read on SIGHUP by the loop); unset: every key (insecure).
  void set_key_check(std::function<bool(std::string_view key)> allowed) {
    key_allowed_ = std::move(allowed);
  }
  // The name an allow-list gives a key (for the log), or "".
  void set_key_names(std::function<std::string(std::string_view key)> name) {
    key_name_ = std::move(name);
  }

  // The newest published model of an earlier process (the `latest` of --model-dir): rounds
  // continue from it; `numbered`: the highest round number in the directory. REQUIRES: before
  // Begin.
  void RestorePublished(Model model, int64_t numbered);
  // Starts the clock of the run (the time limit counts from here). REQUIRES: called once, first.
  void Begin();
  // On demand (edgetrain-coordinator trigger): the next round starts now when idle between rounds.
  void TriggerRound();
  // One inbound message: decoded, authenticated and handled (or refused and counted).
  void Receive(const Peer& peer, const void* data, size_t size);
  // Runs what is due: heartbeats, repeats of lost phase messages, phase deadlines, progress,
  // checkpoints, the time limit, the end of stopping.
  void Tick();
  // When Tick next has something to do (clock seconds).
  double NextDeadline() const;
  // Stops the run at once (interrupt): the best snapshot so far is the model.
  void RequestStop(const std::string& reason);
  // After the allow-lists were reloaded: agents whose key is no longer allowed are shut out.
  void Revoke();

  bool done() const { return run_ == Run::kDone; }
  bool idle() const { return run_ == Run::kIdle; }
  int64_t round() const { return round_; }
  // The model in service (the newest published), or null.
  const Model* published() const { return published_ ? &*published_ : nullptr; }
  bool stopping() const { return run_ == Run::kStopping; }
  // After done(): the summary, or the failure (a problem the agents' data cannot fit, a diverging
  // run, a model file that could not be written).
  const edgetrain::Status& failure() const { return failure_; }
  const RunSummary& summary() const { return summary_; }

  // For tests and the benchmark: what the driver holds.
  const CoordinatorState* state() const { return state_.get(); }
  const EpochPolicy* policy() const { return policy_.get(); }
  const Roster& roster() const { return roster_; }

 private:
  enum class Run : uint8_t { kWaiting, kRunning, kIdle, kStopping, kDone };

  // ---- messages (driver.cc)
  void Refuse(const Peer& peer, const std::string& who, const std::string& reason,
              const std::string& detail);
  void ReportHiddenRefusals(int64_t hidden);
  // A phase message or Update not applied: counted for the run, the epoch and the agent.
  void CountRefusedUpdate(Agent* a, const char* reason);
  void Reject(const Peer& peer, std::string_view agent_id, wire::RejectReason reason,
              const std::string& text, uint16_t protocol = wire::kProtocolVersion);
  void Send(Agent& a, std::string_view bytes);
  void OnHello(const Peer& peer, const wire::Header& h, const wire::HelloMsg& m);
  std::string HelloProblem(const wire::HelloMsg& m, std::string_view identity,
                           wire::RejectReason* reason) const;
  void Dispatch(Agent& a, const Peer& peer, const wire::Message& m);
  void Welcome(Agent& a);
  void SendWelcome(Agent& a);  // the Welcome of a.session (again)
  // The run's scaler kind: fixed once training started; before, the coordinator's --scale, else
  // the first request of an agent present (other than the connection `except`), else none.
  std::optional<ScalerKind> RunScale(std::string_view except) const;
  // At the start: the run's scaler and the preconditioner from the merged statistics of the
  // agents present (docs/protocol.md, "Scaling"). Errors: --scale without every agent's statistics.
  edgetrain::Status ChooseScaling();
  void RemoveAgent(std::string_view identity, const std::string& why);
  void AgentGone(const Agent& gone);

  // ---- the run and its epochs (driver_epoch.cc)
  bool ReadyToStart(std::string* why) const;
  void StartTraining();
  void StartEpoch();
  void OnGradSum(Agent& a, const wire::GradSumMsg& m);
  void FinishGradientPhase();
  void Decided(const SnapshotReport& report, const EpochDecision& d, double now);
  // reuse: the decision allows solving with the last epoch's block (no curvature phase then).
  void BeginCurvaturePhase(double now, int64_t working_set, bool reuse);
  void OnCurvature(Agent& a, const wire::CurvatureMsg& m);
  void FinishCurvaturePhase(bool reused = false);
  void BeginInnerPhase(double now);
  wire::InnerLoopMsg InnerLoop() const;  // the inner phase's plan, as sent (and repeated)
  void OnUpdate(Agent& a, const wire::Header& h, const wire::UpdateMsg& m);
  void OnRepeatedUpdate(Agent& a, const wire::Header& h, const wire::Message& m);
  void EndInnerPhase(bool stalled);
  bool PhaseComplete() const;  // every agent awaited in this phase has answered

  // ---- timers and the end (driver_timers.cc)
  void CheckLiveness(double now);
  void RepeatPhaseMessage(Agent& a, double now);
  void OnPhaseDeadline(double now);
  void OnTimeLimit(double now);
  void EmitProgress(double now);
  void SaveCheckpoint();
  uint64_t OptionsFingerprint() const;
  void EmitStatus(double now);
  RunStatus CurrentStatus(double now) const;
  void Finish(const std::string& reason);
  void Fail(const edgetrain::Status& status);
  Model BuildModel(const std::string& reason) const;
  void WriteModel(const std::string& reason);
  void EndStopping();
  void FillSummary(const std::string& reason, double now);
  void EmitRunFinished(const std::string& model_path);

  // ---- rounds (driver_rounds.cc)
  bool RoundEvents() const;  // rounds mode, or a model directory
  void BeginRound(const std::string& trigger);
  void ResetRound();
  void WarmStart();
  void EndRound(const std::string& reason);
  // Publishes the round's model when it passed; "" or why not. *path: the file written.
  std::string Publish(const std::string& reason, std::string* path);
  void AdmitBetweenRounds(Agent& a);
  void SendRoundEnd(Agent& a, const std::string& text);
  void OnHeartbeat(Agent& a, const wire::HeartbeatMsg& m);
  std::map<std::string, int64_t> RowsNow() const;
  int64_t published_round() const { return published_ ? published_->summary.round : 0; }

  CoordinatorOptions options_;
  const Clock* clock_;
  Outbox* outbox_;
  EventSink* events_;
  CheckpointStore* checkpoints_;
  std::optional<Checkpoint> resume_;
  std::function<bool(std::string_view)> key_allowed_;
  std::function<std::string(std::string_view)> key_name_;
  int64_t max_staleness_ = 0;  // options_.max_staleness, or 0 with a box

  Run run_ = Run::kWaiting;
  Roster roster_;
  wire::Encoder encoder_;
  wire::Decoder decoder_;
  std::unique_ptr<CoordinatorState> state_;
  std::unique_ptr<EpochPolicy> policy_;
  std::unique_ptr<UpdateAnswerer> answerer_;
  std::optional<LabelMap> labels_;
  int32_t dimension_ = 0;
  Scaler scaler_;        // the run's (kind kNone: none), dimension_ entries, sent in Welcome
  ColumnScales scales_;  // the solver's preconditioner (empty: none), in state_->spec() too
  uint64_t next_session_ = 1;
  StepPlan plan_;
  std::vector<Smoothness> smoothness_;  // of this epoch's participants
  bool curvature_declined_ = false;

  // Clocks (seconds on clock_).
  double start_time_ = 0;
  double phase_start_ = 0;
  double phase_deadline_ = 0;  // gradient/curvature timeout, or the inner phase's stall timeout
  double next_liveness_ = 0;
  double next_progress_ = 0;
  double next_checkpoint_ = 0;
  double stop_deadline_ = 0;
  double last_rate_ = 0;  // updates/s of the last inner phase
  static constexpr double kProgressInterval = 0.5;
  static constexpr double kFinalEvaluation = 5;  // seconds a last gradient phase may take

  // Agents dropped for silence in gradient phases, by id: admitted again after the time given.
  std::map<std::string, double, std::less<>> benched_;
  static constexpr size_t kMaxBenched = 1024;
  // The refusal log's rate limit: 20 events per 10 s, then a count.
  BurstLimit refusal_limit_{20, 10.0};

  // Counters.
  int64_t duplicates_ = 0, repeats_ = 0, updates_refused_ = 0, bytes_in_ = 0, bytes_out_ = 0;
  int agents_joined_ = 0;
  std::map<std::string, int64_t> epoch_refused_;
  int64_t epoch_bytes_in_ = 0, epoch_bytes_out_ = 0;
  int64_t guarded_refused_mark_ = 0, guarded_clipped_mark_ = 0;
  edgetrain::Status failure_;
  RunSummary summary_;
  // The operators' view: a status event every kStatusInterval and on every change of state.
  static constexpr double kStatusInterval = 1.0;
  double next_status_ = 0;
  ConvergenceEta eta_;
  std::string waiting_why_ = "waiting for agents";

  // Rounds.
  RoundScheduler scheduler_;
  int64_t round_ = 0;               // the current (or last) round
  double round_deadline_ = 0;       // round >= 2: the agents' Hellos are awaited until then
  double round_ended_ = 0;          // when the last round ended (clock seconds)
  std::optional<Model> published_;  // the model in service
  std::string published_bytes_;     // its file's bytes (sent in RoundEnd)
  std::string round_text_;          // the last RoundEnd's text
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_DRIVER_H_
