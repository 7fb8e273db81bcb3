#include "orchestrator/redact.h"

#include <algorithm>
#include <cctype>

namespace baton {

void Redactor::learn(const Vars& vars) {
  for (const auto& [k, v] : vars) {
    // Short values would mask ordinary words; they are no real secret anyway.
    if (!is_secret_name(k) || v.size() < 4) continue;
    if (std::find(secrets_.begin(), secrets_.end(), v) == secrets_.end()) secrets_.push_back(v);
  }
  // Longest first, so a secret containing another is masked whole.
  std::sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::apply(std::string text) const {
  for (const std::string& s : secrets_) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  return text;
}

}  // namespace baton
