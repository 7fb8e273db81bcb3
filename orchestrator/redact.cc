#include "orchestrator/redact.h"

#include <algorithm>
#include <cctype>

namespace baton {
namespace {

constexpr size_t kAnywhere = 4;  // Shorter values are masked as whole words only.

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void add(std::vector<std::string>& list, const std::string& v) {
  if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
}

}  // namespace

void Redactor::learn_value(const std::string& value) {
  std::string v = value;
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  if (v.empty()) return;
  add(v.size() >= kAnywhere ? long_ : short_, v);
  // Each line of a multi-line secret (a key, a certificate) on its own.
  if (v.find('\n') != std::string::npos) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t nl = v.find('\n', start);
      std::string line = v.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.size() >= kAnywhere) add(long_, line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  // Longest first, so a secret containing another is masked whole.
  std::sort(long_.begin(), long_.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void Redactor::learn(const Vars& vars) { learn(vars, {}); }

void Redactor::learn(const Vars& vars, const std::set<std::string>& declared) {
  for (const auto& [k, v] : vars)
    if (is_secret_name(k) || declared.count(k)) learn_value(v);
}

std::string Redactor::apply(std::string text) const {
  for (const std::string& s : long_) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  // The output cap (agents/agent.h) may have cut a secret: its head then
  // ends the kept text, just before the marker. Masked too.
  const std::string marker = truncation_marker(0);
  const std::string cut = marker.substr(0, marker.find(", ") + 2);  // "\n[baton: output truncated, "
  for (size_t at = text.find(cut); at != std::string::npos; at = text.find(cut, at + cut.size())) {
    size_t longest = 0;
    for (const std::string& s : long_)
      for (size_t k = std::min(s.size() - 1, at); k > longest; --k)
        if (text.compare(at - k, k, s, 0, k) == 0) {
          longest = k;
          break;
        }
    if (longest) {
      text.replace(at - longest, longest, "***");
      at = at - longest + 3;
    }
  }
  for (const std::string& s : short_) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      const bool alone = (pos == 0 || !word_char(text[pos - 1])) &&
                         (pos + s.size() == text.size() || !word_char(text[pos + s.size()]));
      if (!alone) {
        ++pos;
        continue;
      }
      text.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  return text;
}

}  // namespace baton
