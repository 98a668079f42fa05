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

#include <cstdint>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "edgetrain/status.h"

namespace edgetrain::transport {

struct ChannelOptions {
  int64_t max_message_bytes = 256ll << 20;  // ZMQ_MAXMSGSIZE
  int send_queue = 10000;                   // ZMQ_SNDHWM, messages
  int receive_queue = 10000;                // ZMQ_RCVHWM, messages
  int reconnect_ms = 100;                   // DEALER: first reconnect interval...
  int reconnect_max_ms = 5000;              // ...doubling up to this
};

// Traffic counters of one channel.
struct TrafficCounters {
  int64_t messages_in = 0, messages_out = 0;
  int64_t bytes_in = 0, bytes_out = 0;
  int64_t send_failures = 0;
};

// The address ZeroMQ reports for a bound endpoint (with the port an ephemeral bind chose).
Result<std::string> BindAndResolve(zmq::socket_t& socket, const std::string& endpoint);

class RouterChannel {
 public:
  RouterChannel(zmq::context_t* context, const ChannelOptions& options);

  // Binds, e.g. "tcp://*:5555" or "tcp://127.0.0.1:0" (ephemeral); returns the resolved endpoint.
  Result<std::string> Bind(const std::string& endpoint);

  // Waits up to timeout_ms (0: poll, -1: forever) for one message. Returns false on timeout.
  // The identity names the connection; peer_address is the remote IP when ZeroMQ knows it.
  bool Receive(int timeout_ms, std::string* identity, zmq::message_t* payload, std::string* peer_address);
  // Queues a message for a connection; false when the peer is gone or its queue is full.
  bool Send(const std::string& identity, std::string_view bytes);

  const TrafficCounters& counters() const { return counters_; }
  zmq::socket_t& socket() { return socket_; }
  // Lets messages still queued (the last Stop, a Bye) go out for up to `ms` when the socket closes.
  void LingerOnClose(int ms) { socket_.set(zmq::sockopt::linger, ms); }

 private:
  zmq::socket_t socket_;
  zmq::message_t identity_msg_;
  TrafficCounters counters_;
};

class DealerChannel {
 public:
  DealerChannel(zmq::context_t* context, const ChannelOptions& options);

  void Connect(const std::string& endpoint);
  // Closes the socket and opens a fresh one to the same endpoint (drops anything queued).
  void Reconnect();

  bool Receive(int timeout_ms, zmq::message_t* payload);
  bool Send(std::string_view bytes);
  void LingerOnClose(int ms) { socket_.set(zmq::sockopt::linger, ms); }

  const TrafficCounters& counters() const { return counters_; }

 private:
  void Open();

  zmq::context_t* context_;
  ChannelOptions options_;
  std::string endpoint_;
  zmq::socket_t socket_;
  TrafficCounters counters_;
};

}  // namespace edgetrain::transport

#endif  // EDGETRAIN_TRANSPORT_CHANNEL_H_
