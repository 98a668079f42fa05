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
// Stop, on a fatal Reject (another protocol version, a task/labels/dimension conflict), on a
// Welcome or an InnerLoop it cannot work with (a mini-batch larger than its rows), or when asked
// to (then it says Bye). Messages that fail the decoder's checks are refused and counted.
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
  transport::ChannelOptions channel;
};

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

  // Returns an error for a fatal refusal (protocol version, task, labels or dimension conflict).
  Result<AgentSummary> Run(const std::atomic<bool>* stop_requested);

  // The fingerprint sent in Hello (rows, targets and options).
  uint64_t data_fingerprint() const { return fingerprint_; }

 private:
  enum class State { kHello, kIdle, kWaitPlan, kInner, kDone };

  void Send(std::string_view bytes);
  wire::Header NextHeader() { return {options_.agent_id, session_, ++seq_out_}; }
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
  std::string last_handshake_error_;

  ProblemSpec spec_;
  std::unique_ptr<SvrgWorker> worker_;
  ModelReplica model_;
  int64_t version_ = 0;
  int64_t epoch_ = 0;
  std::vector<double> grad_;
  std::vector<double> mu_;
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
