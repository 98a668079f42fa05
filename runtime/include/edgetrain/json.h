// JSON for the log stream: a writer for flat event objects and a small parser for readers of
// the stream (the monitor, tests). One event is one JSON object on one line (docs/log-stream.md).
//
// Numbers are written with up to 17 significant digits; NaN and infinities are written as null.
// The parser accepts standard JSON (RFC 8259) into a JsonValue tree.
//
// Thread-safety: values; no shared state.
#ifndef EDGETRAIN_JSON_H_
#define EDGETRAIN_JSON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/status.h"

namespace edgetrain {

// Builds one JSON object: JsonWriter w; w.Field("a", 1).Field("b", "x"); w.Finish() ->
// {"a":1,"b":"x"}
class JsonWriter {
 public:
  JsonWriter() { out_ = "{"; }
  JsonWriter& Field(std::string_view key, double v);
  JsonWriter& Field(std::string_view key, int64_t v);
  JsonWriter& Field(std::string_view key, int v) { return Field(key, static_cast<int64_t>(v)); }
  JsonWriter& Field(std::string_view key, uint64_t v);
  JsonWriter& Field(std::string_view key, bool v);
  JsonWriter& Field(std::string_view key, std::string_view v);
  JsonWriter& Field(std::string_view key, const char* v) { return Field(key, std::string_view(v)); }
  JsonWriter& Field(std::string_view key, const std::vector<int64_t>& v);
  // A nested object written by another writer.
  JsonWriter& Object(std::string_view key, const JsonWriter& inner);
  std::string Finish() const { return out_ + "}"; }

  static void AppendString(std::string* out, std::string_view s);
  static void AppendNumber(std::string* out, double v);

 private:
  void Key(std::string_view key);
  std::string out_;
};

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  bool IsNull() const { return type == Type::kNull; }
  // Member access for objects; a shared null value when absent.
  const JsonValue& operator[](const std::string& key) const;
  double NumberOr(double fallback) const { return type == Type::kNumber ? number : fallback; }
  std::string StringOr(const std::string& fallback) const {
    return type == Type::kString ? string : fallback;
  }
};

Result<JsonValue> ParseJson(std::string_view text);

}  // namespace edgetrain

#endif  // EDGETRAIN_JSON_H_
