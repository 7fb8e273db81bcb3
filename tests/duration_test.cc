#include "runbooks/duration.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("1h"), hours(1));
}

TEST(ParseDuration, AcceptsZero) { EXPECT_EQ(parse_duration("0s"), milliseconds(0)); }

TEST(ParseDuration, AddsCombinedUnits) {
  EXPECT_EQ(parse_duration("1m30s"), seconds(90));
  EXPECT_EQ(parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(parse_duration("1s500ms"), milliseconds(1500));
  EXPECT_EQ(parse_duration("2h3m4s5ms"), hours(2) + minutes(3) + seconds(4) + milliseconds(5));
}

TEST(ParseDuration, RejectsEmpty) { EXPECT_FALSE(parse_duration("")); }

TEST(ParseDuration, RejectsNumberWithoutUnit) {
  EXPECT_FALSE(parse_duration("5"));
  EXPECT_FALSE(parse_duration("1m30"));
}

TEST(ParseDuration, RejectsUnknownUnit) {
  EXPECT_FALSE(parse_duration("5x"));
  EXPECT_FALSE(parse_duration("5sec"));
  EXPECT_FALSE(parse_duration("5S"));
}

TEST(ParseDuration, RejectsNegative) { EXPECT_FALSE(parse_duration("-1s")); }

TEST(ParseDuration, RejectsUnitWithoutNumber) {
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("1ms s"));
}

TEST(ParseDuration, RejectsSpacesAndFractions) {
  EXPECT_FALSE(parse_duration(" 5s"));
  EXPECT_FALSE(parse_duration("5 s"));
  EXPECT_FALSE(parse_duration("1.5s"));
}

TEST(ParseDuration, RejectsAbsurdlyLargeNumbers) {
  EXPECT_FALSE(parse_duration("99999999999999999999s"));
}

TEST(FormatDuration, UsesMillisecondsBelowASecond) {
  EXPECT_EQ(format_duration(milliseconds(850)), "850 ms");
}

TEST(FormatDuration, UsesTenthsOfSecondsBelowAMinute) {
  EXPECT_EQ(format_duration(milliseconds(4200)), "4.2 s");
}

TEST(FormatDuration, UsesMinutesAndSecondsAboveAMinute) {
  EXPECT_EQ(format_duration(seconds(185)), "3m 05s");
}

}  // namespace
}  // namespace baton
