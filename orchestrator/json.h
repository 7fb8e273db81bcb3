// A small JSON reader for Baton's own records (journal lines): objects,
// strings, integers, booleans, null. Enough to read what to_json writes.
#pragma once
#include <map>
#include <memory>
#include <string>

namespace baton {

struct Json {
  enum class Type { null, boolean, number, string, object } type = Type::null;
  bool b = false;
  long long n = 0;
  std::string s;
  std::map<std::string, Json> obj;

  const Json* get(const std::string& key) const;
  std::string str(const std::string& key) const;   // "" if absent
  long long num(const std::string& key, long long dflt = 0) const;
  bool flag(const std::string& key) const;
};

// False on malformed input (a torn journal line, say).
bool parse_json(const std::string& text, Json* out);

}  // namespace baton
