// JSON in tests: the log stream's lines and the programs' JSON output, read with nlohmann::json
// (strict RFC 8259, as the monitor reads them), and lenient accessors that give "", 0 or false
// for a missing or differently typed member, so a check fails on the value instead of throwing.
#ifndef EDGETRAIN_TESTS_JSON_UTIL_H_
#define EDGETRAIN_TESTS_JSON_UTIL_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "edgetrain/status.h"

namespace edgetrain::testing {

using Json = nlohmann::json;

// One JSON document; an error says where it fails.
inline Result<Json> ParseJson(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return Status::InvalidArgument(std::string("not JSON: ") + e.what());
  }
}

inline const Json* Member(const Json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
inline std::string Str(const Json& j, const std::string& key) {
  const Json* m = Member(j, key);
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string();
}
inline double Num(const Json& j, const std::string& key) {
  const Json* m = Member(j, key);
  return m != nullptr && m->is_number() ? m->get<double>() : 0.0;
}
inline bool Bool(const Json& j, const std::string& key) {
  const Json* m = Member(j, key);
  return m != nullptr && m->is_boolean() && m->get<bool>();
}

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_JSON_UTIL_H_
