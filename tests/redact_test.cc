// Masking secrets: whole values, each line of a multi-line secret, and
// short secrets only as whole words.
#include "orchestrator/redact.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(Redactor, MasksSecretNamedValuesOnly) {
  Redactor r;
  r.learn({{"db_password", "hunter2-long"}, {"pgport", "5432"}});
  EXPECT_EQ(r.apply("pw hunter2-long on 5432"), "pw *** on 5432");
}

TEST(Redactor, EveryLineOfAMultiLineSecretIsMaskedOnItsOwn) {
  Redactor r;
  const std::string key =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBkZXNlcnZlZA\n-----END OPENSSH PRIVATE KEY-----\n";
  r.learn({{"private_key", key}});
  EXPECT_EQ(r.apply(key), "***\n");
  // Only the tail of it printed (a failing command's last lines).
  EXPECT_EQ(r.apply("oops: QyNTUxOQAAACBkZXNlcnZlZA\n-----END OPENSSH PRIVATE KEY-----"), "oops: ***\n***");
}

TEST(Redactor, ShortSecretsAreMaskedAsWholeWords) {
  Redactor r;
  r.learn({{"api_token", "x7"}});
  EXPECT_EQ(r.apply("token x7 ok"), "token *** ok");
  EXPECT_EQ(r.apply("x7"), "***");
  EXPECT_EQ(r.apply("ax7b x7,x7"), "ax7b ***,***");
}

TEST(Redactor, ALongerSecretIsMaskedWholeBeforeAShorterInsideIt) {
  Redactor r;
  r.learn({{"pass_a", "abcdef"}, {"pass_b", "abcdefghij"}});
  EXPECT_EQ(r.apply("abcdefghij"), "***");
}

TEST(Redactor, ValueLearnedWithoutAName) {
  Redactor r;
  r.learn_value("s3cr3t-from-a-file");
  EXPECT_EQ(r.apply("got s3cr3t-from-a-file"), "got ***");
  EXPECT_TRUE(Redactor().empty());
}

}  // namespace
}  // namespace baton

namespace baton {
namespace {

// The output cap cut a secret: the head it kept is masked too, and nothing
// else before the marker.
TEST(Redactor, TheHeadOfASecretCutByTheOutputCapIsMasked) {
  Redactor r;
  r.learn_value("Sup3rS3cretPassw0rd");
  const std::string marker = truncation_marker(12);
  EXPECT_EQ(r.apply("AAAA\nSup3rS3c" + marker), "AAAA\n***" + marker);
  EXPECT_EQ(r.apply("AAAA\nSup3rS3cretPassw0rd" + marker), "AAAA\n***" + marker);
  EXPECT_EQ(r.apply("AAAA\nnothing" + marker), "AAAA\nnothing" + marker);
  EXPECT_EQ(r.apply("Sup3rS3c and no marker"), "Sup3rS3c and no marker");
}

}  // namespace
}  // namespace baton
