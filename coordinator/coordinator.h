// Coordinator: the edgetrain-coordinator process around its Driver -- the event loop. It binds
// the agents' ROUTER socket (CURVE with the allow-list's ZAP handler, or plain text) and the log
// stream, loads a checkpoint to resume from, and then only receives, hands each message to the
// Driver, runs the Driver's timers, re-reads the allow-lists on request and stops on request.
// The Driver (driver.h) holds all the logic; JsonEventSink and ConsoleSink render its events.
//
// Thread-safety: Run() owns the object; the stop and reload flags may be set from another thread
// or a signal handler. Ownership: borrows the ZeroMQ context and the clock.
#ifndef EDGETRAIN_COORDINATOR_COORDINATOR_H_
#define EDGETRAIN_COORDINATOR_COORDINATOR_H_

#include <atomic>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "burst_limit.h"
#include "console_sink.h"
#include "driver.h"
#include "edgetrain/checkpoint.h"
#include "edgetrain/clock.h"
#include "edgetrain/transport/channel.h"
#include "edgetrain/transport/curve.h"
#include "events.h"
#include "json_sink.h"
#include "log_stream.h"
#include "options.h"

namespace edgetrain::coordinator {

class Coordinator {
 public:
  Coordinator(const CoordinatorOptions& options, zmq::context_t* context, const Clock* clock);
  ~Coordinator();

  // Binds both sockets (and writes --endpoints-file), loads the checkpoint to resume from.
  // REQUIRES: called once, before Run.
  Status Bind();
  const std::string& agent_endpoint() const { return agent_endpoint_; }
  const std::string& log_endpoint() const { return log_endpoint_; }
  const std::string& run_id() const { return run_id_; }

  // Trains until a stop condition; writes the model file when one is configured. Setting
  // *reload_requested (SIGHUP) re-reads the allow-lists: agents whose key was removed are shut out.
  // Setting *trigger_requested (SIGUSR1, 'edgetrain-coordinator trigger') starts the next round
  // when idle between rounds.
  Result<RunSummary> Run(const std::atomic<bool>* stop_requested,
                         std::atomic<bool>* reload_requested = nullptr,
                         std::atomic<bool>* trigger_requested = nullptr);

 private:
  class RouterOutbox;
  class StreamWriter;

  Status LoadAllowLists();
  void ReloadAllowLists();
  Status SetUpSecurity(transport::CurveConfig* log_curve);
  Result<std::optional<Checkpoint>> LoadResume();
  Status RestorePublished();
  void OnHandshakeFailure(const std::string& what);
  void OnKeyRefused(const KeyRefused& refused);
  void ReportHidden(double now);
  void ServiceLogStream();
  void Note(const std::string& text) { events_.Emit(coordinator::Note{text}); }

  CoordinatorOptions options_;
  zmq::context_t* context_;
  const Clock* clock_;
  std::string run_id_;
  transport::RouterChannel router_;
  LogStream log_;
  std::unique_ptr<transport::ZapHandler> zap_;
  transport::AllowList agent_keys_;
  transport::AllowList log_keys_;
  std::string agent_endpoint_, log_endpoint_;
  std::unique_ptr<RouterOutbox> outbox_;
  std::unique_ptr<StreamWriter> writer_;
  std::unique_ptr<JsonEventSink> json_;
  cli::LineSink console_out_;
  std::unique_ptr<ConsoleSink> console_;
  EventFanout events_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<Driver> driver_;
  // Handshake failures and refused keys are summarised: a few per window shown, the rest counted.
  BurstLimit handshake_limit_{1, 10.0};
  BurstLimit key_limit_{5, 10.0};
  BurstLimit rebind_limit_{1, 60.0};
  std::string last_handshake_;
  KeyRefused last_key_refused_;
  int64_t log_rebinds_ = 0;
  std::string pid_file_;  // written in --model-dir while running (RequestTrigger finds it)
};

// The pid file a running coordinator keeps in its model directory.
std::string PidFilePath(const std::string& model_dir);
// Sends `signal` to the coordinator running with `model_dir` (its pid file), after checking that
// the process is an edgetrain-coordinator. NotFound when none runs.
Status SignalCoordinator(const std::string& model_dir, int signal);

// A run id: 16 hex digits from the clock and the process (distinct across restarts and hosts).
std::string NewRunId(const Clock* clock);

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_COORDINATOR_H_
