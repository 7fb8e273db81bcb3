#include "orchestrator/probe.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <sstream>
#include <thread>

#include "orchestrator/events.h"
#include "orchestrator/executor.h"
#include "orchestrator/host_command.h"
#include "orchestrator/suggest.h"

namespace baton {
namespace {

constexpr size_t kMaxParallel = 16;  // As many connects at once as sshd takes well.

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string first_line(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  return {};
}

bool fact_key(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

}  // namespace

std::string_view name(DbRole r) {
  switch (r) {
    case DbRole::primary: return "primary";
    case DbRole::standby: return "standby";
    case DbRole::down: return "down";
    case DbRole::unknown: return "unknown";
  }
  return "unknown";
}

std::string HostProbe::describe() const {
  std::string out(name(role));
  std::string extra;
  for (const auto& [k, v] : facts) extra += (extra.empty() ? "" : ", ") + k + "=" + v;
  if (!detail.empty()) extra += (extra.empty() ? "" : "; ") + detail;
  if (!extra.empty()) out += " (" + extra + ")";
  return out;
}

HostProbe parse_probe(const Host& h, const CommandResult& r) {
  HostProbe p;
  p.host = h.label();
  p.site = h.site;
  p.took = r.duration;
  if (!r.error.empty()) {
    p.role = DbRole::down;
    p.detail = "unreachable: " + r.error;
    return p;
  }
  if (r.timed_out) {
    p.detail = "the probe timed out after " + format_duration(r.duration);
    return p;
  }
  std::istringstream words(r.out);
  std::string w;
  bool first = true;
  std::string text;
  while (words >> w) {
    if (first) {
      first = false;
      p.word = w;
      const std::string l = lower(w);
      p.role = l == "primary" ? DbRole::primary : l == "standby" ? DbRole::standby : l == "down" ? DbRole::down
                                                                                                   : DbRole::unknown;
      if (p.role != DbRole::unknown) continue;
    }
    size_t eq = w.find('=');
    if (eq != std::string::npos && fact_key(w.substr(0, eq))) p.facts.emplace_back(w.substr(0, eq), w.substr(eq + 1));
    else text += (text.empty() ? "" : " ") + w;
  }
  if (p.role == DbRole::unknown) {
    std::string why = p.word.empty() ? "printed no role" : "printed \"" + first_line(r.out).substr(0, 80) + "\"";
    if (r.exit_code != 0) why += ", exit code " + std::to_string(r.exit_code);
    std::string err = tail_lines(r.err, 2);
    if (!err.empty()) why += ": " + err;
    p.detail = why;
  } else if (!text.empty()) {
    p.detail = text;
  }
  return p;
}

std::vector<const HostProbe*> Observation::primaries() const {
  std::vector<const HostProbe*> out;
  for (const HostProbe& h : hosts)
    if (h.role == DbRole::primary) out.push_back(&h);
  return out;
}

std::optional<std::string> Observation::primary_site() const {
  auto p = primaries();
  if (p.size() != 1) return std::nullopt;
  return p[0]->site;
}

const HostProbe* Observation::find(const std::string& host) const {
  for (const HostProbe& h : hosts)
    if (h.host == host) return &h;
  return nullptr;
}

bool Observation::site_has(const std::string& site, DbRole role) const {
  for (const HostProbe& h : hosts)
    if (h.site == site && h.role == role) return true;
  return false;
}

std::string Observation::split_brain_text() const {
  auto p = primaries();
  std::string names;
  for (size_t i = 0; i < p.size(); ++i)
    names += (i == 0 ? "" : i + 1 == p.size() ? " and " : ", ") + p[i]->host;
  return "split brain: " + names + (p.size() == 2 ? " are both primary" : " are all primary");
}

std::string Observation::table(const std::string& indent) const {
  size_t width = 0;
  for (const HostProbe& h : hosts) width = std::max(width, h.host.size());
  std::string out;
  for (const HostProbe& h : hosts)
    out += indent + h.host + std::string(width - h.host.size() + 2, ' ') + h.describe() + "\n";
  return out;
}

Observation probe_hosts(const Runbook& rb, AgentPool& agents, const std::function<Vars(const Host&)>& vars_for) {
  Observation o;
  std::vector<std::pair<const Host*, ProbeSpec>> todo;
  for (const Site& s : rb.sites)
    for (const Host& h : s.hosts)
      if (auto spec = rb.probe_for(h)) todo.emplace_back(&h, *spec);
  o.probed = !todo.empty();
  o.hosts.resize(todo.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < todo.size();) {
      const auto& [h, spec] = todo[i];
      Command c = host_command(rb, *h, spec.run, vars_for(*h));
      c.timeout = spec.timeout;
      c.output_limit = 64 * 1024;
      o.hosts[i] = parse_probe(*h, agents.run(*h, c));
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < std::min(kMaxParallel, todo.size()); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return o;
}

RoleCheck check_roles(const Roles& stored, bool stored_exists, const Observation& o, const std::string& runbook_path) {
  RoleCheck c;
  c.roles = stored;
  if (!o.probed) {
    c.kind = RoleCheck::Kind::unprobed;
    return c;
  }
  const std::string seen = "\n" + o.table("  ");
  if (o.split_brain()) {
    c.kind = RoleCheck::Kind::split_brain;
    c.message = o.split_brain_text() + seen;
    return c;
  }
  std::optional<std::string> site = o.primary_site();
  if (!site) {
    c.kind = RoleCheck::Kind::no_primary;
    c.message = "no primary: no host says it is primary" + seen;
    return c;
  }
  const std::string& host = o.primaries()[0]->host;
  if (*site == stored.source) {
    c.kind = stored_exists ? RoleCheck::Kind::agree : RoleCheck::Kind::from_probe;
    if (!stored_exists)
      c.message = "no roles stored yet: the probe sees " + host + " primary, so " + stored.source +
                  " is the source and " + stored.target + " the target";
    return c;
  }
  if (*site == stored.target && !stored_exists) {
    c.kind = RoleCheck::Kind::from_probe;
    c.roles = Roles{stored.target, stored.source, ""};
    c.message = "no roles stored yet: the probe sees " + host + " primary, so " + c.roles.source +
                " is the source and " + c.roles.target + " the target (the runbook's [replication] says " +
                stored.source + ")";
    return c;
  }
  c.kind = RoleCheck::Kind::contradicts;
  c.message = "the stored roles say " + stored.source + " is the source, but the probe sees " + host +
              " primary:" + seen +
              "If that is right (another machine ran an operation, or someone repaired things by hand), "
              "record it with `baton adopt " + runbook_words(runbook_path) + " --source " + *site + "`";
  return c;
}

}  // namespace baton
