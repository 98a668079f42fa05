// EdgeAgent: the device side of DAP-SVRG over ZeroMQ -- the event loop around an AgentSession
// (agent_session.h: the protocol and the pipelined inner loop, socket-free).
//
// Connects (outbound only) to the coordinator's ROUTER, says Hello and retries with backoff until
// welcomed, then hands every message to the session and gives it the CPU for inner steps between
// polls of the socket (it computes while its Updates travel). Heartbeats both ways; a coordinator
// silent for heartbeat * patience is treated as gone: the agent reconnects and says Hello again.
// Stops on the coordinator's Stop, or when asked to (then it says Bye).
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
// Rounds: between training rounds the agent stays connected; it re-reads its data (AgentData: a
// DataSource over a growing file or a rotated directory) every heartbeat and reports the rows, at
// a RoundBegin it re-reads once more and says Hello with them, and it saves every model a
// RoundEnd brings into --model-dir (model_dir.h: atomic, `latest` re-pointed), where
// `edgetrain-agent score --model DIR` picks it up.
//
// Thread-safety: Run() owns the object; stop_requested may be set from another thread or a
// signal handler. Ownership: owns its data; borrows the ZeroMQ context and the clock.
#ifndef EDGETRAIN_EDGE_AGENT_AGENT_H_
#define EDGETRAIN_EDGE_AGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "agent_session.h"
#include "edgetrain/cli/log.h"
#include "edgetrain/clock.h"
#include "edgetrain/data_source.h"
#include "edgetrain/dataset.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/readers.h"
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
  double throttle = 1;  // >= 1: run this many times slower (pausing after each burst of steps),
                        // leaving CPU to the device's other work
  // The protocol version written in Hello: kProtocolVersion (tests set another one to play an
  // agent of another version).
  uint16_t protocol_version = wire::kProtocolVersion;
  // The inner loop's pipeline (0: chosen from the measured round trip and step cost).
  int64_t steps_per_update = 0;
  int max_in_flight = 0;
  bool journal = false;  // stdout is the journal's stream: lines carry "<N>" priorities (cli/log.h)
  // A coordinator's model wider than this is refused before anything is allocated (--max-dim).
  int32_t max_dimension = kDefaultMaxDimension;
  int8_t scale_request = -1;  // run --scale: the ScalerKind asked for; -1: none asked
  transport::ChannelOptions channel;
  std::string model_dir;  // published models are saved here (empty: not saved)
  int keep_models = 10;   // model files kept in model_dir (0: all)
};

// The agent's rows: a DataSource re-read at every round (a growing file, a rotated directory),
// or rows read once (stdin, or data whose missing cells are filled with column means); with
// shards > 1 only shard `shard` (0-based) of them, cut again after each re-read.
class AgentData {
 public:
  AgentData(std::string path, ReadOptions options, int shard = 0, int shards = 1);
  explicit AgentData(Dataset fixed);
  // Reads what is new (nothing for rows read once). On error the rows held stay.
  Result<RefreshReport> Refresh();
  Dataset* data() {
    return shards_ > 1 ? &shard_data_ : source_ ? &source_->mutable_data() : &fixed_;
  }

 private:
  std::unique_ptr<DataSource> source_;
  Dataset fixed_, shard_data_;
  int shard_ = 0, shards_ = 1;
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
  int64_t steps = 0;           // inner steps taken
  double final_objective = 0;
  double srtt = 0;               // the smoothed round trip of Updates at the end (seconds)
  int64_t steps_per_update = 0;  // the pipeline at the end
  int depth = 0;
};

class EdgeAgent {
 public:
  // REQUIRES: data.rows() > 0; classification data read with ReadOptions::defer_label_map.
  // REQUIRES: data was refreshed once and holds rows.
  EdgeAgent(const AgentOptions& options, AgentData data, zmq::context_t* context,
            const Clock* clock);
  ~EdgeAgent();

  // Returns InvalidArgument for an error no retry can fix (see the top); after a Welcome it says
  // Bye first.
  Result<AgentSummary> Run(const std::atomic<bool>* stop_requested);

  // The fingerprint sent in Hello (rows, targets and options).
  uint64_t data_fingerprint() const { return session_->data_fingerprint(); }

 private:
  class ChannelLink;
  // A line that may repeat: printed the first time, then counted and summarised once a period.
  struct RepeatedLine {
    double next = 0;  // when the next summary is due (0: nothing printed yet)
    int64_t count = 0;
    std::string last;
  };

  // The handshake events since the last call: an error when one says no retry can fix it.
  Status CheckHandshakes(double now);
  void Repeated(RepeatedLine* line, const std::string& text, double now);
  void Log(const std::string& line, cli::Priority priority = cli::Priority::kInfo) const;
  void PrintSessionLog();
  AgentSummary Summary() const;
  // Rounds: the data re-read (between rounds, and at a RoundBegin); a received model saved.
  void RefreshData();
  void SaveModel(const ReceivedModel& m);

  AgentOptions options_;
  AgentData data_;
  double next_refresh_ = 0;
  const Clock* clock_;
  transport::DealerChannel channel_;
  std::unique_ptr<ChannelLink> link_;
  std::unique_ptr<AgentSession> session_;
  double next_hello_ = 0, hello_backoff_ = 0;
  int handshake_failures_ = 0;  // in a row, none succeeded since
  double handshake_failing_since_ = 0;
  bool reconnect_before_hello_ = false;  // libzmq gave up on the connection (ZAP error)
  RepeatedLine handshake_line_;
  std::string stop_reason_;
};

}  // namespace edgetrain::agent

#endif  // EDGETRAIN_EDGE_AGENT_AGENT_H_
