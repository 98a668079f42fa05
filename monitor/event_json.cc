#include "event_json.h"

#include <cmath>
#include <set>
#include <vector>

namespace edgetrain::monitor {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] ": keep what follows.
std::string Reason(const Json::exception& e) {
  std::string what = e.what();
  const size_t close = what.find("] ");
  if (!what.empty() && what[0] == '[' && close != std::string::npos) what.erase(0, close + 2);
  return what;
}

}  // namespace

Result<Json> ParseEvent(std::string_view text) {
  // nlohmann skips a UTF-8 byte-order mark; JSON text (RFC 8259) has none.
  if (text.substr(0, 3) == "\xEF\xBB\xBF")
    return Status::InvalidArgument("not JSON: starts with a byte-order mark");
  // Duplicate keys: nlohmann keeps the last value; the callback sees every key of every object.
  std::vector<std::set<std::string>> keys;  // one set per object being parsed
  std::string duplicate;
  const Json::parser_callback_t watch = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), watch, /*allow_exceptions=*/true,
                        /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument("not JSON: " + Reason(e));
  }
  if (!duplicate.empty())
    return Status::InvalidArgument("not JSON: the key \"" + duplicate + "\" appears twice");
  if (!value.is_object()) return Status::InvalidArgument("not a JSON object");
  const auto name = value.find("event");
  if (name == value.end() || !name->is_string())
    return Status::InvalidArgument("a JSON object without a string field \"event\"");
  return value;
}

std::string EventName(const Json& event) { return StringField(event, "event"); }

double NumberField(const Json& object, const char* key, double fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

int64_t IntField(const Json& object, const char* key, int64_t fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (it->is_number_unsigned()) {  // (before is_number_integer, which is true for it too)
    const uint64_t v = it->get<uint64_t>();
    return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    // Doubles beyond the int64 range do not round to one.
    if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) return fallback;
    return static_cast<int64_t>(std::llround(v));
  }
  return fallback;
}

std::string StringField(const Json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool BoolField(const Json& object, const char* key, bool fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

const Json* ObjectField(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace edgetrain::monitor
