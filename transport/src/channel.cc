#include "edgetrain/transport/channel.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

namespace edgetrain::transport {
namespace {

std::atomic<int> g_monitor_id{0};

void CommonOptions(zmq::socket_t& s, const ChannelOptions& o) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
  s.set(zmq::sockopt::sndhwm, o.send_queue);
  s.set(zmq::sockopt::rcvhwm, o.receive_queue);
  ApplyCurve(s, o.curve);
}

const char* HandshakeWhy(int error) {
  switch (error) {
    case ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED:
    case ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID:
    case ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION:
    case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE:
    case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA:
      return "authentication service error";
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "one side uses CURVE keys and the other does not (check "
             "--key/--server-key/--insecure)";
    default:
      return "the keys do not match (wrong --server-key, or a corrupted key)";
  }
}

}  // namespace

// Watches a socket's handshake failures (ZeroMQ reports them only to a socket monitor).
class RouterChannel::Monitor : public zmq::monitor_t {
 public:
  std::function<void(const std::string&)> callback;
  void on_event_handshake_failed_no_detail(const zmq_event_t&, const char* addr) override {
    Report(std::string("handshake failed on ") + addr);
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char* addr) override {
    Report(std::string("handshake failed on ") + addr + ": " + HandshakeWhy(e.value));
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char* addr) override {
    Report(std::string("handshake refused on ") + addr + " (status " + std::to_string(e.value) +
           ")");
  }

 private:
  void Report(const std::string& what) {
    if (callback) callback(what);
  }
};

class DealerChannel::Monitor : public zmq::monitor_t {
 public:
  using Kind = HandshakeEvent::Kind;
  std::vector<HandshakeEvent> events;
  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override {
    events.push_back({Kind::kSucceeded, ""});
  }
  void on_event_handshake_failed_no_detail(const zmq_event_t& e, const char*) override {
    events.push_back({Kind::kClosed, std::string("the coordinator closed the connection during "
                                                 "the handshake (") +
                                         zmq_strerror(static_cast<int>(e.value)) + ")"});
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char*) override {
    events.push_back({Kind::kProtocol, std::string("the handshake with the coordinator failed: ") +
                                           HandshakeWhy(static_cast<int>(e.value))});
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char*) override {
    if (e.value == 400) {
      events.push_back({Kind::kRefused,
                        "the coordinator refused this agent's key (ZAP status 400): its public "
                        "key is not on the coordinator's allow-list (--allow)"});
    } else {
      events.push_back({Kind::kAuthError, "the coordinator's authentication failed (ZAP status " +
                                              std::to_string(e.value) + ")"});
    }
  }
};

FaultInjector::FaultInjector(const FaultOptions& options)
    : options_(options), state_(options.seed) {}

namespace {
std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}
}  // namespace

void FaultInjector::Queue(TimePoint due, const std::string& identity, std::string_view bytes) {
  // Nearly always at the end (one latency for all); a random delay goes where it belongs.
  auto it = outbound_.end();
  while (it != outbound_.begin() && std::prev(it)->due > due) --it;
  outbound_.insert(it, Held{due, identity, std::string(bytes)});
}

int FaultInjector::Decide(const std::string& identity, std::string_view bytes,
                          TrafficCounters* counters) {
  auto uniform = [this] {  // splitmix64: small and seeded
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  };
  const double u = uniform();
  if (u < options_.drop) {
    ++counters->injected_drops;
    return 0;
  }
  double hold = options_.latency;
  int copies = 1;
  if (u < options_.drop + options_.delay) {
    ++counters->injected_delays;
    hold += options_.delay_seconds;
  } else if (u < options_.drop + options_.delay + options_.duplicate) {
    ++counters->injected_duplicates;
    copies = 2;
  }
  if (hold <= 0) return copies;
  const TimePoint due = std::chrono::steady_clock::now() + Seconds(hold);
  for (int k = 0; k < copies; ++k) Queue(due, identity, bytes);
  return 0;
}

void FaultInjector::Hold(zmq::message_t&& message) {
  inbound_.emplace_back(std::chrono::steady_clock::now() + Seconds(options_.latency),
                        std::move(message));
}

bool FaultInjector::TakeArrived(zmq::message_t* message) {
  if (inbound_.empty() || inbound_.front().first > std::chrono::steady_clock::now()) return false;
  message->move(inbound_.front().second);
  inbound_.pop_front();
  return true;
}

int FaultInjector::MillisToNextDue(int cap_ms) const {
  TimePoint next = TimePoint::max();
  if (!outbound_.empty()) next = outbound_.front().due;
  if (!inbound_.empty()) next = std::min(next, inbound_.front().first);
  if (next == TimePoint::max()) return cap_ms;
  const auto left = next - std::chrono::steady_clock::now();
  const int64_t ms =
      std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(left).count());
  return cap_ms < 0 ? static_cast<int>(std::min<int64_t>(ms, INT_MAX))  // -1: no cap (forever)
                    : static_cast<int>(std::min<int64_t>(ms, cap_ms));
}

namespace {

// An endpoint ZeroMQ cannot use whatever the network does (malformed, unknown transport or
// interface), as opposed to an address that is not available now.
bool MalformedEndpoint(int error) {
  return error == EINVAL || error == EPROTONOSUPPORT || error == ENOCOMPATPROTO ||
         error == ENODEV || error == ENOENT;
}

}  // namespace

Result<std::string> BindAndResolve(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    const std::string what = "cannot bind '" + endpoint + "': " + e.what();
    if (MalformedEndpoint(e.num())) return Status::InvalidArgument(what);
    return Status::Unavailable(what);
  }
}

RouterChannel::RouterChannel(zmq::context_t* context, const ChannelOptions& options)
    : socket_(*context, zmq::socket_type::router) {
  CommonOptions(socket_, options);
  if (options.faults.enabled()) faults_ = std::make_unique<FaultInjector>(options.faults);
  socket_.set(zmq::sockopt::router_mandatory, 1);  // a send to a vanished agent fails, not vanishes
}

RouterChannel::~RouterChannel() = default;

void RouterChannel::OnHandshakeFailure(std::function<void(const std::string&)> callback) {
  monitor_ = std::make_unique<Monitor>();
  monitor_->callback = std::move(callback);
  monitor_->init(socket_, "inproc://edgetrain-router-monitor-" + std::to_string(++g_monitor_id),
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
}

Result<std::string> RouterChannel::Bind(const std::string& endpoint) {
  return BindAndResolve(socket_, endpoint);
}

bool RouterChannel::Receive(int timeout_ms, Inbound* in) {
  // Fast path under load: a message already queued is taken without the poll system call. Every
  // kPollEvery-th call, and whenever nothing is queued, goes through the poll below, which also
  // serves ZAP requests, the handshake monitor and delayed (fault-injected) messages.
  if (!faults_ && ++receives_since_poll_ < kPollEvery) {
    try {
      if (socket_.recv(identity_msg_, zmq::recv_flags::dontwait)) return ReadPayload(in);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
  receives_since_poll_ = 0;
  zmq::pollitem_t items[2] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, 0, ZMQ_POLLIN, 0}};
  int count = 1;
  if (zap_ != nullptr) {
    items[1].socket = zap_->socket().handle();
    count = 2;
  }
  if (faults_) {
    faults_->ForEachDue(
        [this](const std::string& id, const std::string& bytes) { SendNow(id, bytes); });
    timeout_ms = faults_->MillisToNextDue(timeout_ms);  // come back for delayed messages
  }
  try {
    if (monitor_) {
      while (monitor_->check_event(0)) {
      }
    }
    if (zmq::poll(items, count, std::chrono::milliseconds(timeout_ms)) == 0) return false;
    if (count == 2 && (items[1].revents & ZMQ_POLLIN)) zap_->HandleRequest();
    if (!(items[0].revents & ZMQ_POLLIN)) return false;
    if (!socket_.recv(identity_msg_, zmq::recv_flags::dontwait)) return false;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
  return ReadPayload(in);
}

bool RouterChannel::ReadPayload(Inbound* in) {
  try {
    in->identity.assign(static_cast<const char*>(identity_msg_.data()), identity_msg_.size());
    if (!socket_.recv(in->payload, zmq::recv_flags::dontwait)) return false;
    // Drain any extra frames: our protocol has exactly one; a longer message is malformed and
    // is handed on with only its first frame (which then fails verification or is refused).
    while (in->payload.more()) {
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
      counters_.bytes_in += static_cast<int64_t>(extra.size());
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
  // (zmq_msg_gets, not message_t::gets: cppzmq throws when a property is absent, and a plain
  // connection has no User-Id.)
  const char* address = zmq_msg_gets(in->payload.handle(), "Peer-Address");
  in->peer_address.assign(address != nullptr ? address : "");
  const char* user = zmq_msg_gets(in->payload.handle(), "User-Id");
  in->user_id.assign(user != nullptr ? user : "");
  ++counters_.messages_in;
  counters_.bytes_in += static_cast<int64_t>(in->payload.size());
  return true;
}

bool RouterChannel::Send(const std::string& identity, std::string_view bytes) {
  if (!faults_) return SendNow(identity, bytes);
  const int copies = faults_->Decide(identity, bytes, &counters_);
  bool ok = true;
  for (int k = 0; k < copies; ++k) ok = SendNow(identity, bytes) && ok;
  return ok;
}

bool RouterChannel::SendNow(const std::string& identity, std::string_view bytes) {
  try {
    if (!socket_.send(zmq::buffer(identity),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
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

DealerChannel::~DealerChannel() = default;

void DealerChannel::Open() {
  monitor_.reset();
  if (options_.faults.enabled() && !faults_)
    faults_ = std::make_unique<FaultInjector>(options_.faults);
  socket_ = zmq::socket_t(*context_, zmq::socket_type::dealer);
  CommonOptions(socket_, options_);
  socket_.set(zmq::sockopt::immediate, 1);  // queue only to a completed connection
  socket_.set(zmq::sockopt::reconnect_ivl, options_.reconnect_ms);
  socket_.set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_max_ms);
  monitor_ = std::make_unique<Monitor>();
  monitor_->init(socket_, "inproc://edgetrain-dealer-monitor-" + std::to_string(++g_monitor_id),
                 ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
}

Status DealerChannel::Connect(const std::string& endpoint) {
  try {
    socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument("cannot connect to '" + endpoint + "': " + e.what() +
                                   " (endpoints look like tcp://HOST:PORT)");
  }
  endpoint_ = endpoint;
  return Status::Ok();
}

void DealerChannel::Reconnect() {
  monitor_.reset();
  socket_.close();
  Open();
  if (!endpoint_.empty()) socket_.connect(endpoint_);  // it was connected before: it parses
}

std::vector<HandshakeEvent> DealerChannel::TakeHandshakeEvents() {
  while (monitor_->check_event(0)) {
  }
  std::vector<HandshakeEvent> events;
  events.swap(monitor_->events);
  return events;
}

bool DealerChannel::Receive(int timeout_ms, zmq::message_t* payload) {
  if (faults_) {
    faults_->ForEachDue([this](const std::string&, const std::string& bytes) { SendNow(bytes); });
    if (faults_->TakeArrived(payload)) return Arrived(*payload);
    timeout_ms = faults_->MillisToNextDue(timeout_ms);  // come back for held messages
  }
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
  if (faults_ && faults_->latency() > 0) {
    faults_->Hold(std::move(*payload));  // delivered by a later call, once due
    return false;
  }
  return Arrived(*payload);
}

bool DealerChannel::Arrived(const zmq::message_t& payload) {
  ++counters_.messages_in;
  counters_.bytes_in += static_cast<int64_t>(payload.size());
  return true;
}

bool DealerChannel::Send(std::string_view bytes) {
  if (!faults_) return SendNow(bytes);
  const int copies = faults_->Decide("", bytes, &counters_);
  bool ok = true;
  for (int k = 0; k < copies; ++k) ok = SendNow(bytes) && ok;
  return ok;
}

bool DealerChannel::SendNow(std::string_view bytes) {
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
