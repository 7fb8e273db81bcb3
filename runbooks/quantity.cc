#include "runbooks/quantity.h"

#include <cctype>
#include <cstdio>

#include "runbooks/duration.h"

namespace baton {
namespace {

constexpr long long kKi = 1024;

std::optional<long long> byte_scale(std::string_view u) {
  if (u == "B" || u == "byte" || u == "bytes") return 1;
  if (u == "kB" || u == "KB" || u == "KiB") return kKi;
  if (u == "MB" || u == "MiB") return kKi * kKi;
  if (u == "GB" || u == "GiB") return kKi * kKi * kKi;
  if (u == "TB" || u == "TiB") return kKi * kKi * kKi * kKi;
  return std::nullopt;
}

bool is_transactions(std::string_view u) {
  return u == "transaction" || u == "transactions" || u == "tx" || u == "txn" || u == "trx";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<Quantity> parse_quantity(std::string_view text) {
  std::string_view s = trim(text);
  size_t i = 0;
  long long n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    n = n * 10 + (s[i] - '0');
    if (n > 1000LL * 1000 * 1000 * 1000) return std::nullopt;  // Absurd.
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = trim(s.substr(i));
  if (auto scale = byte_scale(unit)) return Quantity{Quantity::Unit::bytes, n * *scale};
  if (is_transactions(unit)) return Quantity{Quantity::Unit::transactions, n};
  std::string compact(s.substr(0, i));
  compact += std::string(unit);
  if (auto d = parse_duration(compact)) return Quantity{Quantity::Unit::ms, d->count()};
  return std::nullopt;
}

std::string format_quantity(const Quantity& q) {
  switch (q.unit) {
    case Quantity::Unit::ms: return format_duration(Millis(q.value));
    case Quantity::Unit::transactions:
      return std::to_string(q.value) + (q.value == 1 ? " transaction" : " transactions");
    case Quantity::Unit::bytes:
      for (auto [scale, name] : {std::pair<long long, const char*>{kKi * kKi * kKi, "GB"}, {kKi * kKi, "MB"}, {kKi, "kB"}})
        if (q.value >= scale && q.value % scale == 0) return std::to_string(q.value / scale) + " " + name;
      return std::to_string(q.value) + (q.value == 1 ? " byte" : " bytes");
  }
  return "?";
}

std::optional<Measured> parse_measured(std::string_view line) {
  std::string_view s = trim(line);
  Measured m;
  m.text = std::string(s);
  if (s.rfind("unknown", 0) == 0 && (s.size() == 7 || !std::isalnum(static_cast<unsigned char>(s[7]))))
    return m;
  // The longest prefix of words that reads as a quantity: "16 MB of WAL".
  size_t end = 0;
  std::optional<Quantity> best;
  for (int words = 0; words < 3 && end < s.size(); ++words) {
    size_t next = s.find_first_of(" \t(,;", s.find_first_not_of(" \t", end));
    if (next == std::string_view::npos) next = s.size();
    if (auto q = parse_quantity(s.substr(0, next))) best = q;
    end = next;
  }
  if (!best) return std::nullopt;
  m.amount = best;
  return m;
}

RpoVerdict judge_rpo(const std::optional<Quantity>& objective, const std::optional<Measured>& loss) {
  RpoVerdict v;
  if (!loss) {
    v.kind = RpoVerdict::Kind::not_measured;
    v.text = "not measured";
    return v;
  }
  if (!loss->amount) {
    v.kind = RpoVerdict::Kind::unknown;
    v.text = "unknown: the loss could not be measured";
    return v;
  }
  const Quantity& got = *loss->amount;
  if (!objective) {
    v.kind = RpoVerdict::Kind::not_measured;
    v.text = "no objective (lost " + format_quantity(got) + ")";
    return v;
  }
  const bool zero_goal = objective->value == 0;
  if (!zero_goal && objective->unit != got.unit) {
    v.kind = RpoVerdict::Kind::incomparable;
    v.text = "not comparable: lost " + format_quantity(got) + ", objective " + format_quantity(*objective);
    return v;
  }
  if (got.value <= objective->value) {
    v.kind = RpoVerdict::Kind::met;
    v.text = "met (lost " + format_quantity(got) + ")";
    return v;
  }
  Quantity over = got;
  if (!zero_goal) over.value -= objective->value;
  v.kind = RpoVerdict::Kind::missed;
  v.text = "missed by " + format_quantity(over);
  return v;
}

}  // namespace baton
