// LogStream: where the coordinator's event lines go -- a ZeroMQ XPUB socket, as two frames (topic,
// JSON line), and optionally a file or stdout, one line each. Topics and fields:
// docs/log-stream.md; the lines are rendered by JsonEventSink.
//
// The socket runs in XPUB manual mode so that subscribers cannot make the coordinator hold
// whatever they send (docs/security.md, "Threat model"):
//   - only subscriptions that are a prefix of a topic ("", "r", "run", "status", ...) are applied;
//     others are counted and ignored, and a subscription longer than the longest topic makes
//     ZeroMQ drop the connection (ZMQ_MAXMSGSIZE);
//   - libzmq still remembers every subscription a connection sent until it leaves, so after
//     kMaxIgnored ignored subscriptions the socket is closed and bound again at the same endpoint
//     (every subscriber reconnects by itself; the memory is released);
//   - Rebind() does the same on demand: after SIGHUP removed a subscriber key, the subscribers
//     authenticate again and the removed key is refused.
// Late subscribers get the state at once (the ZeroMQ guide's last-value cache): a new
// subscription is answered with the latest `status` line and, for the `run` topic, the latest
// `run_started` line, both marked "replay": true (subscribers already connected to the topic get
// the copy too; a replay repeats a line, it never reports something new).
//
// Publishing never blocks (a slow subscriber loses messages beyond the queue, as PUB does).
// Thread-safety: one thread. Ownership: borrows the context.
#ifndef EDGETRAIN_COORDINATOR_LOG_STREAM_H_
#define EDGETRAIN_COORDINATOR_LOG_STREAM_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "edgetrain/status.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::coordinator {

class LogStream {
 public:
  // Ignored subscriptions tolerated before the socket is bound anew.
  static constexpr int64_t kMaxIgnored = 4096;

  explicit LogStream(zmq::context_t* context);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Binds the XPUB socket (empty endpoint: no socket); returns the resolved endpoint. With a
  // CURVE server config subscribers must authenticate (the ZapHandler's "log" domain).
  Result<std::string> Bind(const std::string& endpoint, const transport::CurveConfig& curve);
  // Also writes every line to `path` ("-" = stdout), which is truncated first: one file, one run.
  Status OpenFile(const std::string& path);

  void Write(std::string_view topic, std::string_view line);

  // Reads the subscription requests that arrived (never blocks): applies the valid ones, answers
  // new subscribers from the cache, counts the rest, and binds anew past kMaxIgnored. Returns
  // false if a needed rebind failed (the stream is then closed; the error is in last_error()).
  bool Service();
  // Closes the socket and binds a new one at the same endpoint (above).
  Status Rebind();

  int64_t ignored_subscriptions() const { return ignored_total_; }
  int64_t rebinds() const { return rebinds_; }

 private:
  Status Open();
  void Send(std::string_view topic, std::string_view line);
  void Replay(std::string_view subscription);

  zmq::context_t* context_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::string endpoint_;  // resolved: a rebind keeps the port
  transport::CurveConfig curve_;
  int64_t ignored_ = 0, ignored_total_ = 0, rebinds_ = 0;
  std::string last_status_, last_run_started_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
};

// True if `subscription` is a prefix of one of the stream's topics (run, epoch, agent, status).
bool IsTopicPrefix(std::string_view subscription);

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_LOG_STREAM_H_
