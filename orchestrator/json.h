// Journal records and JSON output, on nlohmann-json (Debian's
// nlohmann-json3-dev). A Json is one record: an object read from a journal
// line, with accessors that never throw.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace baton {

using JsonValue = nlohmann::ordered_json;

struct Json {
  JsonValue v = JsonValue::object();

  // The member, or nullptr when absent.
  const JsonValue* get(const std::string& key) const;
  std::string str(const std::string& key) const;  // "" if absent or not a string
  long long num(const std::string& key, long long dflt = 0) const;
  bool flag(const std::string& key) const;        // false unless true
};

// False on malformed input (a torn journal line, say). Invalid UTF-8 inside
// strings (journals of Baton before 0.2 could hold it) is read as U+FFFD.
bool parse_json(const std::string& text, Json* out);

// Compact JSON text; invalid UTF-8 in strings becomes U+FFFD, so output is
// always valid UTF-8.
std::string dump_json(const JsonValue& j);

// `s` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(const std::string& s);

}  // namespace baton
