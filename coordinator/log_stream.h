// LogStream: the coordinator's event log. Each event is one JSON object, published on a ZeroMQ
// PUB socket as two frames (topic, JSON) and optionally written as one line to a file or stdout.
// Topics and fields: docs/log-stream.md.
//
// Publishing never blocks (a slow subscriber loses messages beyond the PUB queue, as PUB does).
// Thread-safety: one thread. Ownership: borrows the context and the clock.
#ifndef EDGETRAIN_COORDINATOR_LOG_STREAM_H_
#define EDGETRAIN_COORDINATOR_LOG_STREAM_H_

#include <cstdio>
#include <string>
#include <zmq.hpp>

#include "edgetrain/clock.h"
#include "edgetrain/json.h"
#include "edgetrain/status.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::coordinator {

class LogStream {
 public:
  LogStream(zmq::context_t* context, const Clock* clock);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Binds the PUB socket (empty endpoint: no socket); returns the resolved endpoint. With a
  // CURVE server config subscribers must authenticate (the ZapHandler's "log" domain).
  Result<std::string> Bind(const std::string& endpoint, const transport::CurveConfig& curve);
  // Also writes every event as a line to `path` ("-" = stdout); appends to an existing file.
  Status OpenFile(const std::string& path);

  // Publishes {"event": event, "time": <unix seconds>, ...fields}.
  void Publish(const std::string& topic, const std::string& event, const JsonWriter& fields);

 private:
  const Clock* clock_;
  zmq::socket_t socket_;
  bool bound_ = false;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_LOG_STREAM_H_
