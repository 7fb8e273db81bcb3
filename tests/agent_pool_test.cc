// AgentPool: early connects in the background, several at a time; a step
// waits only for its own host, and gets its host's early failure.
#include "orchestrator/agent_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace baton {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How each host's connect behaves, and what happened.
struct World {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::chrono::milliseconds> connect_time;
  std::map<std::string, std::string> connect_error;
  std::map<std::string, int> probes, runs;
  int connecting = 0, most_at_once = 0;
  bool block_until_stopped = false;
};

class SlowAgent : public Agent {
 public:
  SlowAgent(World& w, std::string host) : w_(w), host_(std::move(host)) {}
  std::string probe() override {
    std::unique_lock<std::mutex> lock(w_.mu);
    ++w_.probes[host_];
    w_.most_at_once = std::max(w_.most_at_once, ++w_.connecting);
    const auto until = Clock::now() + w_.connect_time[host_];
    if (w_.block_until_stopped) w_.cv.wait(lock, [&] { return stopped_; });
    else w_.cv.wait_until(lock, until, [&] { return stopped_; });
    --w_.connecting;
    if (stopped_) return "stopped";
    connected_ = w_.connect_error[host_].empty();
    return w_.connect_error[host_];
  }
  CommandResult run(const Command&) override {
    if (!connected_ && probe() != "") {
      CommandResult r;
      r.error = "connected in the step, and failed";
      return r;
    }
    std::lock_guard<std::mutex> lock(w_.mu);
    ++w_.runs[host_];
    CommandResult r;
    r.exit_code = 0;
    return r;
  }
  int connect_attempts() const override { return 1; }
  int max_connect_attempts() const override { return 4; }
  void stop_connecting() override {
    std::lock_guard<std::mutex> lock(w_.mu);
    stopped_ = true;
    w_.cv.notify_all();
  }
  std::string describe() const override { return host_; }

 private:
  World& w_;
  std::string host_;
  bool connected_ = false;
  bool stopped_ = false;
};

std::vector<Host> hosts(int n) {
  std::vector<Host> v(n);
  for (int i = 0; i < n; ++i) {
    v[i].site = "dr";
    v[i].name = "h" + std::to_string(i);
    v[i].address = "10.0.0." + std::to_string(i + 1);
  }
  return v;
}

std::vector<const Host*> ptrs(const std::vector<Host>& v) {
  std::vector<const Host*> p;
  for (const Host& h : v) p.push_back(&h);
  return p;
}

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<AgentPool::Connected> list;
  AgentPool::OnConnected fn() {
    return [this](const AgentPool::Connected& c) {
      std::lock_guard<std::mutex> lock(mu);
      list.push_back(c);
      cv.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return list.size() >= n; });
  }
};

TEST(AgentPool, EarlyConnectsRunTogether) {
  World w;
  auto hs = hosts(6);
  for (const Host& h : hs) w.connect_time[h.label()] = 300ms;
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); });
  auto t0 = Clock::now();
  pool.connect_early(ptrs(hs), done.fn());
  ASSERT_TRUE(done.wait_for(6));
  EXPECT_LT(Clock::now() - t0, 1200ms);  // not 6 x 300 ms
  EXPECT_EQ(w.most_at_once, 6);
  for (const auto& c : done.list) {
    EXPECT_EQ(c.error, "");
    EXPECT_EQ(c.max_attempts, 4);
    EXPECT_GE(c.end - c.start, 250ms);
  }
  // The steps find their sessions open: no second connect.
  for (const Host& h : hs) EXPECT_EQ(pool.run(h, Command{}).exit_code, 0);
  for (const Host& h : hs) EXPECT_EQ(w.probes[h.label()], 1);
}

TEST(AgentPool, AtMostParallelAtOnceAndLocalHostsSkipped) {
  World w;
  auto hs = hosts(12);
  for (const Host& h : hs) w.connect_time[h.label()] = 50ms;
  hs[3].address = "local";
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); }, 4);
  pool.connect_early(ptrs(hs), done.fn());
  ASSERT_TRUE(done.wait_for(11));
  pool.stop_early();
  EXPECT_EQ(done.list.size(), 11u);
  EXPECT_EQ(w.most_at_once, 4);
  EXPECT_EQ(w.probes.count(hs[3].label()), 0u);
}

TEST(AgentPool, AStepWaitsOnlyForItsOwnHost) {
  World w;
  auto hs = hosts(2);
  w.connect_time[hs[0].label()] = 2000ms;
  w.connect_time[hs[1].label()] = 20ms;
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); });
  pool.connect_early(ptrs(hs), done.fn());
  auto t0 = Clock::now();
  EXPECT_EQ(pool.run(hs[1], Command{}).exit_code, 0);
  EXPECT_LT(Clock::now() - t0, 1000ms);
  EXPECT_EQ(w.probes[hs[1].label()], 1);
}

TEST(AgentPool, AStepThatWaitedGetsItsHostsEarlyFailure) {
  World w;
  auto hs = hosts(1);
  w.connect_time[hs[0].label()] = 300ms;
  w.connect_error[hs[0].label()] = "cannot connect to dr.h0 (10.0.0.1:22): Connection refused (tried 4 times)";
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); });
  pool.connect_early(ptrs(hs), done.fn());
  std::this_thread::sleep_for(50ms);  // under way
  CommandResult r = pool.run(hs[0], Command{});
  EXPECT_EQ(r.error, w.connect_error[hs[0].label()]);
  EXPECT_EQ(w.probes[hs[0].label()], 1);  // not connected twice
  EXPECT_FALSE(r.completed());
  // The next attempt (a retry of the step) connects again.
  pool.run(hs[0], Command{});
  EXPECT_EQ(w.probes[hs[0].label()], 2);
}

TEST(AgentPool, AnEarlyFailureLongBeforeTheStepIsForgotten) {
  World w;
  auto hs = hosts(1);
  w.connect_time[hs[0].label()] = 10ms;
  w.connect_error[hs[0].label()] = "cannot connect: Connection refused";
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); });
  pool.connect_early(ptrs(hs), done.fn());
  ASSERT_TRUE(done.wait_for(1));
  w.connect_error[hs[0].label()].clear();  // the host came back
  EXPECT_EQ(pool.run(hs[0], Command{}).exit_code, 0);
  EXPECT_EQ(w.probes[hs[0].label()], 2);
}

TEST(AgentPool, AStepBeforeItsHostsTurnConnectsItself) {
  World w;
  auto hs = hosts(2);
  w.connect_time[hs[0].label()] = 500ms;
  w.connect_time[hs[1].label()] = 10ms;
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); }, 1);
  pool.connect_early(ptrs(hs), done.fn());
  std::this_thread::sleep_for(50ms);
  auto t0 = Clock::now();
  EXPECT_EQ(pool.run(hs[1], Command{}).exit_code, 0);
  EXPECT_LT(Clock::now() - t0, 300ms);  // did not wait for the queue
  ASSERT_TRUE(done.wait_for(1));
  pool.stop_early();
  EXPECT_EQ(done.list.size(), 1u);  // the pool left hs[1] alone
  EXPECT_EQ(w.probes[hs[1].label()], 1);
}

TEST(AgentPool, StopEarlyAbandonsConnectsUnderWay) {
  World w;
  w.block_until_stopped = true;
  auto hs = hosts(3);
  Done done;  // Declared first: the pool's threads report to it until the pool ends.
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); }, 2);
  pool.connect_early(ptrs(hs), done.fn());
  std::this_thread::sleep_for(50ms);
  auto t0 = Clock::now();
  pool.stop_early();
  EXPECT_LT(Clock::now() - t0, 500ms);
  const size_t reported = done.list.size();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(done.list.size(), reported);  // nothing after stop_early returned
  EXPECT_EQ(w.probes.count(hs[2].label()), 0u);  // never begun
}

// An agent that does not stage the start (LocalAgent, say) gets the gate
// from the pool, before it runs anything: a refusal, or a stop that came
// while the start was recorded, and the agent never runs the command.
TEST(AgentPool, TheStartGateComesBeforeAnAgentThatDoesNotStageIt) {
  World w;
  auto hs = hosts(1);
  AgentPool pool([&](const Host& h) { return std::make_unique<SlowAgent>(w, h.label()); });
  const std::string label = hs[0].label();
  Command c;
  int gates = 0;
  c.before_start = [&] {
    ++gates;
    return std::string("cannot sync journal j: Input/output error");
  };
  CommandResult r = pool.run(hs[0], c);
  EXPECT_TRUE(r.not_started);
  EXPECT_EQ(r.error, "cannot sync journal j: Input/output error");
  EXPECT_EQ(w.runs[label], 0);
  std::atomic<int> stop{0};
  c.stop = &stop;
  c.before_start = [&] {
    ++gates;
    stop = 15;  // SIGTERM while the record was synced
    return std::string();
  };
  r = pool.run(hs[0], c);
  EXPECT_TRUE(r.not_started);
  EXPECT_NE(r.error.find("Baton was stopped by signal 15"), std::string::npos) << r.error;
  EXPECT_EQ(w.runs[label], 0);
  stop = 0;
  c.before_start = [&] {
    ++gates;
    return std::string();
  };
  EXPECT_EQ(pool.run(hs[0], c).exit_code, 0);
  EXPECT_EQ(w.runs[label], 1);
  EXPECT_EQ(gates, 3);
}

}  // namespace
}  // namespace baton
