// Status and Result<T>: how the runtime reports expected failures.
//
// The runtime API never throws for expected failures (bad input files, corrupt model files,
// refused messages). Functions return a Status, or a Result<T> holding either a value or a
// non-OK Status. Messages are meant for humans and name the place: "file:line:column: found X,
// expected Y", "peer agent-3: ...".
//
// Thread-safety: values; copy freely. Ownership: Result owns its value.
#ifndef EDGETRAIN_STATUS_H_
#define EDGETRAIN_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace edgetrain {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong (bad option, bad file content)
  kNotFound,         // a file or key does not exist
  kIoError,          // the operating system refused (open, read, write, fsync, rename)
  kCorrupt,          // a file or message failed verification
  kOutOfRange,       // a value is outside what the receiver accepts
  kUnavailable,      // a peer did not answer in time
  kInternal,         // a bug: an invariant did not hold
};

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or the message prefixed with the code name, e.g. "corrupt: model.etm: ...".
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>".
  Status WithContext(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

#define EDGETRAIN_RETURN_IF_ERROR(expr)      \
  do {                                       \
    ::edgetrain::Status _et_status = (expr); \
    if (!_et_status.ok()) return _et_status; \
  } while (0)

}  // namespace edgetrain

#endif  // EDGETRAIN_STATUS_H_
