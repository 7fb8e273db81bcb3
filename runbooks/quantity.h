// Amounts of data loss, as the RPO states them and as a step measures them:
// a duration ("0s", "5m"), a byte count ("16MB", "0 bytes") or a count of
// transactions ("0 transactions", "3 tx").
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace baton {

struct Quantity {
  enum class Unit { ms, bytes, transactions };
  Unit unit = Unit::ms;
  long long value = 0;  // milliseconds, bytes or transactions

  bool operator==(const Quantity& o) const { return unit == o.unit && value == o.value; }
};

// Parses "NUMBER[ ]UNIT": durations as runbooks write them (ms, s, m, h,
// also combined: "1m30s"); bytes with B, byte(s), kB/KB/KiB, MB/MiB, GB/GiB,
// TB/TiB, counted as PostgreSQL does (1 kB = 1024 B); transactions with
// transaction(s), tx, txn or trx. Only whole numbers; nullopt otherwise.
std::optional<Quantity> parse_quantity(std::string_view text);

// "1234 bytes" (or "16 MB" when exact), "3 transactions", "1.5 s".
std::string format_quantity(const Quantity& q);

// A step's measured loss: the first word(s) of its first output line are a
// quantity or "unknown"; the rest of the line is free text for the report.
struct Measured {
  std::optional<Quantity> amount;  // nullopt: "unknown"
  std::string text;                // the whole line, as the step printed it
};
// nullopt when the line starts with neither a quantity nor "unknown".
std::optional<Measured> parse_measured(std::string_view line);

// The RPO verdict for a measured loss against the objective.
struct RpoVerdict {
  enum class Kind { met, missed, unknown, not_measured, incomparable } kind = Kind::not_measured;
  std::string text;  // "met", "missed by 1234 bytes", "not measured", ...
  // Would promoting now lose more than the objective allows (or an amount
  // nobody can bound)?
  bool exceeds() const { return kind == Kind::missed || kind == Kind::unknown || kind == Kind::incomparable; }
};
// A zero objective is met only by a zero loss in any unit; otherwise the
// units must match ("incomparable": 16 MB measured against 5 minutes).
RpoVerdict judge_rpo(const std::optional<Quantity>& objective, const std::optional<Measured>& loss);

}  // namespace baton
