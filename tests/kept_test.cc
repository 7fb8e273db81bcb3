// Values kept between runs (kept.json): several set in one write, the
// others kept, a name set again replaced.
#include "orchestrator/kept.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace baton {
namespace {

class Kept : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/baton-kept-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(StateDir::open(root_, "rb", &dir_), "");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
  StateDir dir_;
};

TEST_F(Kept, SeveralValuesInOneCallReplaceTheirNamesAndKeepTheOthers) {
  ASSERT_EQ(save_kept(dir_, {{"fork_gtid", "0-1-97"}, {"BATON_LAST_DATA_LOSS", "5 transactions"}}, "run-1"), "");
  ASSERT_EQ(save_kept(dir_, {{"BATON_LAST_DATA_LOSS", "0 bytes"}, {"BATON_LAST_DATA_LOSS_TEXT", "0 bytes lost"}},
                      "run-2"),
            "");
  EXPECT_EQ(load_kept(dir_), (Vars{{"fork_gtid", "0-1-97"},
                                   {"BATON_LAST_DATA_LOSS", "0 bytes"},
                                   {"BATON_LAST_DATA_LOSS_TEXT", "0 bytes lost"}}));
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/kept.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/kept.json.tmp"));
}

TEST_F(Kept, DroppedNamesAreForgottenInTheSameWrite) {
  ASSERT_EQ(save_kept(dir_, {{"a", "1"}, {"b", "2"}, {"c", "3"}}, "run-1"), "");
  ASSERT_EQ(save_kept(dir_, {{"a", "4"}}, "run-2", {"b", "never-kept"}), "");
  EXPECT_EQ(load_kept(dir_), (Vars{{"c", "3"}, {"a", "4"}}));
}

TEST_F(Kept, NothingToKeepWritesNothing) {
  ASSERT_EQ(save_kept(dir_, {}, "run-1"), "");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/kept.json"));
}

TEST_F(Kept, AWriteThatFailsIsAnErrorAndChangesNothing) {
  ASSERT_EQ(save_kept(dir_, {{"a", "1"}}, "run-1"), "");
  // Its temporary file cannot be made (a directory is in the way), as root too.
  std::filesystem::create_directory(dir_.path() + "/kept.json.tmp");
  EXPECT_NE(save_kept(dir_, {{"a", "2"}, {"b", "3"}}, "run-2"), "");
  EXPECT_EQ(load_kept(dir_), (Vars{{"a", "1"}}));
}

}  // namespace
}  // namespace baton
