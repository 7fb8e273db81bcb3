#include "orchestrator/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "orchestrator/redact.h"
#include "orchestrator/state_dir.h"
#include "runbooks/quantity.h"

namespace baton {

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// Records that must be durable before what follows them: a step (or an
// undo) starts, roles were saved, the run is over. The others describe,
// and the next of these syncs them too: a power cut may lose them, which
// resume handles (a lost result reads as a step in flight, a lost
// transition as an earlier state whose steps are done).
bool needs_sync(EventKind k) {
  return k == EventKind::step_started || k == EventKind::roles_changed || k == EventKind::run_finished;
}

// The number of the record this thread wrote last, per journal.
thread_local const void* t_journal = nullptr;
thread_local long t_record = 0;

}  // namespace

void Journal::open_file() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error_ = "cannot write journal " + path_ + ": " + std::strerror(errno);
    return;
  }
  // A torn last line from a crash: start ours on a line of its own.
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    int rfd = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char last = '\n';
    if (rfd >= 0 && ::pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n')
      if (::write(fd_, "\n", 1) != 1) error_ = "cannot write journal " + path_ + ": " + std::strerror(errno);
    if (rfd >= 0) ::close(rfd);
  }
  if (const char* c = std::getenv("BATON_CRASH_AFTER_RECORD")) crash_after_ = std::atol(c);
}

// The file's name must survive a power cut too: sync runs/ and its parent,
// with the first sync (not at creation: the run's first connects go on
// meanwhile).
void Journal::sync_dirs() {
  std::string dir = path_.substr(0, path_.rfind('/'));
  for (int i = 0; i < 2 && !dir.empty(); ++i) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    dir = dir.substr(0, dir.rfind('/'));
  }
}

void Journal::emit(const RunEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path_.empty() || !error_.empty()) return;
  if (fd_ < 0) open_file();
  if (fd_ < 0 || !error_.empty()) return;
  std::string line = to_json(e) + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = "cannot write journal " + path_ + ": " + std::strerror(errno);
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  t_journal = this;
  t_record = ++records_;
  // Crash tests: die at this boundary. Connects finish in any order, so
  // their records do not count: the same number is the same point each run.
  if (e.kind != EventKind::host_connected && ++counted_ == crash_after_) ::raise(SIGKILL);
}

void Journal::settle(const RunEvent& e) {
  if (!needs_sync(e.kind)) return;
  std::lock_guard<std::mutex> one_sync_at_a_time(sync_mu_);
  long upto = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0 || !error_.empty()) return;
    const long mine = t_journal == this ? t_record : records_;
    if (synced_ >= mine) return;  // a sync since it was written covered it
    upto = records_;
  }
  if (!dirs_synced_) {
    sync_dirs();
    dirs_synced_ = true;
  }
  const int rc = ::fdatasync(fd_);
  const int err = errno;
  std::lock_guard<std::mutex> lock(mu_);
  ++syncs_;
  if (rc != 0) error_ = "cannot sync journal " + path_ + ": " + std::strerror(err);
  else synced_ = std::max(synced_, upto);
}

std::string Journal::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

long Journal::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

long Journal::synced_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

long Journal::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

JournalRead read_journal(const std::string& path) {
  JournalRead r;
  bool ok = false;
  std::string text = read_file(path, &ok);
  if (!ok) {
    r.error = "cannot read journal " + path;
    return r;
  }
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    Json j;
    if (parse_json(lines[i], &j) && j.v.is_object()) {
      r.records.push_back(std::move(j));
      continue;
    }
    // Only a crash mid-write can tear a line, and only the one being written:
    // the last one, or one a resumed run then wrote after.
    bool last_of_attempt = i + 1 == lines.size() ||
                           (i + 1 < lines.size() && lines[i + 1].find("\"event\":\"run_resumed\"") != std::string::npos);
    if (last_of_attempt) {
      r.warning = path + ":" + std::to_string(i + 1) + ": torn record (Baton stopped while writing it); ignored";
      continue;
    }
    r.error = path + ":" + std::to_string(i + 1) + ": damaged journal record";
    r.damaged_at = static_cast<int>(i + 1);
    return r;
  }
  return r;
}

bool RunSummary::resumable() const {
  if (!damaged.empty()) return true;
  if (operation == "drill") return false;  // A drill changes no production.
  if (!finished) return true;
  return state == "failed" && failed_phase != "preflight";
}

RunSummary summarize(const std::string& id, const std::vector<Json>& records) {
  RunSummary s;
  s.id = id;
  for (const Json& j : records) {
    const std::string ev = j.str("event");
    long long t = j.num("time_ms");
    if (t) s.last_ms = t;
    if (ev == "run_started") {
      s.operation = j.str("operation");
      s.runbook = j.str("runbook");
      s.runbook_hash = j.str("runbook_hash");
      s.user = j.str("user");
      s.machine = j.str("machine");
      s.started_ms = j.num("started_ms") ? j.num("started_ms") : t;  // older journals: the record's time
      s.roles_at_start = {j.str("source"), j.str("target"), j.str("stale")};
      s.roles_now = s.roles_at_start;
    } else if (ev == "run_resumed") {
      s.finished = false;
    } else if (ev == "transition") {
      s.state = j.str("to");
    } else if (ev == "run_finished") {
      s.finished = true;
      s.state = j.str("status");
      s.exit_code = static_cast<int>(j.num("exit_code", -1));
      s.failed_phase = j.str("phase");
      s.failure = j.str("reason");
      s.rto = j.str("rto");
      s.rto_verdict = j.str("rto_verdict");
      s.rpo = j.str("rpo");
      s.rpo_verdict = j.str("rpo_verdict");
      s.data_loss = j.str("data_loss");
    } else if (ev == "roles_changed") {
      s.roles_now = {j.str("source"), j.str("target"), j.str("stale")};
    } else if (ev == "notice") {
      s.notices.push_back(j.str("reason"));
    }
  }
  s.duration_ms = s.last_ms > s.started_ms ? s.last_ms - s.started_ms : 0;
  return s;
}

RunState rebuild_state(const std::vector<Json>& records, const Roles& roles_now) {
  RunState st;
  st.roles = roles_now;
  // Per step: hosts in start order, and each host's last record.
  struct PerHost {
    bool started = false;
    std::string last;  // "started" or a finished status
    bool uncertain = false;
  };
  std::map<std::string, std::map<std::string, PerHost>> steps;
  std::map<std::string, std::vector<std::string>> host_order;
  std::vector<std::string> finish_order;
  std::set<std::string> masked;  // steps whose capture was a secret
  // (step, host, undo) -> the process of its latest attempt, while that
  // attempt is in flight or ended without its end seen (may_still_run).
  std::map<std::tuple<std::string, std::string, bool>, RunState::Process> processes;
  std::map<std::string, std::map<std::string, std::string>> undo_status;  // step -> host -> last status
  for (const Json& j : records) {
    const std::string ev = j.str("event");
    if (ev == "transition") {
      const std::string on = j.str("on");
      for (MachineEvent e : {MachineEvent::start, MachineEvent::phase_done, MachineEvent::step_failed,
                             MachineEvent::resume, MachineEvent::rollback, MachineEvent::rollback_done,
                             MachineEvent::abort})
        if (name(e) == on) st.machine_events.push_back(e);
      continue;
    }
    if (ev == "step_process") {
      const bool undo = j.flag("rollback");
      const auto key = std::make_tuple(j.str("step"), j.str("host"), undo);
      if (j.str("status") == "ended") processes.erase(key);  // the host said so
      else
        processes[key] = {j.str("step"), j.str("host"), static_cast<long>(j.num("pgid")), j.num("start_ticks"), undo,
                          j.flag("kill_failed")};
      continue;
    }
    if (ev != "step_started" && ev != "step_finished") continue;
    const std::string step = j.str("step"), host = j.str("host");
    // A new attempt reports its own process; an end that was seen ends it.
    const auto key = std::make_tuple(step, host, j.flag("rollback"));
    if (ev == "step_started" || !j.flag("may_still_run")) processes.erase(key);
    else if (auto p = processes.find(key); p != processes.end() && j.flag("kill_failed")) p->second.whole_group = true;
    if (j.flag("rollback")) {
      undo_status[step][host] = ev == "step_finished" ? j.str("status") : "started";
      st.undo_started = true;
      continue;
    }
    if (host.empty()) continue;  // Refused before it ran anywhere.
    PerHost& ph = steps[step][host];
    if (ev == "step_started") {
      // A new round of this step (first attempt): forget the old round.
      if (j.num("attempt") == 1 && !ph.started) host_order[step].push_back(host);
      ph.started = true;
      ph.last = "started";
    } else {
      ph.last = j.str("status");
      ph.uncertain = j.flag("uncertain");
      if (ph.last == "ok" && j.get("data_loss")) {
        Measured m;
        m.text = j.str("data_loss_text");
        if (j.str("data_loss") != "unknown") m.amount = parse_quantity(j.str("data_loss"));
        st.data_loss = m;
      }
      if (ph.last == "ok") {
        finish_order.erase(std::remove(finish_order.begin(), finish_order.end(), step), finish_order.end());
        finish_order.push_back(step);
        std::set<std::string> hidden;  // Journals of 0.1 have no list: a secret name said it.
        if (const JsonValue* m = j.get("masked_captures"); m && m->is_array())
          for (const auto& n : *m)
            if (n.is_string()) hidden.insert(n.get<std::string>());
        if (const JsonValue* caps = j.get("captures"); caps && caps->is_object())
          for (const auto& [k, v] : caps->items()) {
            const std::string value = v.is_string() ? v.get<std::string>() : std::string();
            // Masked, so never journaled as it was: its step must run again.
            if (hidden.count(k) || (is_secret_name(k) && value == "***")) {
              masked.insert(step);
              continue;
            }
            set_var(st.captures, k, value);
          }
      }
    }
  }
  for (const std::string& step : finish_order) {
    if (masked.count(step)) continue;
    bool all_ok = true;
    for (const auto& [host, ph] : steps[step]) all_ok = all_ok && ph.last == "ok";
    if (all_ok) st.done.push_back({step, host_order[step]});
  }
  auto done = [&](const std::string& id) {
    for (const DoneStep& d : st.done)
      if (d.id == id) return &d;
    return static_cast<const DoneStep*>(nullptr);
  };
  for (const auto& [key, p] : processes) {
    const bool undo = std::get<2>(key);
    const bool in_flight = undo ? undo_status[p.step][p.host] == "started" : steps[p.step][p.host].last == "started";
    (in_flight ? st.in_flight_processes : st.unsettled).push_back(p);
  }
  for (const auto& [step, hosts] : steps)
    for (const auto& [host, ph] : hosts) {
      if (ph.last == "started") st.in_flight.insert(step);
      if (ph.uncertain && !done(step)) st.uncertain.insert(step);
      // It ran and failed: it may have acted (a rollback undoes it too).
      if ((ph.last == "failed" || ph.last == "timed_out") && !done(step)) st.failed.insert(step);
    }
  // Undone only when its undo ran on every host the step ran on.
  for (const auto& [step, by_host] : undo_status) {
    bool all_ok = !by_host.empty();
    for (const auto& [host, status] : by_host) all_ok = all_ok && status == "ok";
    if (const DoneStep* d = done(step))
      for (const std::string& h : d->hosts) all_ok = all_ok && by_host.count(h);
    if (all_ok) st.undone.insert(step);
  }
  st.recapture = masked;
  return st;
}

std::string journal_path(const std::string& state_dir, const std::string& run_id) {
  return state_dir + "/runs/" + run_id + ".jsonl";
}

std::vector<std::string> list_runs(const std::string& state_dir) {
  std::vector<std::string> ids;
  DIR* d = ::opendir((state_dir + "/runs").c_str());
  if (!d) return ids;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    const std::string ext = ".jsonl";
    if (n.size() > ext.size() && n.compare(n.size() - ext.size(), ext.size(), ext) == 0)
      ids.push_back(n.substr(0, n.size() - ext.size()));
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());  // Ids start with a UTC timestamp.
  return ids;
}

}  // namespace baton
