#include "runbooks/duration.h"

#include <cctype>
#include <cstdio>

namespace baton {

std::optional<Millis> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  long long total = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    long long n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i] - '0');
      if (n > 1000LL * 1000 * 1000) return std::nullopt;  // Absurd.
      ++i;
    }
    std::string_view unit;
    size_t j = i;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
    unit = s.substr(i, j - i);
    i = j;
    long long scale;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60 * 1000;
    else if (unit == "h") scale = 3600 * 1000;
    else return std::nullopt;
    total += n * scale;
    if (total > 10000LL * 1000 * 1000 * 1000 * 1000) return std::nullopt;  // Absurd, and far from overflow.
  }
  return Millis(total);
}

std::string format_duration(Millis d) {
  char buf[64];
  long long ms = d.count();
  if (ms < 1000) std::snprintf(buf, sizeof buf, "%lld ms", ms);
  else if (ms < 60 * 1000) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  else std::snprintf(buf, sizeof buf, "%lldm %02llds", ms / 60000, (ms / 1000) % 60);
  return buf;
}

}  // namespace baton
