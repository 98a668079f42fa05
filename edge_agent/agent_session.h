// AgentSession: the device side of DAP-SVRG, socket-free -- the protocol state machine and the
// pipelined inner loop. The EdgeAgent (agent.h) runs it over a ZeroMQ DEALER socket; tests run it
// against a coordinator's Driver through in-memory queues with a manual clock.
//
// Per epoch: the gradient sum at the snapshot x~ (EpochBegin -> GradSum, with the duality
// certificate's sums); a CurvatureRequest is answered with the Hessian block of the shard's rows
// on its support (a Curvature; repeated unchanged when the request is); an InnerLoop starts the
// inner loop, which never waits on the network (docs/algorithm.md, "Agents that never wait"):
// the session steps on its copy of the model, applies its own steps at once, sums them into the
// next Update, keeps several Updates in flight and merges the answers (PipelineReplica,
// update_answer.h) as they come. How many steps go into one Update and how many Updates are in
// flight follow from the measured round trip and step cost (Pipeline below), so the agent keeps
// computing while its Updates travel, and adapts when the network or the load changes. An Update
// unanswered for the retransmission timeout (srtt + 4 rttvar, RFC 6298, doubled on each repeat)
// is repeated unchanged; the coordinator never applies it twice and answers a repeat with the
// whole model.
//
// Rounds (docs/protocol.md): a RoundEnd (the round ended, or the agent was admitted between
// rounds) puts the session in kBetween: it keeps its session, heartbeats with its row count and
// the round of the newest model it saved, and hands the model the RoundEnd carried to its owner
// (TakeModel; the owner saves it and calls ModelSaved). A RoundBegin puts it in kRefresh: the
// owner re-reads the data and calls Rehello, which says Hello with the rows it holds now.
//
// Thread-safety: none; one owner. Ownership: borrows the data (which it widens and labels on
// Welcome), the clock and the link.
#ifndef EDGETRAIN_EDGE_AGENT_AGENT_SESSION_H_
#define EDGETRAIN_EDGE_AGENT_AGENT_SESSION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/clock.h"
#include "edgetrain/dataset.h"
#include "edgetrain/duality.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/svrg_worker.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"

namespace edgetrain::agent {

// Where the session's messages go.
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  // Queues one message to the coordinator; false when it could not be queued.
  virtual bool Send(std::string_view bytes) = 0;
};

struct SessionOptions {
  std::string agent_id;
  SvrgWorker::Sampling sampling = SvrgWorker::Sampling::kAuto;
  uint16_t protocol_version = wire::kProtocolVersion;
  // The pipeline (0: chosen from the measured round trip and step cost, the default).
  int64_t steps_per_update = 0;
  int max_in_flight = 0;
  std::string software_version;                  // sent in Hello
  int32_t max_dimension = kDefaultMaxDimension;  // a wider Welcome is refused (one bad Hello on the
                                                 // coordinator must not take the fleet's memory)
  // run --scale: the scaler asked for (sent in Hello; the run's must be the same); -1: no request.
  int8_t scale_request = -1;
};

// How many steps go into one Update (k) and how many Updates may be in flight (depth), from the
// measured step cost and round trip: each Update holds at least kMinUpdateSeconds of compute and
// a quarter of the round trip, and depth * k steps cover 1.5 round trips, so the agent computes
// while its Updates travel and the coordinator sees a bounded message rate. Beyond
// kDepthForLatency Updates the Updates grow instead: fewer versions for the others' updates to be
// stale by (and the depth stays short when the round trip is long because the CPU is shared).
struct Pipeline {
  static constexpr double kMinUpdateSeconds = 50e-6;
  static constexpr int kDepthForLatency = 6;
  static constexpr int kMaxDepth = PipelineReplica::kMaxInFlight;
  int64_t steps = 1;  // k
  int depth = 2;
  // REQUIRES: step_seconds > 0. rtt 0: not measured yet. max_steps >= 1.
  static Pipeline Choose(double step_seconds, double rtt, int64_t max_steps);
};

struct SessionSummary {
  std::string stop_reason;  // "stop: <coordinator's reason>"
  int64_t epochs = 0;       // gradient sums sent
  int64_t updates_sent = 0;
  int64_t steps = 0;            // inner steps taken
  int64_t updates_applied = 0;  // as the coordinator's answers said
  int sessions = 0;             // Welcomes received
  int64_t messages_refused = 0;
  int64_t updates_resent = 0;        // an Update repeated because its answer did not come
  int64_t whole_answers = 0;         // answers that rebuilt the copy from the whole model
  int64_t answers_out_of_order = 0;  // answers that came ahead of a missing one (kept)
  int64_t answers_ignored = 0;       // answers already superseded
  double final_objective = 0;
  double srtt = 0;               // the smoothed round trip at the end
  int64_t steps_per_update = 0;  // the pipeline at the end
  int depth = 0;
  int64_t rounds = 0;  // RoundEnds heard
};

// A published model a RoundEnd brought: its round and the model file's bytes (not verified yet).
struct ReceivedModel {
  int64_t round = 0;
  std::string bytes;
};

class AgentSession {
 public:
  // kBetween: idle between training rounds; kRefresh: a round begins, the owner re-reads the
  // data and calls Rehello.
  enum class State : uint8_t { kHello, kIdle, kWaitPlan, kInner, kBetween, kRefresh, kDone };

  // REQUIRES: data->rows() > 0; classification data read with ReadOptions::defer_label_map.
  AgentSession(const SessionOptions& options, Dataset* data, const Clock* clock, AgentLink* link);
  ~AgentSession();

  // The id and labels as the wire carries them (UTF-8, within limits): an error no retry fixes.
  Status CheckHelloStrings() const;
  // (Re)starts a session: sends Hello. The caller decides when to repeat it.
  void SayHello();
  // One message from the coordinator. Errors: what no retry can fix (InvalidArgument).
  Status Receive(const void* data, size_t size);
  // Inner steps for up to `seconds` of compute, sending Updates as they fill. Returns whether
  // there is more to do at once (false: waiting for the network or between epochs).
  bool Work(double seconds);
  bool has_work() const;
  // Repeats an Update whose answer is overdue, sends a heartbeat when due.
  void Tick();
  // When Tick next has something to do.
  double NextDeadline() const;
  // Leaving: says Bye (when welcomed).
  void SayBye(std::string_view why);

  // Rounds. After the owner re-read the data (state kRefresh): measures it again and says Hello.
  void Rehello();
  // Before the owner re-reads the data: puts back the rows as read if a Welcome scaled them.
  void RestoreRaw();
  // The rows the data holds now, reported in heartbeats between rounds.
  void set_rows_available(int64_t rows) { rows_available_ = rows; }
  // The model the last RoundEnd carried, once (when it is newer than the one saved).
  std::optional<ReceivedModel> TakeModel();
  // The owner saved the model of `round`: the coordinator hears it at once (a heartbeat).
  void ModelSaved(int64_t round);
  int64_t round() const { return round_; }
  int64_t model_round() const { return model_round_; }

  State state() const { return state_; }
  bool welcomed() const { return session_ != 0; }
  double last_heard() const { return last_heard_; }
  double heartbeat() const { return heartbeat_; }
  const SessionSummary& summary() const { return summary_; }
  uint64_t data_fingerprint() const { return fingerprint_; }
  // Lines for the operator (the caller prints them): epoch starts, refusals.
  std::vector<std::string> TakeLog();

 private:
  std::vector<std::string> HelloLabels() const;
  void Send(std::string_view bytes);
  wire::Header NextHeader() { return {options_.agent_id, session_, ++seq_out_}; }
  Status OnReject(const wire::RejectMsg& r);
  Status OnWelcome(const wire::Header& h, const wire::WelcomeMsg& w);
  // The run's scaler and preconditioner (Welcome) applied to the shard, unless already applied;
  // sets spec_.scales. Errors: a scaler other than the one asked for, scales that are not powers
  // of two.
  Status ApplyTransform(const wire::WelcomeMsg& w);
  // The values as read back in the shard when a column-scales-only Welcome scaled them.
  void RestoreValues();
  void OnEpochBegin(const wire::EpochBeginMsg& e);
  void SendGradSum();
  Status OnInnerLoop(const wire::InnerLoopMsg& l);
  void SendCurvature(const wire::CurvatureRequestMsg& c);
  void OnModel(const wire::ModelMsg& m);
  void OnStop(const wire::StopMsg& s);
  void OnRoundEnd(const wire::Header& h, const wire::RoundEndMsg& m);
  void Measure();
  void SendHeartbeat();
  void Flush();
  void MeasureRoundTrip(double rtt);
  uint32_t RttMicros() const;
  // Whether this shard fits the run a Welcome offers (dimension, problem, labels).
  Status CheckWelcome(const wire::WelcomeMsg& w);  // for the coordinator's health view
  double RetransmitTimeout() const;
  void Log(std::string line) { log_.push_back(std::move(line)); }

  SessionOptions options_;
  Dataset* data_;
  const Clock* clock_;
  AgentLink* link_;
  wire::Encoder encoder_;
  wire::Decoder decoder_;
  uint64_t fingerprint_ = 0;
  double row_norm_sq_max_ = 0, row_norm_sq_mean_ = 0;
  ColumnStats column_stats_;  // of the shard as read (its own width): sent in every Hello
  // The shard as read, kept from the first Welcome that transforms it (a later session may bring
  // another transform), and what the shard holds now: the Welcome's scaler and scales, flattened
  // (empty: as read).
  std::unique_ptr<Dataset> raw_;
  std::vector<double> applied_;
  // Column scales alone (no scaler, nothing centred) change only the values: the values as read
  // are swapped in here while the shard holds scaled ones (values_scaled_), and back for a re-read;
  // the other buffer is kept, so a round's Welcome costs one pass and no copy of the rows.
  std::vector<double> raw_values_;
  bool values_scaled_ = false;

  State state_ = State::kHello;
  uint64_t session_ = 0, seq_out_ = 0, seq_in_ = 0;
  double heartbeat_ = 1;
  double last_heard_ = 0, last_sent_ = 0;

  ProblemSpec spec_;
  std::unique_ptr<SvrgWorker> worker_;
  PipelineReplica replica_;
  int64_t epoch_ = 0;
  int64_t inner_steps_ = 0;   // the epoch's m (all agents together)
  int32_t participants_ = 1;  // agents in the inner phase
  std::vector<double> grad_, mu_;
  DualSums dual_;
  ModelUpdate step_, outgoing_;
  // The pipeline and what it is chosen from.
  Pipeline pipeline_;
  double step_seconds_ = 0;       // EWMA of one inner step's compute
  double srtt_ = 0, rttvar_ = 0;  // smoothed Update -> answer round trip (RFC 6298)
  double backoff_ = 1;            // doubles with each repeat, back to 1 after a clean answer
  int64_t curvature_epoch_ = -1;  // the epoch whose Curvature last_curvature_ holds
  std::string last_curvature_;
  std::vector<int32_t> pos_;  // p entries of scratch for the Hessian block, all -1 at rest
  std::vector<std::string> log_;
  SessionSummary summary_;
  // Rounds.
  int64_t round_ = 0;           // the round begun or ended last
  int64_t rows_available_ = 0;  // reported between rounds
  int64_t model_round_ = 0;     // the newest model saved
  std::optional<ReceivedModel> received_;
  std::vector<double> top_vector_;  // the smoothness estimate's power iteration, kept for the next
};

}  // namespace edgetrain::agent

#endif  // EDGETRAIN_EDGE_AGENT_AGENT_SESSION_H_
