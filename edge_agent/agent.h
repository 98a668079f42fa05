// EdgeAgent: the device side of DAP-SVRG over ZeroMQ.
//
// Connects (outbound only) to the coordinator's ROUTER, says Hello and retries with backoff until
// welcomed; then, per epoch: computes its gradient sum at the snapshot x~ (EpochBegin -> GradSum),
// and in the inner phase (InnerLoop) sends one Update (Delta at its model x^) per Model it
// receives, adopting each model the coordinator returns (AdoptAnswer, update_answer.h). Lost
// messages are recovered: an Update without an answer for a heartbeat interval is repeated
// unchanged (the coordinator never applies it twice), and a repeated EpochBegin is answered by
// sending the gradient sum again. Heartbeats both ways; a coordinator silent for heartbeat *
// patience is treated as gone: the agent reconnects and says Hello again. A CurvatureRequest is
// answered with the Hessian block of the shard's rows on its support (a Curvature; repeated
// unchanged when the request is repeated), after which the agent waits for the next EpochBegin, or
// for an InnerLoop when the coordinator falls back to an inner loop. Stops on the coordinator's
// Stop, or when asked to (then it says Bye).
//
// Errors no retry can fix end Run with InvalidArgument (the program exits 2): an agent id or a
// class label the wire cannot carry (not UTF-8, too long); a malformed --coordinator endpoint; the
// coordinator's refusal (Reject: another protocol version, task, labels or dimension conflict, a
// duplicate id); its key refused by the coordinator (ZAP 400) or a CURVE/plain-text mismatch; a
// coordinator that keeps closing the connection during the CURVE handshake (the wrong --server-key:
// kHandshakeFailuresToGiveUp in a row over at least kHandshakeSecondsToGiveUp, since one such close
// alone is ambiguous); a Welcome or an InnerLoop this agent cannot work with (fewer features than
// its shard, labels that do not map, a mini-batch larger than its rows). Handshake failures that
// may pass are printed once and then counted once a minute. Messages that fail the decoder's checks
// are refused and counted, never acted on.
//
// Thread-safety: Run() owns the object; stop_requested may be set from another thread or a
// signal handler. Ownership: owns its shard; borrows the ZeroMQ context and the clock.
#ifndef EDGETRAIN_EDGE_AGENT_AGENT_H_
#define EDGETRAIN_EDGE_AGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "edgetrain/clock.h"
#include "edgetrain/dataset.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"
#include "edgetrain/transport/channel.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"

namespace edgetrain::agent {

struct AgentOptions {
  std::string coordinator = "tcp://127.0.0.1:5555";
  std::string agent_id;  // required: the device's name
  SvrgWorker::Sampling sampling = SvrgWorker::Sampling::kAuto;
  double hello_retry = 0.5;     // seconds before the first Hello is repeated...
  double hello_retry_max = 30;  // ...doubling up to this
  int heartbeat_patience = 10;  // coordinator heartbeats missed before reconnecting
  bool verbose = true;          // one line per epoch on stdout
  bool say_bye = true;          // send Bye when stopped (tests turn it off to simulate a crash)
  double throttle = 1;          // >= 1: run this many times slower (pausing after each step),
                                // leaving CPU to the device's other work
  // The protocol version written in Hello: kProtocolVersion (tests set another one to play an
  // agent of another version).
  uint16_t protocol_version = wire::kProtocolVersion;
  transport::ChannelOptions channel;
};

// A coordinator that hangs up during the handshake this many times in a row, over at least this
// many seconds, without one handshake succeeding, is taken to have another key than --server-key.
constexpr int kHandshakeFailuresToGiveUp = 5;
constexpr double kHandshakeSecondsToGiveUp = 2.0;
// Repeated handshake-failure lines: the first is printed, then a count every this many seconds.
constexpr double kRepeatedLinePeriod = 60.0;

struct AgentSummary {
  std::string stop_reason;  // "stop: <coordinator's reason>", "interrupted"
  int64_t epochs = 0;       // gradient sums sent
  int64_t updates_sent = 0;
  int64_t updates_applied = 0;  // as the coordinator's replies said
  int sessions = 0;             // Welcomes received
  int64_t messages_refused = 0;
  int64_t updates_resent = 0;  // an Update repeated because its answer did not come
  double final_objective = 0;
};

class EdgeAgent {
 public:
  // REQUIRES: data.rows() > 0; classification data read with ReadOptions::defer_label_map.
  EdgeAgent(const AgentOptions& options, Dataset data, zmq::context_t* context, const Clock* clock);
  ~EdgeAgent();

  // Returns InvalidArgument for an error no retry can fix (see the top); after a Welcome it says
  // Bye first.
  Result<AgentSummary> Run(const std::atomic<bool>* stop_requested);

  // The fingerprint sent in Hello (rows, targets and options).
  uint64_t data_fingerprint() const { return fingerprint_; }

 private:
  enum class State { kHello, kIdle, kWaitPlan, kInner, kDone };

  // A line that may repeat: printed the first time, then counted and summarised once a period.
  struct RepeatedLine {
    double next = 0;  // when the next summary is due (0: nothing printed yet)
    int64_t count = 0;
    std::string last;
  };

  void Send(std::string_view bytes);
  wire::Header NextHeader() { return {options_.agent_id, session_, ++seq_out_}; }
  // The raw class labels present in the shard (what Hello says).
  std::vector<std::string> HelloLabels() const;
  // The agent id and the labels as the wire carries them (UTF-8, within its limits).
  Status CheckHelloStrings() const;
  void SendHello();
  Status Handle(const zmq::message_t& payload);
  Status OnReject(const wire::RejectMsg& r);
  Status OnWelcome(const wire::Header& h, const wire::WelcomeMsg& w);
  void OnEpochBegin(const wire::EpochBeginMsg& e);
  Status OnInnerLoop(const wire::InnerLoopMsg& l);
  void SendCurvature(const wire::CurvatureRequestMsg& c);
  void OnModel(const wire::ModelMsg& x);
  void OnStop(const wire::StopMsg& s);
  void Step();
  void SendGradSum();
  // The handshake events since the last call: an error when one says no retry can fix it.
  Status CheckHandshakes(double now);
  void Repeated(RepeatedLine* line, const std::string& text, double now);
  void Log(const std::string& line) const;

  AgentOptions options_;
  Dataset data_;
  const Clock* clock_;
  transport::DealerChannel channel_;
  wire::Encoder encoder_;
  wire::Decoder decoder_;
  uint64_t fingerprint_ = 0;
  double row_norm_sq_max_ = 0, row_norm_sq_mean_ = 0;

  State state_ = State::kHello;
  uint64_t session_ = 0;
  uint64_t seq_out_ = 0;
  uint64_t seq_in_ = 0;
  double heartbeat_ = 1;
  double last_heard_ = 0, last_sent_ = 0;
  double next_hello_ = 0, hello_backoff_ = 0;
  int handshake_failures_ = 0;  // in a row, none succeeded since
  double handshake_failing_since_ = 0;
  bool reconnect_before_hello_ = false;  // libzmq gave up on the connection (ZAP error)
  RepeatedLine handshake_line_;

  ProblemSpec spec_;
  std::unique_ptr<SvrgWorker> worker_;
  ModelReplica model_;
  int64_t version_ = 0;
  int64_t epoch_ = 0;
  std::vector<double> grad_;
  std::vector<double> mu_;
  DualSums dual_;  // the certificate's sums of the last gradient pass (duality.h)
  ModelUpdate update_;
  bool awaiting_reply_ = false;  // an Update is out and its Model has not come back
  uint64_t update_seq_ = 0;      // its sequence number (incremental answers name it)
  double update_sent_at_ = 0;
  bool update_resent_ = false;    // Karn: a repeated Update's answer says nothing about the RTT
  double srtt_ = 0, rttvar_ = 0;  // smoothed Update->Model round trip and its deviation (RFC 6298)
  double ResendAfter() const;     // srtt + 4 rttvar, within [5 ms, heartbeat]
  double resend_timeout_ = 1;     // for the Update out now; doubles with each repeat
  double backoff_ = 1;            // kept across Updates until a clean round trip
  std::string last_update_;       // its bytes, to repeat it unchanged (same sequence number)
  int64_t curvature_epoch_ = -1;  // the epoch whose Curvature last_curvature_ holds
  std::string last_curvature_;    // repeated unchanged when the CurvatureRequest is
  std::vector<int32_t> pos_;      // p entries of scratch for the Hessian block, all -1 at rest
  AgentSummary summary_;
};

}  // namespace edgetrain::agent

#endif  // EDGETRAIN_EDGE_AGENT_AGENT_H_
