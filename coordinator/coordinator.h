// Coordinator: the on-prem process of DAP-SVRG. It binds a ROUTER socket for agents and a PUB
// socket for the log stream, keeps the model in a CoordinatorState and, per update, only ever adds
// to it (once per Newton epoch it adds the agents' Hessian blocks and solves the small system).
//
// Life of a run (docs/protocol.md has the full state machine):
//   waiting    Hellos are collected until --min-agents have joined; then the model dimension
//              and the label mapping are fixed and every waiting agent is welcomed.
//   gradient   EpochBegin(x~) to every welcomed agent; each answers GradSum. An agent that left
//              is not waited for; a silent one only until --gradient-timeout. mu~ = sum / n over
//              the rows that arrived; P(x~) and the KKT violation come with it; stop checks.
//   inner      InnerLoop(mu~, eta, m, b) to the participants; each Update is applied (x += Delta,
//              version++) unless it is from another epoch or staler than --max-staleness, and is
//              answered with the current model. After m applied updates the next epoch starts.
//   curvature  instead of the inner phase, once the support of x~ is identified (support_newton.h):
//              CurvatureRequest(S) asks each participant for its rows' Hessian block on S; the
//              coordinator adds the blocks, solves the |S| x |S| Newton system and moves x to the
//              projected Newton point. The next gradient phase judges it: a point that does not
//              lower P is taken back (x returns to x~) and an inner loop runs instead.
// Late joiners are welcomed with the current model and take part from the next gradient phase.
// Heartbeats both ways; an agent silent for heartbeat * patience is declared gone.
//
// Thread-safety: Run() owns the object; stop_requested may be set from another thread or a
// signal handler. Ownership: borrows the ZeroMQ context and the clock.
#ifndef EDGETRAIN_COORDINATOR_COORDINATOR_H_
#define EDGETRAIN_COORDINATOR_COORDINATOR_H_

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "edgetrain/checkpoint.h"
#include "edgetrain/clock.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/dataset.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"
#include "edgetrain/step_size.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/transport/channel.h"
#include "edgetrain/transport/curve.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"
#include "log_stream.h"

namespace edgetrain::coordinator {

struct CoordinatorOptions {
  std::string bind = "tcp://*:5555";      // agents connect here
  std::string log_bind = "tcp://*:5556";  // the log stream (empty: none)
  std::string log_json;                   // also write the log as JSON lines ("-" = stdout)
  std::string model_path;                 // the model file written at the end (empty: none)
  std::string endpoints_file;             // write the resolved endpoints here after binding

  // Security (docs/security.md). Either key_path (CURVE: authenticated, encrypted) or insecure.
  bool insecure = false;       // plain text: no authentication, no encryption
  std::string key_path;        // the coordinator's secret key file (from keygen)
  std::string allow_path;      // agents' public keys that may join (reloaded on SIGHUP)
  bool secure_log = false;     // the log stream needs CURVE too
  std::string log_allow_path;  // subscribers' keys (default: allow_path)

  Task task = Task::kClassification;
  ProblemSpec problem;
  std::optional<LabelMap> labels;             // a fixed label mapping
  std::optional<std::string> positive_label;  // else: which of the agents' two labels is +1
  int32_t dimension = 0;                      // 0: the largest among the agents present at start

  int min_agents = 1;
  // The stop rule, the step options and the Newton working-set limit (epoch_policy.h).
  EpochPolicyOptions policy;
  int64_t max_staleness = 4;  // measured: 8 agents stall above ~4 (docs/protocol.md); 0 with a box
  double gradient_timeout = 30;   // seconds a gradient phase waits for a silent agent
  double stall_timeout = 30;      // seconds without an applied update before an epoch ends early
  double heartbeat_interval = 1;  // seconds
  int heartbeat_patience = 10;    // intervals of silence before an agent is declared gone
  uint64_t seed = 1;
  bool quiet = false;  // no human-readable progress on stdout

  // Checkpoints (runtime/include/edgetrain/checkpoint.h): written at every epoch start and every
  // checkpoint_interval seconds into checkpoint_dir (empty: none). With resume the newest loadable
  // one is continued (its options must match); without one the run starts afresh.
  std::string checkpoint_dir;
  double checkpoint_interval = 30;
  bool resume = false;
  double reference_objective = std::nan("");
  transport::ChannelOptions channel;
};

struct RunSummary {
  std::string stop_reason;
  int64_t epochs = 0;  // the epoch of the model returned (0 = initial)
  double objective = 0;
  double kkt = 0;
  double relative_gap = 0;
  int64_t nnz = 0;
  int64_t rows = 0;
  int32_t dimension = 0;
  std::optional<LabelMap> labels;
  std::vector<double> x;  // the best evaluated snapshot (p entries)
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;   // valid messages refused by the state (stale, late, ...)
  int64_t messages_refused = 0;  // malformed or unexpected messages
  int64_t duplicates = 0;        // repeated messages (sequence numbers), never applied twice
  int agents_joined = 0;
  bool resumed = false;  // continued from a checkpoint
  int64_t resumed_epoch = 0;
  double seconds = 0;
  double eta = 0;
  int64_t inner_steps = 0;
  int64_t newton_steps = 0;     // Newton points taken
  int64_t newton_rejected = 0;  // Newton points taken back (P did not decrease)
};

class Coordinator {
 public:
  Coordinator(const CoordinatorOptions& options, zmq::context_t* context, const Clock* clock);
  ~Coordinator();

  // Binds both sockets (and writes --endpoints-file). REQUIRES: called once, before Run.
  Status Bind();
  const std::string& agent_endpoint() const { return agent_endpoint_; }
  const std::string& log_endpoint() const { return log_endpoint_; }

  // Trains until a stop condition; writes the model file when one is configured. Setting
  // *reload_requested (SIGHUP) re-reads the allow-lists: agents whose key was removed are shut out.
  Result<RunSummary> Run(const std::atomic<bool>* stop_requested,
                         std::atomic<bool>* reload_requested = nullptr);

 private:
  enum class Phase { kWaiting, kGradient, kCurvature, kInner, kDone };
  enum class Role { kPending, kIdle, kGradient, kGradientDone, kCurvature, kCurvatureDone, kInner };
  struct Agent;

  void HandleMessage(const transport::Inbound& in);
  void HandleHello(const transport::Inbound& in, const wire::Header& h, const wire::HelloMsg& m);
  Status LoadAllowLists();
  void ReloadAllowLists();
  void HandleGradSum(Agent& a, const wire::GradSumMsg& g);
  void HandleUpdate(Agent& a, const wire::UpdateMsg& u, uint64_t seq);
  void HandleCurvature(Agent& a, const wire::CurvatureMsg& c);
  void Refuse(const std::string& who, const std::string& peer, const std::string& reason,
              const std::string& what);
  void Reject(const std::string& identity, const std::string& agent_id, wire::RejectReason reason,
              const std::string& text, uint16_t protocol = wire::kProtocolVersion);
  void SendTo(Agent& a, std::string_view bytes);
  wire::Header HeaderFor(Agent& a);
  void Welcome(Agent& a);
  void RemoveAgent(const std::string& identity, const std::string& why);

  // The distinct raw labels of all agents but `except_agent`, plus `extra`.
  std::vector<std::string> DistinctLabels(const std::string& except_agent,
                                          const std::vector<std::string>& extra) const;
  bool ReadyToStart(std::string* why) const;
  void Start();
  void StartEpoch();
  void FinishGradientPhase();
  void PublishEpoch(const SnapshotReport& report, const EpochDecision& d, double now);
  int64_t NewtonMaxSupport() const;
  void BeginCurvaturePhase(double now, int64_t working_set);
  // Every participant answered (or the phase timed out): solve and jump, or fall back to an inner
  // loop.
  void FinishCurvaturePhase();
  // InnerLoop(mu~, eta, m, b) to the epoch's participants.
  void BeginInnerPhase(double now);
  // The epoch's InnerLoop message, naming model version `version`.
  wire::InnerLoopMsg InnerLoopPlan(int64_t version) const;
  void EndEpoch();
  void Finish(const std::string& reason);
  // Finish with a failure: Run returns `status`, no model is written.
  void Fail(const Status& status);
  // After Finish: waits (briefly) for every agent's Bye, repeating Stop to those still talking.
  void SeeAgentsOff();
  uint64_t OptionsFingerprint() const;
  void SaveCheckpoint();
  void OnTimers(double now);
  double NextDeadline(double now) const;
  void PrintLine(const std::string& line) const;

  CoordinatorOptions options_;
  zmq::context_t* context_;
  const Clock* clock_;
  transport::RouterChannel router_;
  LogStream log_;
  std::unique_ptr<transport::ZapHandler> zap_;
  transport::AllowList agent_keys_;
  transport::AllowList log_keys_;
  std::string agent_endpoint_, log_endpoint_;
  wire::Encoder encoder_;
  wire::Decoder decoder_;
  std::optional<UpdateAnswerer> answerer_;  // from Start (sized to the model)

  Phase phase_ = Phase::kWaiting;
  std::unique_ptr<CoordinatorState> state_;
  std::optional<LabelMap> labels_;
  int32_t dimension_ = 0;
  std::map<std::string, std::unique_ptr<Agent>> agents_;  // by connection identity
  std::map<std::string, std::string> identity_of_;        // agent id -> connection identity
  uint64_t next_session_ = 1;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::optional<Checkpoint> resume_;  // loaded in Bind, applied in Start
  double next_checkpoint_ = 0;

  double start_time_ = 0;
  double phase_deadline_ = 0;  // gradient timeout or stall timeout
  double next_heartbeat_check_ = 0;
  double inner_start_ = 0;
  static constexpr double kFinalEvaluation = 5;  // seconds for the last gradient phase
  StepPlan plan_;
  std::vector<Smoothness> epoch_smoothness_;
  SnapshotReport last_report_;
  std::unique_ptr<EpochPolicy> policy_;
  Status failure_;
  double last_update_time_ = 0;
  double last_rate_ = 0;                            // updates/s of the last inner phase
  static constexpr double kProgressInterval = 0.5;  // seconds between "progress" events
  double next_progress_ = 0;

  // Counters.
  int64_t refused_messages_ = 0;
  std::map<std::string, int64_t> refused_by_reason_;  // since start
  std::map<std::string, int64_t> refused_by_sender_;  // agent id, or peer address when unknown
  int64_t duplicates_ = 0;  // messages seen twice (sequence number), never applied twice
  int64_t repeats_ =
      0;  // EpochBegin/InnerLoop/CurvatureRequest repeated to agents that stayed silent
  std::map<std::string, int64_t> epoch_refused_;  // this epoch
  int64_t updates_refused_ = 0;
  int agents_joined_ = 0;
  int64_t epoch_bytes_in_ = 0, epoch_bytes_out_ = 0;
  int64_t bytes_in_mark_ = 0, bytes_out_mark_ = 0;
  int64_t guarded_refused_mark_ = 0, guarded_clipped_mark_ = 0;
  int64_t max_staleness_ = 0;  // options_.max_staleness, or 0 with a box (see the constructor)

  // The Newton phase (the sums are in state_).
  bool curvature_declined_ = false;
  double curvature_start_ = 0;

  RunSummary summary_;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_COORDINATOR_H_
