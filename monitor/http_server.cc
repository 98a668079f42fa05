#include "http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "edgetrain/text.h"

namespace edgetrain::monitor {

namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool IsLoopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

struct HttpServer::Connection {
  enum class Stage { kReading, kWriting, kDraining };
  int fd = -1;
  Stage stage = Stage::kReading;
  Clock::time_point deadline;
  std::string in;
  std::string out;
  size_t sent = 0;
};

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  ListenAddress a;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Status::InvalidArgument("'" + text + "' is not [IPV6]:PORT");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const size_t colon = text.rfind(':'); colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (a.host.find(':') != std::string::npos)
      return Status::InvalidArgument("'" + text + "': write an IPv6 address as [ADDRESS]:PORT");
  } else {
    port = text;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) > 65535) {
    return Status::InvalidArgument("'" + text + "': the port must be a number from 0 to 65535");
  }
  if (a.host.empty()) a.host = "127.0.0.1";
  a.port = port;
  return a;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(const std::string& address,
                                                       HttpHandler handler,
                                                       HttpServerOptions options) {
  Result<ListenAddress> parsed = ParseListenAddress(address);
  if (!parsed.ok()) return parsed.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(parsed->host.c_str(), parsed->port.c_str(), &hints, &found); rc != 0) {
    return Status::InvalidArgument("'" + address + "': " + ::gai_strerror(rc));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0 &&
        SetNonBlocking(fd)) {
      break;
    }
    error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return Status::IoError("cannot listen on " + address + ": " + error);

  std::unique_ptr<HttpServer> server(new HttpServer(fd, std::move(handler), options));
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0)
    return Status::IoError("cannot listen on " + address + ": " + std::strerror(errno));
  char host[INET6_ADDRSTRLEN] = "?";
  if (bound.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&bound);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    server->port_ = ntohs(v4->sin_port);
    server->url_ = StringPrintf("http://%s:%d/", host, server->port_);
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&bound);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    server->port_ = ntohs(v6->sin6_port);
    server->url_ = StringPrintf("http://[%s]:%d/", host, server->port_);
  }
  server->loopback_ = IsLoopback(bound);
  return server;
}

HttpServer::HttpServer(int fd, HttpHandler handler, HttpServerOptions options)
    : fd_(fd), handler_(std::move(handler)), options_(options) {}

HttpServer::~HttpServer() {
  for (const auto& c : connections_) ::close(c->fd);
  ::close(fd_);
}

std::vector<HttpServer::Interest> HttpServer::Interests() const {
  std::vector<Interest> interests;
  if (static_cast<int>(connections_.size()) < options_.max_connections)
    interests.push_back({fd_, false});
  for (const auto& c : connections_)
    interests.push_back({c->fd, c->stage == Connection::Stage::kWriting});
  return interests;
}

void HttpServer::Service(Clock::time_point now) {
  Accept(now);
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (Step(**it, now)) {
      ++it;
    } else {
      ::close((*it)->fd);
      it = connections_.erase(it);
    }
  }
}

void HttpServer::Accept(Clock::time_point now) {
  while (static_cast<int>(connections_.size()) < options_.max_connections) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: nobody waiting (or an error the next poll retries)
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->deadline = now + options_.request_timeout;
    connections_.push_back(std::move(c));
  }
}

bool HttpServer::Step(Connection& c, Clock::time_point now) {
  char buffer[4096];
  if (c.stage == Connection::Stage::kReading) {
    for (;;) {
      const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        c.in.append(buffer, static_cast<size_t>(n));
        if (c.in.size() > options_.max_request_bytes) break;
        continue;
      }
      if (n == 0) return false;  // closed before a whole request: nothing to answer
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    const size_t end = c.in.find("\r\n\r\n");
    if (end != std::string::npos && end + 4 <= options_.max_request_bytes) {
      c.in.resize(end + 2);  // the request line and headers, each ending in CRLF
      Answer(c);
    } else if (c.in.size() > options_.max_request_bytes) {
      HttpResponse r;
      r.status = 431;
      r.body = "request head over " + std::to_string(options_.max_request_bytes) + " bytes\n";
      Respond(c, "GET", r);
    } else if (now >= c.deadline) {
      return false;  // no whole request in time (408 would invite the client to wait longer)
    } else {
      return true;
    }
    c.deadline = now + options_.response_timeout;
  }
  if (c.stage == Connection::Stage::kWriting) {
    while (c.sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return now < c.deadline;
      return false;
    }
    // All sent: end our side, then read until the client closes, so that unread input does not
    // turn the close into a reset that could cut the response short.
    ::shutdown(c.fd, SHUT_WR);
    c.stage = Connection::Stage::kDraining;
    c.deadline = std::min(c.deadline, now + std::chrono::milliseconds(1000));
  }
  // Draining.
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n > 0) continue;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return now < c.deadline;
    return false;
  }
}

void HttpServer::Answer(Connection& c) {
  // Request line: METHOD SP TARGET SP HTTP/1.x CRLF; then header fields.
  const size_t line_end = c.in.find("\r\n");
  const std::string line = c.in.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  HttpResponse bad;
  bad.status = 400;
  if (sp2 == std::string::npos || line.find(' ', sp2 + 1) != std::string::npos ||
      line.compare(sp2 + 1, 7, "HTTP/1.") != 0 || line.size() != sp2 + 9) {
    bad.body = "not an HTTP/1.x request line\n";
    return Respond(c, "GET", bad);
  }
  HttpRequest request;
  request.method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty() || target[0] != '/') {
    bad.body = "the request target must be a path\n";
    return Respond(c, "GET", bad);
  }
  const size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) request.query = target.substr(question + 1);

  std::string host;
  int hosts = 0;
  for (size_t pos = line_end + 2; pos < c.in.size();) {
    const size_t eol = c.in.find("\r\n", pos);
    const std::string field = c.in.substr(pos, eol - pos);
    pos = eol + 2;
    const size_t colon = field.find(':');
    if (colon == std::string::npos || colon == 0 || field[0] == ' ' || field[0] == '\t') {
      bad.body = "malformed header field\n";
      return Respond(c, request.method, bad);
    }
    if (Lower(field.substr(0, colon)) == "host") {
      host = Trim(field.substr(colon + 1));
      ++hosts;
    }
  }
  if (hosts > 1) {
    bad.body = "more than one Host header\n";
    return Respond(c, request.method, bad);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r;
    r.status = 405;
    r.headers.emplace_back("Allow", "GET, HEAD");
    r.body = "only GET and HEAD\n";
    return Respond(c, "GET", r);
  }
  if (loopback_ && hosts == 1 && !HostAllowed(host)) {
    HttpResponse r;
    r.status = 421;
    r.body =
        "this monitor listens on loopback and answers requests for localhost only; to serve "
        "other names, give --http an address to listen on (docs/operations.md)\n";
    return Respond(c, request.method, r);
  }
  HttpResponse response;
  try {
    response = handler_(request);
  } catch (const std::exception& e) {  // a handler bug must not end the monitor
    response = HttpResponse();
    response.status = 500;
    response.body = std::string("internal error: ") + e.what() + "\n";
  }
  Respond(c, request.method, response);
}

bool HttpServer::HostAllowed(const std::string& host_header) const {
  std::string host = Lower(host_header);
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    host = close == std::string::npos ? host : host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

void HttpServer::Respond(Connection& c, const std::string& method, const HttpResponse& r) {
  c.out = StringPrintf("HTTP/1.1 %d %s\r\n", r.status, Reason(r.status));
  c.out += "Content-Type: " + r.content_type + "\r\n";
  c.out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  c.out += "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : r.headers) c.out += name + ": " + value + "\r\n";
  c.out += "\r\n";
  if (method != "HEAD") c.out += r.body;
  c.sent = 0;
  c.in.clear();
  c.stage = Connection::Stage::kWriting;
}

}  // namespace edgetrain::monitor
