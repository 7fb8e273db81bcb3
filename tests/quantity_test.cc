// RPO quantities: durations, bytes and transactions; a step's measured
// loss; the verdict against the objective.
#include "runbooks/quantity.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

using U = Quantity::Unit;

TEST(ParseQuantity, Durations) {
  EXPECT_EQ(parse_quantity("0s"), (Quantity{U::ms, 0}));
  EXPECT_EQ(parse_quantity("5m"), (Quantity{U::ms, 300000}));
  EXPECT_EQ(parse_quantity("1m30s"), (Quantity{U::ms, 90000}));
  EXPECT_EQ(parse_quantity("250 ms"), (Quantity{U::ms, 250}));
}

TEST(ParseQuantity, BytesCountedAsPostgreSQLDoes) {
  EXPECT_EQ(parse_quantity("0 bytes"), (Quantity{U::bytes, 0}));
  EXPECT_EQ(parse_quantity("1 byte"), (Quantity{U::bytes, 1}));
  EXPECT_EQ(parse_quantity("16MB"), (Quantity{U::bytes, 16 << 20}));
  EXPECT_EQ(parse_quantity("16 MiB"), (Quantity{U::bytes, 16 << 20}));
  EXPECT_EQ(parse_quantity("8kB"), (Quantity{U::bytes, 8192}));
  EXPECT_EQ(parse_quantity("2 GB"), (Quantity{U::bytes, 2LL << 30}));
  EXPECT_EQ(parse_quantity("100B"), (Quantity{U::bytes, 100}));
}

TEST(ParseQuantity, Transactions) {
  EXPECT_EQ(parse_quantity("0 transactions"), (Quantity{U::transactions, 0}));
  EXPECT_EQ(parse_quantity("1 transaction"), (Quantity{U::transactions, 1}));
  EXPECT_EQ(parse_quantity("3 tx"), (Quantity{U::transactions, 3}));
  EXPECT_EQ(parse_quantity("12trx"), (Quantity{U::transactions, 12}));
}

TEST(ParseQuantity, RejectsWhatIsNoAmount) {
  for (const char* bad : {"", "zero", "5", "-1s", "1.5s", "16 mb", "3 txs", "s", "5 parsecs", "1e3 bytes"})
    EXPECT_FALSE(parse_quantity(bad)) << bad;
}

TEST(FormatQuantity, ReadsBack) {
  EXPECT_EQ(format_quantity({U::bytes, 1234}), "1234 bytes");
  EXPECT_EQ(format_quantity({U::bytes, 16 << 20}), "16 MB");
  EXPECT_EQ(format_quantity({U::transactions, 1}), "1 transaction");
  EXPECT_EQ(format_quantity({U::transactions, 7}), "7 transactions");
  EXPECT_EQ(format_quantity({U::ms, 1500}), "1.5 s");
  for (Quantity q : {Quantity{U::bytes, 1234}, Quantity{U::bytes, 16 << 20}, Quantity{U::transactions, 7}})
    EXPECT_EQ(parse_quantity(format_quantity(q)), q);
}

TEST(ParseMeasured, AmountThenFreeText) {
  auto m = parse_measured("1234 bytes of WAL lost (standby received up to 0/3000060)");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->amount, (Quantity{U::bytes, 1234}));
  EXPECT_EQ(m->text, "1234 bytes of WAL lost (standby received up to 0/3000060)");
  m = parse_measured("3 transactions lost: 0-1-40..0-1-42");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->amount, (Quantity{U::transactions, 3}));
  m = parse_measured("  2s behind\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->amount, (Quantity{U::ms, 2000}));
}

TEST(ParseMeasured, UnknownIsAnAnswer) {
  auto m = parse_measured("unknown (the old primary's WAL could not be read)");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->amount);
  EXPECT_FALSE(parse_measured("unknowable"));
  EXPECT_FALSE(parse_measured("lost 3 transactions"));
  EXPECT_FALSE(parse_measured(""));
}

Measured lost(Quantity q) { return Measured{q, format_quantity(q)}; }

TEST(JudgeRpo, ZeroObjectiveIsMetOnlyByZeroInAnyUnit) {
  const Quantity zero_s{U::ms, 0};
  EXPECT_EQ(judge_rpo(zero_s, lost({U::bytes, 0})).kind, RpoVerdict::Kind::met);
  RpoVerdict v = judge_rpo(zero_s, lost({U::bytes, 1234}));
  EXPECT_EQ(v.kind, RpoVerdict::Kind::missed);
  EXPECT_EQ(v.text, "missed by 1234 bytes");
  EXPECT_TRUE(v.exceeds());
}

TEST(JudgeRpo, SameUnitComparesAndSaysByHowMuch) {
  const Quantity rpo{U::transactions, 5};
  EXPECT_EQ(judge_rpo(rpo, lost({U::transactions, 5})).text, "met (lost 5 transactions)");
  RpoVerdict v = judge_rpo(rpo, lost({U::transactions, 8}));
  EXPECT_EQ(v.text, "missed by 3 transactions");
  EXPECT_EQ(judge_rpo(Quantity{U::bytes, 16 << 20}, lost({U::bytes, 17 << 20})).text, "missed by 1 MB");
}

TEST(JudgeRpo, OtherUnitsUnknownAndUnmeasured) {
  RpoVerdict v = judge_rpo(Quantity{U::ms, 60000}, lost({U::bytes, 10}));
  EXPECT_EQ(v.kind, RpoVerdict::Kind::incomparable);
  EXPECT_TRUE(v.exceeds());  // Nobody can say it is within: ask first.
  v = judge_rpo(Quantity{U::ms, 0}, Measured{std::nullopt, "unknown"});
  EXPECT_EQ(v.kind, RpoVerdict::Kind::unknown);
  EXPECT_TRUE(v.exceeds());
  v = judge_rpo(Quantity{U::ms, 0}, std::nullopt);
  EXPECT_EQ(v.text, "not measured");
  EXPECT_FALSE(v.exceeds());
}

}  // namespace
}  // namespace baton
