#include "log_stream.h"

#include <cerrno>
#include <cstring>

#include "edgetrain/transport/channel.h"

namespace edgetrain::coordinator {

LogStream::LogStream(zmq::context_t* context) : socket_(*context, zmq::socket_type::pub) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 100000);
}

LogStream::~LogStream() {
  if (file_ != nullptr && owns_file_) std::fclose(file_);
}

Result<std::string> LogStream::Bind(const std::string& endpoint,
                                    const transport::CurveConfig& curve) {
  if (endpoint.empty()) return std::string();
  transport::ApplyCurve(socket_, curve);
  Result<std::string> r = transport::BindAndResolve(socket_, endpoint);
  bound_ = r.ok();
  return r;
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

void LogStream::Write(std::string_view topic, std::string_view line) {
  if (bound_) {
    try {
      socket_.send(zmq::buffer(topic.data(), topic.size()),
                   zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      socket_.send(zmq::buffer(line.data(), line.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // PUB drops on overload; the log must never stop training.
    }
  }
  if (file_ != nullptr) {
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

}  // namespace edgetrain::coordinator
