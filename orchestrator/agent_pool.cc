#include "orchestrator/agent_pool.h"

#include <algorithm>

namespace baton {

AgentPool::AgentPool(Factory f, int parallel) : factory_(std::move(f)), parallel_(std::max(1, parallel)) {}

AgentPool::~AgentPool() { stop_early(); }

AgentPool::Slot& AgentPool::slot(const Host& h) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& s = slots_[h.label()];
  if (!s) s = std::make_unique<Slot>();
  return *s;
}

Agent& AgentPool::agent(const Host& h) {
  Slot& s = slot(h);
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.agent) s.agent = factory_(h);
  return *s.agent;
}

CommandResult AgentPool::run(const Host& h, const Command& c) {
  Slot& s = slot(h);
  const int seen = s.early.load();  // before waiting: was the early connect ours?
  std::lock_guard<std::mutex> lock(s.mu);  // One session per host, one user at a time.
  if (!s.agent) s.agent = factory_(h);
  const int now = s.early.exchange(none);  // still queued: this step connects itself
  if (now == failed && (seen == queued || seen == connecting)) {
    CommandResult r;
    r.error = s.early_error;
    return r;
  }
  if (c.before_start && !s.agent->stages_start()) {
    std::string why = c.before_start();
    if (const int stop = why.empty() && c.stop ? c.stop->load() : 0)  // asked to stop meanwhile
      why = not_started_by_stop(h.label(), stop);
    if (!why.empty()) {
      CommandResult r;
      r.error = why;
      r.not_started = true;
      return r;
    }
  }
  return s.agent->run(c);
}

void AgentPool::connect_early(const std::vector<const Host*>& hosts, OnConnected done) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (!workers_.empty() || stopping_) return;
  done_ = std::move(done);
  for (const Host* h : hosts) {
    if (h->is_local()) continue;
    if (std::find(queue_.begin(), queue_.end(), h) != queue_.end()) continue;
    slot(*h).early = queued;
    queue_.push_back(h);
  }
  const size_t n = std::min(queue_.size(), static_cast<size_t>(parallel_));
  for (size_t i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
}

void AgentPool::work() {
  for (;;) {
    const Host* h = nullptr;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (stopping_ || queue_.empty()) return;
      h = queue_.front();
      queue_.pop_front();
    }
    Slot& s = slot(*h);
    // A step holding the host connects on its own; so does one that came first.
    std::unique_lock<std::mutex> held(s.mu, std::try_to_lock);
    if (!held || s.early != queued) continue;
    if (!s.agent) s.agent = factory_(*h);
    Agent* a = s.agent.get();
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (stopping_) {
        s.early = none;
        return;
      }
      connecting_.insert(a);
    }
    s.early = connecting;
    Connected c;
    c.host = h;
    c.start = std::chrono::system_clock::now();
    c.error = a->probe();
    c.end = std::chrono::system_clock::now();
    c.attempts = a->connect_attempts();
    c.max_attempts = a->max_connect_attempts();
    s.early_error = c.error;
    s.early = c.error.empty() ? none : failed;
    held.unlock();
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      connecting_.erase(a);
    }
    if (done_) done_(c);
  }
}

void AgentPool::stop_early() {
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
    for (const Host* h : queue_) slot(*h).early = none;
    queue_.clear();
    for (Agent* a : connecting_) a->stop_connecting();
    ts.swap(workers_);
  }
  for (std::thread& t : ts) t.join();
}

}  // namespace baton
