// ZeroMQ channels: the coordinator's ROUTER (many agents) and an agent's DEALER (one coordinator).
//
// One wire message is one frame (the ROUTER adds ZeroMQ's identity frame in front). Receive
// waits up to a deadline; Send never blocks: a message that cannot be queued (peer gone, queue
// full) is reported, so the coordinator's event loop can never hang on a send. Every socket has
// ZMQ_MAXMSGSIZE set, so oversized messages are dropped by ZeroMQ before they are read; ZMQ_LINGER
// is 0, so closing never waits for the network — except for a bounded LingerOnClose() before the
// last messages of a run.
//
// Thread-safety: like ZeroMQ sockets, a channel belongs to one thread. Ownership: the context is
// borrowed and must outlive the channel.
#ifndef EDGETRAIN_TRANSPORT_CHANNEL_H_
#define EDGETRAIN_TRANSPORT_CHANNEL_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "edgetrain/status.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::transport {

// Fault injection on this channel's sends (testing the protocol's recovery; off by default):
// each message is dropped, sent twice, or held back for delay_seconds with the given
// probabilities, decided by a seeded generator so a run can be repeated.
struct FaultOptions {
  double drop = 0;
  double duplicate = 0;
  double delay = 0;
  double delay_seconds = 0.05;
  uint64_t seed = 1;
  // A plant's network on loopback (DEALER only): every message sent and every message received
  // is held this many seconds, so a round trip costs twice this more.
  double latency = 0;
  bool enabled() const { return drop > 0 || duplicate > 0 || delay > 0 || latency > 0; }
};

struct ChannelOptions {
  int64_t max_message_bytes = 256ll << 20;  // ZMQ_MAXMSGSIZE
  int send_queue = 10000;                   // ZMQ_SNDHWM, messages
  int receive_queue = 10000;                // ZMQ_RCVHWM, messages
  int reconnect_ms = 100;                   // DEALER: first reconnect interval...
  int reconnect_max_ms = 5000;              // ...doubling up to this
  CurveConfig curve;                        // authentication and encryption (none: plain text)
  FaultOptions faults;
};

// A message received on the ROUTER.
struct Inbound {
  std::string identity;  // the connection
  zmq::message_t payload;
  std::string peer_address;  // remote IP, when ZeroMQ knows it
  std::string user_id;       // the client's CURVE public key (Z85) when authenticated, else ""
};

// Traffic counters of one channel.
struct TrafficCounters {
  int64_t messages_in = 0, messages_out = 0;
  int64_t bytes_in = 0, bytes_out = 0;
  int64_t send_failures = 0;
  int64_t injected_drops = 0, injected_duplicates = 0, injected_delays = 0;
};

// Applies FaultOptions to outgoing messages; delayed ones (and, with a latency, all of them) wait
// in a queue ordered by due time. With a latency, received messages are held the same way.
class FaultInjector {
 public:
  explicit FaultInjector(const FaultOptions& options);
  // How many copies of the message to send now (0, 1 or 2); held ones are queued instead.
  int Decide(const std::string& identity, std::string_view bytes, TrafficCounters* counters);
  // Hands out the held messages whose time has come, in due order.
  template <typename F>
  void ForEachDue(F&& send) {
    const auto now = std::chrono::steady_clock::now();
    while (!outbound_.empty() && outbound_.front().due <= now) {
      send(outbound_.front().identity, outbound_.front().bytes);
      outbound_.pop_front();
    }
  }
  double latency() const { return options_.latency; }
  // Holds a received message for the latency.
  void Hold(zmq::message_t&& message);
  // The oldest held received message, once its time has come.
  bool TakeArrived(zmq::message_t* message);
  // Milliseconds until the next held message (either way) is due, at most `cap_ms` (-1: no cap;
  // returned as is when nothing is held).
  int MillisToNextDue(int cap_ms) const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Held {
    TimePoint due;
    std::string identity, bytes;
  };
  void Queue(TimePoint due, const std::string& identity, std::string_view bytes);
  FaultOptions options_;
  uint64_t state_;
  std::deque<Held> outbound_;
  std::deque<std::pair<TimePoint, zmq::message_t>> inbound_;
};

// The address ZeroMQ reports for a bound endpoint (with the port an ephemeral bind chose).
// InvalidArgument for an endpoint ZeroMQ cannot parse or does not support ("foo://bar",
// "tcp://host:x", an unknown interface), Unavailable when the address cannot be had now (in use,
// not ours).
Result<std::string> BindAndResolve(zmq::socket_t& socket, const std::string& endpoint);

// How one connection's handshake ended, as ZeroMQ reports it to a socket monitor. Measured with
// libzmq 4.3.4 against a CURVE coordinator (docs/security.md):
//   kSucceeded  ZMQ_EVENT_HANDSHAKE_SUCCEEDED.
//   kClosed     HANDSHAKE_FAILED_NO_DETAIL: the peer hung up during the handshake. A client with
//               the wrong server key sees this on every attempt (the server cannot open its HELLO
//               and closes; libzmq reconnects every 0.1-0.2 s), but a server that goes away
//               mid-handshake causes it once too: ambiguous.
//   kRefused    HANDSHAKE_FAILED_AUTH with ZAP status 400: the server refused this client's key
//               (not on its allow-list). libzmq does not reconnect.
//   kAuthError  HANDSHAKE_FAILED_AUTH with another status (300 temporary, 500 internal). libzmq
//               does not reconnect.
//   kProtocol   HANDSHAKE_FAILED_PROTOCOL: a mechanism mismatch (one side CURVE, the other plain
//               text: a plain client sees kClosed first, then this), a cryptographic or malformed
//               command. libzmq does not reconnect.
struct HandshakeEvent {
  enum class Kind { kSucceeded, kClosed, kRefused, kAuthError, kProtocol };
  Kind kind = Kind::kSucceeded;
  std::string detail;  // for the user
};

class RouterChannel {
 public:
  RouterChannel(zmq::context_t* context, const ChannelOptions& options);
  ~RouterChannel();

  // Binds, e.g. "tcp://*:5555" or "tcp://127.0.0.1:0" (ephemeral); returns the resolved endpoint.
  Result<std::string> Bind(const std::string& endpoint);

  // Serves ZeroMQ authentication requests from this channel's Receive (CURVE servers need it).
  void AttachZap(ZapHandler* zap) { zap_ = zap; }
  // Called with a description when a connection fails its handshake (wrong or missing keys).
  void OnHandshakeFailure(std::function<void(const std::string&)> callback);

  // Waits up to timeout_ms (0: poll, -1: forever) for one message. Returns false on timeout (or
  // when only an authentication request was served).
  bool Receive(int timeout_ms, Inbound* in);
  // Queues a message for a connection; false when the peer is gone or its queue is full.
  bool Send(const std::string& identity, std::string_view bytes);

  const TrafficCounters& counters() const { return counters_; }
  zmq::socket_t& socket() { return socket_; }
  // Lets messages still queued (the last Stop, a Bye) go out for up to `ms` when the socket closes.
  void LingerOnClose(int ms) { socket_.set(zmq::sockopt::linger, ms); }

 private:
  class Monitor;

  bool SendNow(const std::string& identity, std::string_view bytes);
  // The rest of a message whose identity frame is in identity_msg_.
  bool ReadPayload(Inbound* in);

  static constexpr int kPollEvery = 64;
  zmq::socket_t socket_;
  zmq::message_t identity_msg_;
  int receives_since_poll_ = 0;
  TrafficCounters counters_;
  std::unique_ptr<FaultInjector> faults_;
  ZapHandler* zap_ = nullptr;
  std::unique_ptr<Monitor> monitor_;
};

class DealerChannel {
 public:
  DealerChannel(zmq::context_t* context, const ChannelOptions& options);
  ~DealerChannel();

  // InvalidArgument (naming the endpoint) when ZeroMQ cannot parse it or does not support it;
  // an unreachable or unresolvable host is not an error here (ZeroMQ keeps trying).
  Status Connect(const std::string& endpoint);
  // Closes the socket and opens a fresh one to the same endpoint (drops anything queued).
  void Reconnect();

  bool Receive(int timeout_ms, zmq::message_t* payload);
  bool Send(std::string_view bytes);
  void LingerOnClose(int ms) { socket_.set(zmq::sockopt::linger, ms); }
  // The handshakes that ended since the previous call, in order (none: empty, no allocation): a
  // failed CURVE handshake is otherwise silent (ZeroMQ just retries, or gives up).
  std::vector<HandshakeEvent> TakeHandshakeEvents();

  const TrafficCounters& counters() const { return counters_; }

 private:
  class Monitor;
  void Open();
  bool SendNow(std::string_view bytes);
  bool Arrived(const zmq::message_t& payload);  // counts it; true

  zmq::context_t* context_;
  ChannelOptions options_;
  std::string endpoint_;
  zmq::socket_t socket_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<FaultInjector> faults_;
  TrafficCounters counters_;
};

}  // namespace edgetrain::transport

#endif  // EDGETRAIN_TRANSPORT_CHANNEL_H_
