#include "edgetrain/json.h"

#include <cmath>
#include <cstdio>

#include "parse_number.h"

namespace edgetrain {

void JsonWriter::AppendString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void JsonWriter::AppendNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  *out += buf;
}

void JsonWriter::Key(std::string_view key) {
  if (out_.size() > 1) out_.push_back(',');
  AppendString(&out_, key);
  out_.push_back(':');
}

JsonWriter& JsonWriter::Field(std::string_view key, double v) {
  Key(key);
  AppendNumber(&out_, v);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, int64_t v) {
  Key(key);
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, uint64_t v) {
  Key(key);
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, bool v) {
  Key(key);
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, std::string_view v) {
  Key(key);
  AppendString(&out_, v);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, const std::vector<int64_t>& v) {
  Key(key);
  out_.push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out_.push_back(',');
    out_ += std::to_string(v[i]);
  }
  out_.push_back(']');
  return *this;
}

JsonWriter& JsonWriter::Object(std::string_view key, const JsonWriter& inner) {
  Key(key);
  out_ += inner.Finish();
  return *this;
}

const JsonValue& JsonValue::operator[](const std::string& key) const {
  static const JsonValue kNull;
  if (type != Type::kObject) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : it->second;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()), begin_(p_) {}

  Result<JsonValue> ParseDocument() {
    JsonValue v;
    EDGETRAIN_RETURN_IF_ERROR(Value(&v, 0));
    Skip();
    if (p_ != end_) return Error("trailing characters");
    return v;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("JSON at offset " + std::to_string(p_ - begin_) + ": " + what);
  }
  void Skip() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) >= word.size() &&
        std::string_view(p_, word.size()) == word) {
      p_ += word.size();
      return true;
    }
    return false;
  }

  Status String(std::string* out) {
    ++p_;  // opening quote
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\') {
        if (++p_ >= end_) return Error("unterminated escape");
        switch (*p_) {
          case '"':
            out->push_back('"');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '/':
            out->push_back('/');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'u': {
            if (end_ - p_ < 5) return Error("short \\u escape");
            unsigned code = 0;
            for (int k = 1; k <= 4; ++k) {
              const char c = p_[k];
              code <<= 4;
              if (c >= '0' && c <= '9')
                code |= static_cast<unsigned>(c - '0');
              else if (c >= 'a' && c <= 'f')
                code |= static_cast<unsigned>(c - 'a' + 10);
              else if (c >= 'A' && c <= 'F')
                code |= static_cast<unsigned>(c - 'A' + 10);
              else
                return Error("bad \\u escape");
            }
            p_ += 4;
            if (code < 0x80) {
              out->push_back(static_cast<char>(code));
            } else if (code < 0x800) {
              out->push_back(static_cast<char>(0xC0 | (code >> 6)));
              out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
            } else {
              out->push_back(static_cast<char>(0xE0 | (code >> 12)));
              out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
              out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
            }
            break;
          }
          default:
            return Error("bad escape");
        }
        ++p_;
      } else {
        out->push_back(*p_++);
      }
    }
    if (p_ >= end_) return Error("unterminated string");
    ++p_;
    return Status::Ok();
  }

  Status Value(JsonValue* v, int depth) {
    if (depth > 32) return Error("nested too deeply");
    Skip();
    if (p_ >= end_) return Error("unexpected end");
    const char c = *p_;
    if (c == '{') {
      v->type = JsonValue::Type::kObject;
      ++p_;
      Skip();
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return Status::Ok();
      }
      while (true) {
        Skip();
        if (p_ >= end_ || *p_ != '"') return Error("expected a key");
        std::string key;
        EDGETRAIN_RETURN_IF_ERROR(String(&key));
        Skip();
        if (p_ >= end_ || *p_ != ':') return Error("expected ':'");
        ++p_;
        EDGETRAIN_RETURN_IF_ERROR(Value(&v->object[key], depth + 1));
        Skip();
        if (p_ < end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        if (p_ < end_ && *p_ == '}') {
          ++p_;
          return Status::Ok();
        }
        return Error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v->type = JsonValue::Type::kArray;
      ++p_;
      Skip();
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return Status::Ok();
      }
      while (true) {
        v->array.emplace_back();
        EDGETRAIN_RETURN_IF_ERROR(Value(&v->array.back(), depth + 1));
        Skip();
        if (p_ < end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        if (p_ < end_ && *p_ == ']') {
          ++p_;
          return Status::Ok();
        }
        return Error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->type = JsonValue::Type::kString;
      return String(&v->string);
    }
    if (Literal("true")) {
      v->type = JsonValue::Type::kBool;
      v->boolean = true;
      return Status::Ok();
    }
    if (Literal("false")) {
      v->type = JsonValue::Type::kBool;
      return Status::Ok();
    }
    if (Literal("null")) return Status::Ok();
    const char* next = internal::ParseDoublePrefix(p_, end_, &v->number);
    if (next == nullptr || c == '+') return Error("unexpected character");
    v->type = JsonValue::Type::kNumber;
    p_ = next;
    return Status::Ok();
  }

  const char* p_;
  const char* end_;
  const char* begin_;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text) { return Parser(text).ParseDocument(); }

}  // namespace edgetrain
