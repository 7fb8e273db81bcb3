// One agent per host, made on first use. Steps on different hosts run in
// parallel; steps on one host take turns on its agent. At the start of a run
// the pool can open every host's session in the background, several at a
// time (connect_early), so that a step waits only for its own host.
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agents/agent.h"
#include "runbooks/model.h"

namespace baton {

class AgentPool {
 public:
  using Factory = std::function<std::unique_ptr<Agent>(const Host&)>;
  // What one early connect did.
  struct Connected {
    const Host* host = nullptr;
    std::chrono::system_clock::time_point start, end;
    std::string error;  // empty: the session is open
    int attempts = 0, max_attempts = 0;
  };
  using OnConnected = std::function<void(const Connected&)>;

  // `parallel`: early connects under way at once (at least 1).
  explicit AgentPool(Factory f, int parallel = 16);
  ~AgentPool();  // stop_early()
  AgentPool(const AgentPool&) = delete;
  AgentPool& operator=(const AgentPool&) = delete;

  // Runs on the host's agent, one command at a time per host. While the
  // host's early connect is under way it waits for it, and a failed one
  // is its result (CommandResult::error, the agent's own message).
  CommandResult run(const Host& h, const Command& c);
  Agent& agent(const Host& h);

  // Connects to `hosts` (first the first) in background threads, `parallel`
  // at a time; local hosts are skipped. `done` is called from those threads
  // after each connect. A host whose step comes before its turn connects in
  // that step instead; an early connect that failed before its host's step
  // came is forgotten, and the step connects again. Once per pool.
  void connect_early(const std::vector<const Host*>& hosts, OnConnected done);
  // Drops the early connects not begun, abandons those under way (about
  // 50 ms) and waits for the threads: no `done` call after it returns.
  void stop_early();

 private:
  enum Early { none, queued, connecting, failed };
  struct Slot {
    std::mutex mu;  // held while a command or the early connect runs
    std::unique_ptr<Agent> agent;
    std::atomic<int> early{none};
    std::string early_error;  // guarded by mu
  };
  Slot& slot(const Host& h);
  void work();

  Factory factory_;
  const int parallel_;
  std::mutex mu_;  // guards slots_
  std::map<std::string, std::unique_ptr<Slot>> slots_;

  std::mutex queue_mu_;  // guards the four below
  std::deque<const Host*> queue_;
  std::set<Agent*> connecting_;
  bool stopping_ = false;
  OnConnected done_;
  std::vector<std::thread> workers_;
};

}  // namespace baton
