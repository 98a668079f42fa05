// HttpServer: the small HTTP/1.1 server behind edgetrain-monitor --http (docs/operations.md). It
// serves GET and HEAD of a few fixed paths to browsers and Prometheus, from the monitor's own
// event loop: non-blocking sockets, no threads, so handlers read the monitor's state directly.
//
// Built for clients that may be hostile: a request head is at most max_request_bytes (431
// beyond), must arrive within request_timeout and the response must be taken within
// response_timeout (else the connection is closed), at most max_connections are open at once (more
// wait in the kernel's backlog), every response closes its connection, and writes never raise
// SIGPIPE. Only GET and HEAD are served (405 otherwise); request bodies are ignored. When bound
// to a loopback address, a request whose Host header names anything but a loopback address or
// "localhost" is refused (421): a web page elsewhere cannot read the monitor through DNS
// rebinding.
//
// Usage: Listen, then in the event loop add Interests() to the poll set and call Service() after
// every poll (it does whatever is ready, without blocking).
//
// Thread-safety: one thread. Ownership: owns its sockets; closes them on destruction.
#ifndef EDGETRAIN_MONITOR_HTTP_SERVER_H_
#define EDGETRAIN_MONITOR_HTTP_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edgetrain/status.h"

namespace edgetrain::monitor {

struct HttpRequest {
  std::string method;  // GET or HEAD (others never reach the handler)
  std::string path;    // the target up to '?', e.g. "/state.json"
  std::string query;   // after '?', without it ("" when none)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  int max_connections = 32;
  size_t max_request_bytes = 8192;  // request line and headers
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds response_timeout{10000};
};

// An address to listen on, from "PORT", "HOST:PORT" or "[IPV6]:PORT" (HOST empty or absent:
// 127.0.0.1, loopback). PORT 0 picks a free port.
struct ListenAddress {
  std::string host;
  std::string port;
};
Result<ListenAddress> ParseListenAddress(const std::string& text);

class HttpServer {
 public:
  using Clock = std::chrono::steady_clock;

  // Binds and listens. InvalidArgument for an address that does not parse or resolve; IoError,
  // with the system's reason, when the socket cannot be bound (port in use, no permission).
  static Result<std::unique_ptr<HttpServer>> Listen(const std::string& address, HttpHandler handler,
                                                    HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "http://127.0.0.1:8080/" (the address and port bound, the port resolved when 0 was asked).
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  bool loopback() const { return loopback_; }

  // What the event loop should wait for: each socket, to read or to write.
  struct Interest {
    int fd;
    bool write;
  };
  std::vector<Interest> Interests() const;

  // Accepts, reads, answers and closes whatever is ready; never blocks.
  void Service(Clock::time_point now);

  // Connections open now (for tests).
  size_t connections() const { return connections_.size(); }

 private:
  struct Connection;
  HttpServer(int fd, HttpHandler handler, HttpServerOptions options);
  void Accept(Clock::time_point now);
  // Returns false when the connection is finished (to be closed).
  bool Step(Connection& c, Clock::time_point now);
  void Answer(Connection& c);
  void Respond(Connection& c, const std::string& method, const HttpResponse& response);
  bool HostAllowed(const std::string& host) const;

  int fd_;
  HttpHandler handler_;
  HttpServerOptions options_;
  std::string url_;
  int port_ = 0;
  bool loopback_ = false;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_HTTP_SERVER_H_
