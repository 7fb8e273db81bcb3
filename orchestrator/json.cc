#include "orchestrator/json.h"

#include <cctype>

namespace baton {

const Json* Json::get(const std::string& key) const {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &it->second;
}
std::string Json::str(const std::string& key) const {
  const Json* j = get(key);
  return j && j->type == Type::string ? j->s : std::string();
}
long long Json::num(const std::string& key, long long dflt) const {
  const Json* j = get(key);
  return j && j->type == Type::number ? j->n : dflt;
}
bool Json::flag(const std::string& key) const {
  const Json* j = get(key);
  return j && j->type == Type::boolean && j->b;
}

namespace {

struct Parser {
  const std::string& t;
  size_t i = 0;

  void ws() {
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
  }
  bool lit(const char* w) {
    size_t n = std::char_traits<char>::length(w);
    if (t.compare(i, n, w) != 0) return false;
    i += n;
    return true;
  }
  bool string(std::string* out) {
    if (i >= t.size() || t[i] != '"') return false;
    ++i;
    while (i < t.size()) {
      char c = t[i++];
      if (c == '"') return true;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i >= t.size()) return false;
      char e = t[i++];
      switch (e) {
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'u': {
          if (i + 4 > t.size()) return false;
          unsigned v = std::stoul(t.substr(i, 4), nullptr, 16);
          i += 4;
          if (v < 0x80) {
            *out += static_cast<char>(v);
          } else if (v < 0x800) {
            *out += static_cast<char>(0xc0 | (v >> 6));
            *out += static_cast<char>(0x80 | (v & 0x3f));
          } else {
            *out += static_cast<char>(0xe0 | (v >> 12));
            *out += static_cast<char>(0x80 | ((v >> 6) & 0x3f));
            *out += static_cast<char>(0x80 | (v & 0x3f));
          }
          break;
        }
        default: *out += e;
      }
    }
    return false;
  }
  bool value(Json* out) {
    ws();
    if (i >= t.size()) return false;
    char c = t[i];
    if (c == '{') return object(out);
    if (c == '"') {
      out->type = Json::Type::string;
      return string(&out->s);
    }
    if (lit("true")) {
      out->type = Json::Type::boolean;
      out->b = true;
      return true;
    }
    if (lit("false")) {
      out->type = Json::Type::boolean;
      return true;
    }
    if (lit("null")) return true;
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = i++;
      while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
      out->type = Json::Type::number;
      out->n = std::stoll(t.substr(start, i - start));
      return true;
    }
    return false;
  }
  bool object(Json* out) {
    out->type = Json::Type::object;
    ++i;  // '{'
    ws();
    if (i < t.size() && t[i] == '}') {
      ++i;
      return true;
    }
    for (;;) {
      ws();
      std::string key;
      if (!string(&key)) return false;
      ws();
      if (i >= t.size() || t[i++] != ':') return false;
      if (!value(&out->obj[key])) return false;
      ws();
      if (i >= t.size()) return false;
      if (t[i] == ',') {
        ++i;
        continue;
      }
      if (t[i] == '}') {
        ++i;
        return true;
      }
      return false;
    }
  }
};

}  // namespace

bool parse_json(const std::string& text, Json* out) {
  Parser p{text};
  *out = Json{};
  try {
    if (!p.value(out)) return false;
  } catch (...) {  // stoll/stoul on garbage
    return false;
  }
  p.ws();
  return p.i == text.size();
}

}  // namespace baton
