// LogStream: where the coordinator's event lines go -- a ZeroMQ PUB socket, as two frames (topic,
// JSON line), and optionally a file or stdout, one line each. Topics and fields:
// docs/log-stream.md; the lines are rendered by JsonEventSink.
//
// Publishing never blocks (a slow subscriber loses messages beyond the PUB queue, as PUB does).
// Thread-safety: one thread. Ownership: borrows the context.
#ifndef EDGETRAIN_COORDINATOR_LOG_STREAM_H_
#define EDGETRAIN_COORDINATOR_LOG_STREAM_H_

#include <cstdio>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "edgetrain/status.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::coordinator {

class LogStream {
 public:
  explicit LogStream(zmq::context_t* context);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Binds the PUB socket (empty endpoint: no socket); returns the resolved endpoint. With a
  // CURVE server config subscribers must authenticate (the ZapHandler's "log" domain).
  Result<std::string> Bind(const std::string& endpoint, const transport::CurveConfig& curve);
  // Also writes every line to `path` ("-" = stdout), which is truncated first: one file, one run.
  Status OpenFile(const std::string& path);

  void Write(std::string_view topic, std::string_view line);

 private:
  zmq::socket_t socket_;
  bool bound_ = false;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_LOG_STREAM_H_
