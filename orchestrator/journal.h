// The run journal: one append-only file per run, one JSON record per line.
// Every record is written before its action begins, and synced (fdatasync)
// before a step's command may act (while it starts: Command::before_start)
// or once the roles changed, with all the records before it: records that
// only describe (transitions, skips, results) ride along with the next sync.
// After a crash at any instant it says which step may have been in flight.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/events.h"
#include "orchestrator/executor.h"
#include "orchestrator/json.h"

namespace baton {

class Journal : public EventSink {
 public:
  Journal() = default;
  ~Journal() override;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  // The file is created on the first record, so a run refused before it
  // starts leaves nothing behind.
  void open(const std::string& path) { path_ = path; }
  void emit(const RunEvent& e) override;
  // Syncs when `e` must be durable before its action; threads waiting here
  // together share one fdatasync.
  void settle(const RunEvent& e) override;
  // First write or sync error, if any: a run must not go on unrecorded.
  std::string failure() const override;
  // Records written, records known durable, fdatasync calls: for tests.
  long records() const;
  long synced_records() const;
  long syncs() const;

 private:
  void open_file();  // under mu_
  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;  // guards the fields below and writes
  std::string error_;
  long records_ = 0;
  long synced_ = 0;
  long syncs_ = 0;
  long crash_after_ = -1;  // test hook: BATON_CRASH_AFTER_RECORD
  long counted_ = 0;       // records it counts (not host_connected)
  std::mutex sync_mu_;  // one fdatasync at a time; guards dirs_synced_
  bool dirs_synced_ = false;
  void sync_dirs();
};

struct JournalRead {
  std::vector<Json> records;
  std::string warning;  // e.g. a torn last line
  std::string error;    // unreadable, or damaged before the end
  int damaged_at = 0;   // the line of the damaged record, if that is the error
};
JournalRead read_journal(const std::string& path);

// What a journal says about its run.
struct RunSummary {
  std::string id;
  std::string operation;
  std::string runbook;
  std::string runbook_hash;
  std::string user, machine;
  long long started_ms = 0;
  long long last_ms = 0;
  bool finished = false;     // has a run_finished record (of its last attempt)
  std::string state;         // final machine state, or the last one seen
  int exit_code = -1;
  long long duration_ms = 0; // first start to last record
  std::string failed_phase;  // where it failed, if it did
  std::string failure;       // the reason the run gave
  std::string rto;           // "60000ms"
  std::string rto_verdict;   // "met" / "missed"; only for completed runs
  std::string rpo;           // the objective as the runbook wrote it
  std::string rpo_verdict;   // "met (lost 0 bytes)", "missed by 3 transactions", "not measured"
  std::string data_loss;     // "1234 bytes", "unknown", "" (not measured)
  std::vector<std::string> notices;
  Roles roles_at_start;
  Roles roles_now;           // after the last roles_changed
  // The journal is damaged before its end ("FILE:LINE: damaged journal
  // record"): nothing it says after that line is known.
  std::string damaged;
  // Waiting to be resumed: crashed, or failed after preflight (not a drill).
  // A damaged journal waits too: only `resume --abort` can close it.
  bool resumable() const;
};
RunSummary summarize(const std::string& id, const std::vector<Json>& records);

// The executor's state at the end of the journal, for resume.
RunState rebuild_state(const std::vector<Json>& records, const Roles& roles_now);

// Run ids in the state directory, oldest first.
std::vector<std::string> list_runs(const std::string& state_dir);
std::string journal_path(const std::string& state_dir, const std::string& run_id);

}  // namespace baton
