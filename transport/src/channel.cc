#include "edgetrain/transport/channel.h"

namespace edgetrain::transport {
namespace {

void CommonOptions(zmq::socket_t& s, const ChannelOptions& o) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
  s.set(zmq::sockopt::sndhwm, o.send_queue);
  s.set(zmq::sockopt::rcvhwm, o.receive_queue);
}

}  // namespace

Result<std::string> BindAndResolve(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot bind " + endpoint + ": " + e.what());
  }
}

RouterChannel::RouterChannel(zmq::context_t* context, const ChannelOptions& options)
    : socket_(*context, zmq::socket_type::router) {
  CommonOptions(socket_, options);
  socket_.set(zmq::sockopt::router_mandatory, 1);  // a send to a vanished agent fails, not vanishes
}

Result<std::string> RouterChannel::Bind(const std::string& endpoint) { return BindAndResolve(socket_, endpoint); }

bool RouterChannel::Receive(int timeout_ms, std::string* identity, zmq::message_t* payload,
                            std::string* peer_address) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 0) return false;
    if (!socket_.recv(identity_msg_, zmq::recv_flags::dontwait)) return false;
    identity->assign(static_cast<const char*>(identity_msg_.data()), identity_msg_.size());
    if (!socket_.recv(*payload, zmq::recv_flags::dontwait)) return false;
    // Drain any extra frames: our protocol has exactly one; a longer message is malformed and
    // is handed on with only its first frame (which then fails verification or is refused).
    while (payload->more()) {
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
      counters_.bytes_in += static_cast<int64_t>(extra.size());
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
  const char* address = payload->gets("Peer-Address");
  peer_address->assign(address != nullptr ? address : "");
  ++counters_.messages_in;
  counters_.bytes_in += static_cast<int64_t>(payload->size());
  return true;
}

bool RouterChannel::Send(const std::string& identity, std::string_view bytes) {
  try {
    if (!socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
        !socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
      ++counters_.send_failures;
      return false;
    }
  } catch (const zmq::error_t&) {  // EHOSTUNREACH: the connection is gone
    ++counters_.send_failures;
    return false;
  }
  ++counters_.messages_out;
  counters_.bytes_out += static_cast<int64_t>(bytes.size());
  return true;
}

DealerChannel::DealerChannel(zmq::context_t* context, const ChannelOptions& options)
    : context_(context), options_(options) {
  Open();
}

void DealerChannel::Open() {
  socket_ = zmq::socket_t(*context_, zmq::socket_type::dealer);
  CommonOptions(socket_, options_);
  socket_.set(zmq::sockopt::immediate, 1);  // queue only to a completed connection
  socket_.set(zmq::sockopt::reconnect_ivl, options_.reconnect_ms);
  socket_.set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_max_ms);
}

void DealerChannel::Connect(const std::string& endpoint) {
  endpoint_ = endpoint;
  socket_.connect(endpoint);
}

void DealerChannel::Reconnect() {
  socket_.close();
  Open();
  if (!endpoint_.empty()) socket_.connect(endpoint_);
}

bool DealerChannel::Receive(int timeout_ms, zmq::message_t* payload) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 0) return false;
    if (!socket_.recv(*payload, zmq::recv_flags::dontwait)) return false;
    while (payload->more()) {
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
  ++counters_.messages_in;
  counters_.bytes_in += static_cast<int64_t>(payload->size());
  return true;
}

bool DealerChannel::Send(std::string_view bytes) {
  try {
    if (!socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
      ++counters_.send_failures;
      return false;
    }
  } catch (const zmq::error_t&) {
    ++counters_.send_failures;
    return false;
  }
  ++counters_.messages_out;
  counters_.bytes_out += static_cast<int64_t>(bytes.size());
  return true;
}

}  // namespace edgetrain::transport
