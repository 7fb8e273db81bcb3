#include "orchestrator/json.h"

namespace baton {

const JsonValue* Json::get(const std::string& key) const {
  if (!v.is_object()) return nullptr;
  auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

std::string Json::str(const std::string& key) const {
  const JsonValue* j = get(key);
  return j && j->is_string() ? j->get<std::string>() : std::string();
}

long long Json::num(const std::string& key, long long dflt) const {
  const JsonValue* j = get(key);
  return j && j->is_number_integer() ? j->get<long long>() : dflt;
}

bool Json::flag(const std::string& key) const {
  const JsonValue* j = get(key);
  return j && j->is_boolean() && j->get<bool>();
}

std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
      unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3f);
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
           !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

bool parse_json(const std::string& text, Json* out) {
  JsonValue j = JsonValue::parse(valid_utf8(text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return false;
  out->v = std::move(j);
  return true;
}

std::string dump_json(const JsonValue& j) {
  return j.dump(-1, ' ', false, JsonValue::error_handler_t::replace);
}

}  // namespace baton
