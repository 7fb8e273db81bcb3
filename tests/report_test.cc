// The auditor's report: text, JSON and a self-contained HTML page with the
// same facts, loaded in a real browser (Debian's headless chromium); the
// drill proof in status and history.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/example_sandbox.h"

namespace baton {
namespace {

using namespace baton::testing;
using nlohmann::json;

const char* kCost = R"(
[cost]
hourly_revenue = 12000
hourly_labor = 450
currency = "EUR"
)";

// A failover-only step that reports a loss of 3 transactions, and a notice.
const char* kLossStep = R"TOML(
[[step]]
id = "measure-loss"
phase = "verify_sync"
on = "target"
operations = ["failover"]
measures = "data_loss"
run = 'echo "3 transactions lost (the replica had up to 97)"; echo "baton-notice: the old data directory is kept"'
)TOML";

void append(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app) << text; }

json report_json(Sandbox& sb) {
  CommandResult r = sb.baton_cmd("report --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

// Runs headless chromium on a page: returns stdout (the DOM for
// --dump-dom); fails the test on a console message or a non-zero exit.
std::string chromium(const std::string& page, const std::string& action) {
  const std::string log = page + ".chromium.log";
  CommandResult r = sh("chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 " + action +
                       " " + shell_quote("file://" + page) + " 2> " + shell_quote(log));
  EXPECT_EQ(r.exit_code, 0) << read(log);
  const std::string err = read(log);
  EXPECT_EQ(err.find(":CONSOLE"), std::string::npos) << err;  // Uncaught errors, console.error, ...
  EXPECT_EQ(err.find("Uncaught"), std::string::npos) << err;
  EXPECT_EQ(err.find("net::ERR"), std::string::npos) << err;  // Nothing fetched, nothing failed.
  return r.out;
}

// The page needs nothing outside itself.
void self_contained(const std::string& html) {
  for (const char* ref : {" src=", " href=", "url(", "@import", "<script", "<link"})
    EXPECT_EQ(html.find(ref), std::string::npos) << ref;
  std::string rest = html;
  for (size_t at; (at = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;) rest.erase(at, 26);
  EXPECT_EQ(rest.find("http"), std::string::npos) << "a network address in the page";
}

std::string artifacts() {
  const std::string dir = std::string(BATON_BUILD_DIR) + "/artifacts";
  sh("mkdir -p " + shell_quote(dir));
  return dir;
}

TEST(Report, HtmlOfASwitchoverAndALossyFailoverInABrowser) {
  Sandbox sb;
  append(sb.rb, std::string(kCost) + kLossStep);
  const std::string dir = artifacts();

  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  const std::string sw = dir + "/report-switchover.html";
  write(sw, sb.baton_cmd("report --html").out);
  self_contained(read(sw));
  const std::string dom = chromium(sw, "--dump-dom");
  for (const char* text : {"switchover of local-example", "completed: production moved from main to dr",
                           "roles before", "source <b>main</b>, target <b>dr</b>", "roles after",
                           "source <b>dr</b>, target <b>main</b>", "activate-target", "writes blocked",
                           "Cost = (To + Td) x (Hr + Lr) = (", "12000 + 450 EUR/h", ">met<", "RTO", "RPO"})
    EXPECT_NE(dom.find(text), std::string::npos) << text << "\n" << dom;
  EXPECT_NE(dom.find("<svg"), std::string::npos);
  const std::string png = dir + "/report-switchover.png";
  ::unlink(png.c_str());
  chromium(sw, "--window-size=1200,1600 --screenshot=" + shell_quote(png));
  EXPECT_GT(read(png).size(), 10000u) << "no screenshot at " << png;

  // Back on main is a failover that loses 3 transactions against rpo 0s.
  CommandResult fo = sb.baton_cmd("failover --accept-data-loss --yes");
  ASSERT_EQ(fo.exit_code, 0) << fo.out << fo.err;
  const std::string fp = dir + "/report-failover.html";
  write(fp, sb.baton_cmd("report --html").out);
  self_contained(read(fp));
  const std::string fdom = chromium(fp, "--dump-dom");
  for (const char* text : {"failover of local-example", "losing 3 transactions", "missed by 3 transactions",
                           "measure-loss", "notice: the old data directory is kept", "stale <b>dr</b>",
                           "loss of 3 transactions is not a time window", "writes blocked"})
    EXPECT_NE(fdom.find(text), std::string::npos) << text << "\n" << fdom;
  const std::string pdf = dir + "/report-failover.pdf";
  ::unlink(pdf.c_str());
  chromium(fp, "--print-to-pdf=" + shell_quote(pdf));
  EXPECT_EQ(read(pdf).rfind("%PDF", 0), 0u) << "no PDF at " << pdf;
}

// The run's time counts from the command, its first probe included: the
// report says the same duration as the terminal did.
TEST(Report, TheDurationCountsFromTheCommandLikeTheTerminal) {
  Sandbox sb;
  ASSERT_EQ(sh("sed -i 's|^run = .\"$BATON_RUNBOOK_DIR/site.sh\" role|run = '\\''sleep 0.4; \"$BATON_RUNBOOK_DIR/site.sh\" role|' " +
               shell_quote(sb.rb)).exit_code, 0);
  ASSERT_NE(read(sb.rb).find("sleep 0.4;"), std::string::npos) << read(sb.rb);
  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  long long started = 0, started_record = 0, finished_record = 0, run_ms = -1;
  for (const Json& j : sb.records()) {
    if (j.str("event") == "run_started") started = j.num("started_ms"), started_record = j.num("time_ms");
    if (j.str("event") == "run_finished") finished_record = j.num("time_ms"), run_ms = j.num("duration_ms");
  }
  EXPECT_GT(started, 0);
  EXPECT_LE(started, started_record - 400) << "the probe's 0.4 s came before run_started";
  const long long reported = report_json(sb)["summary"]["duration_ms"];
  EXPECT_GE(reported, finished_record - started_record + 400);
  EXPECT_NEAR(reported, run_ms, 100) << "report and terminal disagree";
}

// A long step id widens the STEP column; the others stay in line.
TEST(Report, TheStepColumnFitsTheLongestStepId) {
  Sandbox sb;
  append(sb.rb, R"(
[[step]]
id = "target-has-no-recovery-target-at-all"
phase = "preflight"
on = "target"
run = "true"
)");
  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  const std::string text = sb.baton_cmd("report").out;
  const size_t head = text.find("\nPHASE");
  ASSERT_NE(head, std::string::npos) << text;
  const size_t host_col = text.find("HOST", head) - head - 1;
  const size_t id = text.find("target-has-no-recovery-target-at-all", head);
  ASSERT_NE(id, std::string::npos) << text;
  const size_t row = text.rfind('\n', id);
  EXPECT_EQ(text.substr(row + 1 + host_col, 7), "dr.app ") << text;
}

TEST(Report, TextJsonAndHtmlCarryTheSameFacts) {
  Sandbox sb;
  append(sb.rb, std::string(kCost) + kLossStep);
  ASSERT_EQ(sb.baton_cmd("failover --accept-data-loss --yes").exit_code, 0);
  json j = report_json(sb);
  const std::string text = sb.baton_cmd("report").out;
  const std::string html = sb.baton_cmd("report --html").out;
  const json& s = j["summary"];
  EXPECT_EQ(s["roles_before"]["source"], "main");
  EXPECT_EQ(s["roles_after"]["source"], "dr");
  EXPECT_EQ(s["roles_after"]["stale"], "main");
  EXPECT_EQ(s["rpo_verdict"], "missed by 3 transactions");
  ASSERT_TRUE(j.contains("cost")) << j.dump();
  const std::string cost = j["cost"]["text"];
  EXPECT_EQ(cost.rfind("Cost = (To + Td) x (Hr + Lr) = (", 0), 0u) << cost;
  ASSERT_TRUE(j["timeline"].contains("write_block"));
  EXPECT_FALSE(j["timeline"]["write_block"]["open"].get<bool>());
  bool notice = false;
  for (const json& st : j["steps"]) {
    for (const char* k : {"phase", "step", "host", "status", "attempts", "duration_ms", "notices"})
      EXPECT_TRUE(st.contains(k)) << k << " " << st.dump();
    notice = notice || (st["step"] == "measure-loss" && st["notices"].size() == 1);
  }
  EXPECT_TRUE(notice) << j["steps"].dump();
  // The same facts in each form.
  for (const std::string& fact : {cost, std::string("missed by 3 transactions"), std::string("measure-loss"),
                                  std::string("the old data directory is kept"), s["runbook_hash"].get<std::string>(),
                                  std::string("losing 3 transactions")}) {
    EXPECT_NE(text.find(fact), std::string::npos) << fact << "\n" << text;
    EXPECT_NE(html.find(fact), std::string::npos) << fact;
  }
}

// A capture of two lines: the second is indented under the first, so the
// text report does not seem to start a new section with it.
TEST(Report, AMultiLineCaptureStaysIndentedInTheText) {
  Sandbox sb;
  append(sb.rb, R"(
[[step]]
id = "two-lines"
phase = "preflight"
on = "source"
run = 'printf "first-line\nsecond-line\n"'
capture = "two_lines"
)");
  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  const std::string text = sb.baton_cmd("report").out;
  EXPECT_NE(text.find("\n  two_lines = first-line\n              second-line\n"), std::string::npos) << text;
}

TEST(Report, NoCostLineWithoutACostTable) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("switchover").exit_code, 0);
  EXPECT_FALSE(report_json(sb).contains("cost"));
  EXPECT_EQ(sb.baton_cmd("report --html").out.find("Cost ="), std::string::npos);
  EXPECT_EQ(sb.baton_cmd("report").out.find("Cost ="), std::string::npos);
}

TEST(Report, AFailedStepsMaskedTailAndAForcedResumeWithBothHashes) {
  Sandbox sb;
  append(sb.rb, R"(
[vars]
db_password = "hunter2-correct-horse"

[[step]]
id = "flaky-check"
phase = "verify"
on = "source"
run = 'echo "connecting with $db_password"; echo "no route to the app" >&2; test -f "$BATON_EXAMPLE_ROOT/fixed"'
)");
  // The local example has no [vars] of its own.
  CommandResult first = sb.baton_cmd("switchover");
  ASSERT_EQ(first.exit_code, 1) << first.out << first.err;
  json failed = report_json(sb);
  bool tail = false;
  for (const json& st : failed["steps"])
    if (st["step"] == "flaky-check") {
      EXPECT_EQ(st["status"], "failed");
      const std::string t = st.value("output_tail", "");
      EXPECT_NE(t.find("connecting with ***"), std::string::npos) << t;
      EXPECT_NE(t.find("no route to the app"), std::string::npos) << t;
      tail = true;
    }
  EXPECT_TRUE(tail) << failed["steps"].dump();
  EXPECT_NE(sb.baton_cmd("report --html").out.find("connecting with ***"), std::string::npos);

  const std::string before = failed["summary"]["runbook_hash"];
  append(sb.rb, "# fixed the check\n");
  write(sb.root + "/fixed", "");
  CommandResult resumed = sb.baton_cmd("resume --force");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  json j = report_json(sb);
  ASSERT_EQ(j["resumes"].size(), 1u) << j["resumes"].dump();
  const json& res = j["resumes"][0];
  EXPECT_TRUE(res["forced"].get<bool>());
  // Why it was resumed: the failure that stopped it, not only the phase.
  EXPECT_NE(res["reason"].get<std::string>().find("failed in verify: "), std::string::npos) << res.dump();
  EXPECT_NE(res["reason"].get<std::string>().find("flaky-check"), std::string::npos) << res.dump();
  EXPECT_EQ(res["runbook_hash_before"], before);
  EXPECT_NE(res["runbook_hash_after"], before);
  const std::string html = sb.baton_cmd("report --html").out;
  EXPECT_NE(html.find("forced</span>: " + before + " &rarr; " + res["runbook_hash_after"].get<std::string>()),
            std::string::npos);
  const std::string all = sb.baton_cmd("report").out + html + j.dump();
  EXPECT_EQ(all.find("hunter2"), std::string::npos);
}

TEST(Report, ADrillIsProofUntilTheRunbookChanges) {
  Sandbox sb;
  ASSERT_EQ(sb.baton_cmd("drill").exit_code, 0);
  json j = report_json(sb);
  ASSERT_TRUE(j.contains("drill")) << j.dump();
  const std::string hash = j["summary"]["runbook_hash"];
  EXPECT_EQ(j["drill"]["text"].get<std::string>().rfind("recovery proven at ", 0), 0u);
  EXPECT_NE(j["drill"]["text"].get<std::string>().find(" with runbook " + hash), std::string::npos);
  EXPECT_NE(sb.baton_cmd("report --html").out.find("recovery proven at "), std::string::npos);

  CommandResult st = sb.baton_cmd("status --offline");
  EXPECT_NE(st.out.find("drill     recovery proven "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find(" ago, at "), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("the runbook is unchanged since"), std::string::npos) << st.out;

  append(sb.rb, "# an edit after the drill\n");
  st = sb.baton_cmd("status --offline");
  EXPECT_NE(st.out.find("not verified: the runbook changed since"), std::string::npos) << st.out;
  json sj = json::parse(sb.baton_cmd("status --offline --json").out);
  EXPECT_FALSE(sj["last_drill"]["verified"].get<bool>());
  EXPECT_GE(sj["last_drill"]["ago_ms"].get<long long>(), 0);
  EXPECT_NE(sb.baton_cmd("history").out.find("not verified"), std::string::npos);
  json h = json::parse(sb.baton_cmd("history --json").out);
  EXPECT_FALSE(h[0]["verified"].get<bool>());
  // No drill at all is said too.
  Sandbox fresh;
  EXPECT_NE(fresh.baton_cmd("status --offline").out.find("drill     never"), std::string::npos);
}

}  // namespace
}  // namespace baton
