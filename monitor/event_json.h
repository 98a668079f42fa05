// One log-stream event as the monitor reads it: a JSON object parsed strictly with nlohmann-json
// (docs/log-stream.md), and typed, forgiving reads of its fields.
//
// The stream is written by a coordinator that emits strict RFC 8259 JSON (non-finite numbers as
// null, valid UTF-8), so anything else is refused rather than guessed at: NaN and Infinity, .5,
// 01, a number too large for a double (1e400), raw control characters in strings, ill-formed UTF-8,
// comments, a byte-order mark, trailing content, and duplicate keys (which value would be meant?).
// An event must be an object with a string "event".
//
// Field reads never fail: a field that is missing, null or of another type reads as the fallback
// (kMissing for numbers), so one odd field does not lose the rest of an event.
//
// Thread-safety: pure functions. Ownership: the parsed value is the caller's.
#ifndef EDGETRAIN_MONITOR_EVENT_JSON_H_
#define EDGETRAIN_MONITOR_EVENT_JSON_H_

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "edgetrain/status.h"

namespace edgetrain::monitor {

using Json = nlohmann::json;

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// Parses one log-stream frame (or JSON line). InvalidArgument, naming the place (line, column,
// byte) and the reason, for text that is not one strict JSON object with a string "event".
Result<Json> ParseEvent(std::string_view text);

// The event's name ("" when absent: ParseEvent guarantees it for parsed events).
std::string EventName(const Json& event);

// Field reads: the value when `key` holds one of the type, else the fallback.
double NumberField(const Json& object, const char* key, double fallback = kMissing);
// A number rounded to the nearest integer (fallback when missing or not finite).
int64_t IntField(const Json& object, const char* key, int64_t fallback = 0);
std::string StringField(const Json& object, const char* key, const std::string& fallback = "");
bool BoolField(const Json& object, const char* key, bool fallback = false);
// The field's value when it is an object, else null.
const Json* ObjectField(const Json& object, const char* key);

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_EVENT_JSON_H_
