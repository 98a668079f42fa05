#include "log_stream.h"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "edgetrain/transport/channel.h"

namespace edgetrain::coordinator {
namespace {

constexpr std::array<std::string_view, 4> kTopics = {"run", "epoch", "agent", "status"};
// Subscribers send nothing but the handshake (CURVE's largest command is about 250 bytes) and
// subscriptions; ZeroMQ drops a connection that sends a longer frame. With kMaxIgnored this bounds
// what libzmq remembers of one connection's subscriptions to a few megabytes.
constexpr int64_t kMaxSubscriberFrame = 512;

// `line` (a JSON object) with "replay": true in front of its fields.
std::string ReplayOf(std::string_view line) {
  std::string out = "{\"replay\":true,";
  out.append(line.substr(1));
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool IsTopicPrefix(std::string_view subscription) {
  for (std::string_view topic : kTopics) {
    if (StartsWith(topic, subscription)) return true;
  }
  return false;
}

LogStream::LogStream(zmq::context_t* context) : context_(context) {}

LogStream::~LogStream() {
  if (file_ != nullptr && owns_file_) std::fclose(file_);
}

Status LogStream::Open() {
  auto socket = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::xpub);
  socket->set(zmq::sockopt::linger, 0);
  socket->set(zmq::sockopt::sndhwm, 100000);
  socket->set(zmq::sockopt::xpub_manual, 1);
  socket->set(zmq::sockopt::maxmsgsize, kMaxSubscriberFrame);
  transport::ApplyCurve(*socket, curve_);
  Result<std::string> r = transport::BindAndResolve(*socket, endpoint_);
  if (!r.ok()) return r.status();
  endpoint_ = *r;
  socket_ = std::move(socket);
  return Status::Ok();
}

Result<std::string> LogStream::Bind(const std::string& endpoint,
                                    const transport::CurveConfig& curve) {
  if (endpoint.empty()) return std::string();
  endpoint_ = endpoint;
  curve_ = curve;
  EDGETRAIN_RETURN_IF_ERROR(Open());
  return endpoint_;
}

Status LogStream::Rebind() {
  if (!socket_) return Status::Ok();
  socket_.reset();  // closes every subscriber's connection; ZeroMQ releases the listener later
  ++rebinds_;
  ignored_ = 0;
  Status st = Status::Ok();
  // The old listener is closed by ZeroMQ's I/O thread: the port may stay busy for a moment.
  for (int attempt = 0; attempt < 200; ++attempt) {
    st = Open();
    if (st.ok()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return st.WithContext("the log stream could not be bound again");
}

Status LogStream::OpenFile(const std::string& path) {
  if (path == "-") {
    file_ = stdout;
    return Status::Ok();
  }
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) {
    return Status::IoError(path + ": cannot open for the JSON log: " + std::strerror(errno));
  }
  owns_file_ = true;
  return Status::Ok();
}

void LogStream::Send(std::string_view topic, std::string_view line) {
  if (!socket_) return;
  try {
    socket_->send(zmq::buffer(topic.data(), topic.size()),
                  zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_->send(zmq::buffer(line.data(), line.size()), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // XPUB drops on overload; the log must never stop training.
  }
}

void LogStream::Write(std::string_view topic, std::string_view line) {
  if (topic == "status") {
    last_status_.assign(line.data(), line.size());
  } else if (topic == "run" && StartsWith(line, "{\"event\":\"run_started\"")) {
    last_run_started_.assign(line.data(), line.size());
  }
  Send(topic, line);
  if (file_ != nullptr) {
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

void LogStream::Replay(std::string_view subscription) {
  if (!last_run_started_.empty() && StartsWith("run", subscription)) {
    Send("run", ReplayOf(last_run_started_));
  }
  if (!last_status_.empty() && StartsWith("status", subscription)) {
    Send("status", ReplayOf(last_status_));
  }
}

bool LogStream::Service() {
  if (!socket_) return true;
  zmq::message_t msg;
  // Bounded per call: a flood of subscriptions cannot hold the coordinator's loop.
  for (int k = 0; k < 1024; ++k) {
    try {
      if (!socket_->recv(msg, zmq::recv_flags::dontwait)) break;
    } catch (const zmq::error_t&) {
      break;
    }
    if (msg.size() == 0) continue;
    const auto* bytes = static_cast<const char*>(msg.data());
    const bool subscribe = bytes[0] == 1;
    const std::string_view prefix(bytes + 1, msg.size() - 1);
    if ((bytes[0] != 0 && bytes[0] != 1) || !IsTopicPrefix(prefix)) {
      ++ignored_total_;
      if (++ignored_ > kMaxIgnored) return Rebind().ok();
      continue;
    }
    // Manual mode: the (un)subscription applies to the connection that sent it.
    try {
      if (subscribe) {
        socket_->set(zmq::sockopt::subscribe, prefix);
        Replay(prefix);
      } else {
        socket_->set(zmq::sockopt::unsubscribe, prefix);
      }
    } catch (const zmq::error_t&) {
    }
  }
  return true;
}

}  // namespace edgetrain::coordinator
