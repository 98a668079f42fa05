#include "edgetrain/status.h"

namespace edgetrain {

std::string Status::ToString() const {
  const char* name = "ok";
  switch (code_) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      name = "invalid argument";
      break;
    case StatusCode::kNotFound:
      name = "not found";
      break;
    case StatusCode::kIoError:
      name = "i/o error";
      break;
    case StatusCode::kCorrupt:
      name = "corrupt";
      break;
    case StatusCode::kOutOfRange:
      name = "out of range";
      break;
    case StatusCode::kUnavailable:
      name = "unavailable";
      break;
    case StatusCode::kInternal:
      name = "internal error";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace edgetrain
