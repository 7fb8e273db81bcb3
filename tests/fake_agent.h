// A scripted stand-in for an Agent: records every Command with the host it
// was sent to and answers from a test-supplied function. Thread-safe, since
// the executor runs hosts and groups in parallel.
#pragma once
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agents/agent.h"

namespace baton::testing {

struct FakeCall {
  std::string host;  // site.host label
  Command cmd;
  int attempt = 0;   // 1 for the first time this host saw this script
  std::chrono::steady_clock::time_point start, end;

  // The value of a variable as the command received it (last one wins, as in sh).
  std::optional<std::string> var(const std::string& name) const {
    std::optional<std::string> v;
    for (const auto& kv : cmd.vars)
      if (kv.first == name) v = kv.second;
    return v;
  }
};

inline CommandResult exited(int code, std::string out = {}, std::string err = {}) {
  CommandResult r;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

// Shared by every FakeAgent of a pool: one log of everything that ran.
class FakeWorld {
 public:
  // (host label, command, attempt) -> result. Default: exit 0, no output.
  using Responder = std::function<CommandResult(const std::string& host, const Command& cmd, int attempt)>;

  void respond(Responder r) {
    std::lock_guard<std::mutex> lock(mu_);
    responder_ = std::move(r);
  }
  // Convenience: answer by script text only.
  void respond_by_script(std::function<CommandResult(const std::string& script, int attempt)> f) {
    respond([f](const std::string&, const Command& c, int attempt) { return f(c.script, attempt); });
  }

  CommandResult run(const std::string& host, const Command& cmd) {
    Responder r;
    int attempt = 1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const FakeCall& c : calls_)
        if (c.host == host && c.cmd.script == cmd.script) ++attempt;
      r = responder_;
    }
    auto start = std::chrono::steady_clock::now();
    CommandResult res = r ? r(host, cmd, attempt) : exited(0);
    auto end = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({host, cmd, attempt, start, end});
    return res;
  }

  std::vector<FakeCall> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // The scripts that ran, in the order they finished.
  std::vector<std::string> scripts() const {
    std::vector<std::string> v;
    for (const FakeCall& c : calls()) v.push_back(c.cmd.script);
    return v;
  }
  // "script@host" for each call, in order.
  std::vector<std::string> where() const {
    std::vector<std::string> v;
    for (const FakeCall& c : calls()) v.push_back(c.cmd.script + "@" + c.host);
    return v;
  }
  std::vector<FakeCall> calls_of(const std::string& script) const {
    std::vector<FakeCall> v;
    for (const FakeCall& c : calls())
      if (c.cmd.script == script) v.push_back(c);
    return v;
  }

 private:
  mutable std::mutex mu_;
  Responder responder_;
  std::vector<FakeCall> calls_;
};

class FakeAgent : public Agent {
 public:
  FakeAgent(FakeWorld& world, std::string host) : world_(world), host_(std::move(host)) {}
  CommandResult run(const Command& cmd) override { return world_.run(host_, cmd); }
  std::string describe() const override { return "fake:" + host_; }

 private:
  FakeWorld& world_;
  std::string host_;
};

}  // namespace baton::testing
